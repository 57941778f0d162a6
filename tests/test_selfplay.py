"""The self-play worker without Ray: trajectories, value targets, weights switching, seeds and bounded queues."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from actors.inference import TorchNetwork
from actors.replay import Trajectory
from actors.search import SearchConfig, uniform_network
from actors.selfplay import (
    NO_WEIGHTS,
    SEED_LIMIT,
    SelfPlayConfig,
    SelfPlayWorker,
    difficulty_bucket,
    game_value_targets,
    split_slots,
)
from actors.tasks.config import TaskEntry, TasksConfig
from actors.tasks.registry import TaskMix
from actors.tasks.tictactoe import LINES
from learner.models import ModelConfig, build_model

TINY = ModelConfig(arch="trm", preset="tiny")
FAST_SEARCH = SearchConfig(num_simulations=8)
MIX = TasksConfig(
    [
        TaskEntry(kind="tictactoe", weight=1.0),
        TaskEntry(kind="sudoku", weight=1.0, difficulty=(0.0, 0.5), params={"size": 4}),
    ]
)
TICTACTOE = TasksConfig([TaskEntry(kind="tictactoe")])


class ListSink:
    """A plain buffer: keeps every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[list[Trajectory]] = []

    def add(self, trajectories: list[Trajectory]) -> dict:
        self.batches.append(list(trajectories))
        return {"positions": sum(t.num_positions for t in trajectories)}

    @property
    def trajectories(self) -> list[Trajectory]:
        return [t for batch in self.batches for t in batch]


def make_worker(tasks=MIX, sink=None, network=None, seed=0, **selfplay) -> SelfPlayWorker:
    config = SelfPlayConfig(**{"episodes_per_worker": 8, "push_positions": 64, **selfplay})
    return SelfPlayWorker(tasks, TINY, FAST_SEARCH, config, seed, 0, sink, network=network)


def state_dict_of_seed(tasks: TasksConfig, seed: int) -> dict[str, np.ndarray]:
    """Weights of a fresh tiny TRM for ``tasks``, drawn from ``seed``, as numpy arrays (what the learner publishes)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(TINY, [task.spec for task in TaskMix(tasks).tasks])
    return {name: value.numpy().copy() for name, value in model.state_dict().items()}


@pytest.fixture(autouse=True, scope="module")
def restore_torch_threads():
    """A worker sets the process's torch threads (its `threads` field); other test modules keep theirs."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mix_run():
    """A tiny TRM worker on tic-tac-toe + 4x4 Sudoku after a fixed number of turns."""
    sink = ListSink()
    worker = make_worker(sink=sink)
    stats = worker.play(0, None, seconds=600, rounds=40)
    return worker, sink, stats


# ----- pure helpers ---------------------------------------------------------------------------


def test_slots_follow_the_mix_weights_with_one_per_task_at_least():
    assert split_slots([2, 2, 2, 1, 1], 64) == [16, 16, 16, 8, 8]
    assert split_slots([1, 1, 1], 10) in ([4, 3, 3], [3, 4, 3], [3, 3, 4])
    assert split_slots([100, 1], 8) == [7, 1]
    assert split_slots([1, 1, 1], 2) == [1, 1, 1]  # more tasks than slots: one each
    assert split_slots([1, 0, 3], 8) == [2, 0, 6]
    with pytest.raises(ValueError):
        split_slots([0, 0], 4)


def test_game_value_targets_take_each_movers_view():
    to_play = np.array([0, 1, 0, 1, 0])
    # The terminal state has player 1 to move and lost (-1): player 0 made the last move and won.
    assert game_value_targets(-1.0, 1, to_play).tolist() == [1, -1, 1, -1, 1]
    assert game_value_targets(1.0, 0, to_play).tolist() == [1, -1, 1, -1, 1]
    assert game_value_targets(0.0, 1, to_play).tolist() == [0, 0, 0, 0, 0]
    assert game_value_targets(-1.0, 1, to_play).dtype == np.float32


def test_difficulty_buckets_are_quarters():
    assert [difficulty_bucket(d) for d in (0.0, 0.24, 0.25, 0.6, 0.99, 1.0)] == [0, 0, 1, 2, 3, 3]


def test_config_checks_its_constraints():
    fields = {f.name: f for f in dataclasses.fields(SelfPlayConfig)}
    assert fields["num_cpus"].metadata == {"min": 0.0, "exclusive_min": True}
    assert set(fields) == {
        "num_workers",
        "episodes_per_worker",
        "play_seconds",
        "push_positions",
        "max_pending_pushes",
        "num_cpus",
        "num_gpus",
        "threads",
        "device",
        "agent_share",
    }
    with pytest.raises(ValueError, match="selfplay.num_cpus"):
        SelfPlayConfig(num_cpus=0.0)
    with pytest.raises(ValueError, match="selfplay.max_pending_pushes"):
        SelfPlayConfig(max_pending_pushes=0)


# ----- trajectories ---------------------------------------------------------------------------


def test_trajectories_match_each_tasks_spec(mix_run):
    worker, sink, stats = mix_run
    tasks = TaskMix(MIX).tasks
    trajectories = sink.trajectories
    assert {t.task_id for t in trajectories} == {0, 1}
    assert stats["episodes"] == len(trajectories) and stats["positions"] == sum(t.num_positions for t in trajectories)
    for t in trajectories:
        spec = tasks[t.task_id].spec
        n = t.num_positions
        assert 1 <= n <= spec.max_steps
        assert t.tokens.shape == (n, spec.obs_length) and t.tokens.dtype == np.int64
        assert t.legal.shape == (n, spec.num_actions) and t.legal.dtype == np.bool_
        assert t.policy.shape == (n, spec.num_actions) and t.policy.dtype == np.float32
        assert t.value.shape == (n,) and t.value.dtype == np.float32
        assert (t.family, t.kind) == (spec.family, spec.kind)
        low, high = MIX.mix[t.task_id].difficulty
        assert low <= t.difficulty <= high
        assert t.weights_version == NO_WEIGHTS
        # Policies are distributions over the legal actions.
        assert np.allclose(t.policy.sum(axis=1), 1.0, atol=1e-5)
        assert (t.policy[~t.legal] == 0).all()
        assert ((t.tokens >= 0) & (t.tokens < spec.vocab_size)).all()
        t.checked_rows("test")  # the replay buffer accepts it


def test_the_encoded_positions_are_the_episodes_states(mix_run):
    """Each position's tokens and legal mask are those of a state reached by a legal move from the previous one."""
    _, sink, _ = mix_run
    for t in sink.trajectories:
        if t.kind != "tictactoe":
            continue
        empty = t.tokens == 1
        assert (empty == t.legal).all()  # before the end, legal moves are the empty cells
        assert (np.diff(empty.sum(axis=1)) == -1).all()  # one mark per move


def test_puzzle_values_are_the_outcome(mix_run):
    _, sink, stats = mix_run
    sudoku = [t for t in sink.trajectories if t.kind == "sudoku"]
    assert sudoku
    for t in sudoku:
        assert t.outcome in (0.0, 1.0)
        assert t.success == (t.outcome == 1.0)
        assert (t.value == t.outcome).all()
    solved = sum(t.success for t in sudoku)
    by_bucket = stats["by_task"]["sudoku"]
    assert sum(b["episodes"] for b in by_bucket.values()) == len(sudoku)
    assert sum(b["success"] * b["episodes"] for b in by_bucket.values()) == pytest.approx(solved)


def completes_a_line(tokens: np.ndarray, mark: int) -> bool:
    """Whether some empty cell (token 1) of a tic-tac-toe board ``tokens [9]`` completes a line of ``mark``."""
    for cell in np.flatnonzero(tokens == 1):
        board = tokens.copy()
        board[cell] = mark
        if (board[LINES] == mark).all(axis=1).any():
            return True
    return False


def test_tictactoe_values_follow_the_sign_rules():
    """Won games: the winner's positions +1, the loser's -1; draws: all 0 (checked from the boards alone)."""
    sink = ListSink()
    worker = make_worker(TICTACTOE, sink, network=uniform_network(9), episodes_per_worker=16)
    stats = worker.play(0, None, seconds=600, rounds=60)
    games = sink.trajectories
    wins = draws = 0
    for t in games:
        marks = (t.tokens != 1).sum(axis=1)
        mover = marks % 2  # the absolute player to move: player 0 moves when the number of marks is even
        last = t.tokens[-1]
        if t.outcome == 0:
            draws += 1
            assert (last == 1).sum() == 1 and not completes_a_line(last, 2)  # the last move filled the board
            assert (t.value == 0).all()
            assert not t.success
        else:
            wins += 1
            assert completes_a_line(last, 2)  # the last mover could (and did) complete a line
            winner = mover[-1]
            assert (t.value[mover == winner] == 1).all() and (t.value[mover != winner] == -1).all()
            assert t.outcome == (1.0 if winner == 0 else -1.0)  # recorded from player 0's view
            assert t.success == (winner == 0)
    assert wins > 0 and draws > 0
    rates = stats["by_task"]["tictactoe"]
    assert sum(b["episodes"] for b in rates.values()) == len(games)
    for bucket in rates.values():
        assert bucket["win"] + bucket["draw"] + bucket["loss"] == pytest.approx(1.0)


def test_episodes_are_reproducible_from_the_seed():
    """With a network whose rows do not depend on the batch, the same seed plays the same episodes."""
    runs = []
    for _ in range(2):
        sink = ListSink()
        make_worker(TICTACTOE, sink, network=uniform_network(9), seed=3).play(0, None, seconds=600, rounds=12)
        runs.append(sink.trajectories)
    assert len(runs[0]) == len(runs[1]) > 0
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.policy, b.policy)
        assert (a.difficulty, a.outcome) == (b.difficulty, b.outcome)


def test_a_resumed_run_draws_new_instances():
    """The instance stream is seeded from [seed, resumes, worker]: after a resume the workers do not
    replay the instances the run played before it (same seed and worker index, new resume count)."""

    def first_instances(resumes: int) -> list[int]:
        config = SelfPlayConfig(episodes_per_worker=8)
        network = uniform_network(9)
        worker = SelfPlayWorker(TICTACTOE, TINY, FAST_SEARCH, config, 3, 0, None, resumes=resumes, network=network)
        return worker.groups[0].seeds.tolist()

    assert first_instances(0) == first_instances(0)  # reproducible for one resume count
    assert not set(first_instances(0)) & set(first_instances(1)) & set(first_instances(2))
    assert not set(first_instances(0)) & set(first_instances(1))


def test_self_play_seeds_stay_below_the_held_out_range(monkeypatch):
    seen: list[int] = []
    worker = make_worker(TICTACTOE, network=uniform_network(9), seed=2**40 + 5)
    task = worker.groups[0].task
    generate = task.generate

    def spy(seed: int, difficulty: float) -> np.ndarray:
        seen.append(seed)
        return generate(seed, difficulty)

    monkeypatch.setattr(task, "generate", spy)
    worker.play(0, None, seconds=600, rounds=30)
    assert len(seen) > 8
    assert all(0 <= s < SEED_LIMIT for s in seen)
    assert (worker.groups[0].seeds < SEED_LIMIT).all()


def test_short_calls_starve_no_task():
    """Calls shorter than one turn still move every group in turn."""
    worker = make_worker(MIX, network=uniform_network(64))
    for _ in range(2 * len(worker.groups)):
        stats = worker.play(0, None, seconds=1e-9)
        assert stats["moves"] > 0
    assert all(group.search.network_calls > 0 for group in worker.groups)


# ----- weights --------------------------------------------------------------------------------


def test_new_weights_are_loaded_once_per_version_and_change_the_outputs():
    sink = ListSink()
    worker = make_worker(sink=sink)
    tokens = np.stack([TaskMix(MIX).tasks[0].encode(worker.groups[0].search.root_states)[0]] * 2)
    task_ids = np.zeros(2, dtype=np.int64)
    initial_logits, _ = worker.network(tokens, task_ids)

    weights = {1: state_dict_of_seed(MIX, 101), 2: state_dict_of_seed(MIX, 202)}
    expected = {}
    for version, state_dict in weights.items():
        reference = build_model(TINY, [task.spec for task in TaskMix(MIX).tasks])
        reference.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict.items()})
        expected[version] = TorchNetwork(reference)(tokens, task_ids)

    worker.play(0, None, seconds=600, rounds=3)  # episodes are under way when the weights change
    stats = worker.play(1, [weights[1]], seconds=600, rounds=1)
    assert stats["weights_version"] == 1 and stats["weights_loads"] == 1 and stats["weights_lag"] == 1 - NO_WEIGHTS
    logits, value = worker.network(tokens, task_ids)
    assert not np.allclose(logits, initial_logits)
    assert np.allclose(logits, expected[1][0], atol=1e-5) and np.allclose(value, expected[1][1], atol=1e-5)

    stats = worker.play(1, [weights[1]], seconds=600, rounds=20)  # same version: nothing loaded
    assert stats["weights_loads"] == 1 and stats["weights_lag"] == 0
    assert worker.stats()["stale_positions"] > 0  # episodes running at the switch made moves with the old weights

    stats = worker.play(2, weights[2], seconds=600, rounds=1)  # a plain state dict works too
    assert stats["weights_version"] == 2 and stats["weights_loads"] == 2
    assert np.allclose(worker.network(tokens, task_ids)[0], expected[2][0], atol=1e-5)

    stats = worker.play(3, None, seconds=600, rounds=1)  # no weights: keep the network and its version
    assert stats["weights_version"] == 2 and stats["weights_lag"] == 1 and stats["weights_loads"] == 2

    versions = [t.weights_version for t in sink.trajectories]
    assert versions == sorted(versions) and set(versions) <= {NO_WEIGHTS, 1, 2}
    assert 1 in versions


# ----- pushes and bounds ----------------------------------------------------------------------


def test_pushes_come_in_batches_and_the_queue_stays_bounded():
    sink = ListSink()
    worker = make_worker(TICTACTOE, sink, network=uniform_network(9), episodes_per_worker=16, push_positions=40)
    for _ in range(3):
        stats = worker.play(0, None, seconds=600, rounds=15)
        assert stats["queued_positions"] == 0  # the end of a call pushes what is queued
        assert stats["pushes_in_flight"] == 0  # a plain buffer is called directly
    sizes = [sum(t.num_positions for t in batch) for batch in sink.batches]
    assert len(sizes) >= 3
    assert max(sizes) <= worker.queue_bound
    assert worker.stats()["max_queued_positions"] <= worker.queue_bound == 40 - 1 + 16 * 9
    totals = worker.stats()
    assert sum(sizes) == totals["positions"] == totals["pushed_positions"] == totals["acked_positions"]
    assert worker.flush() == 0


def test_flush_pushes_what_is_queued():
    sink = ListSink()
    worker = make_worker(TICTACTOE, sink, network=uniform_network(9), push_positions=10_000)
    worker._turn(worker.groups[0])  # below the push threshold, outside a play call
    for _ in range(20):
        worker._turn(worker.groups[0])
    queued = worker.queued_positions
    assert queued > 0 and not sink.batches
    assert worker.flush() == queued
    assert sum(t.num_positions for t in sink.trajectories) == queued and worker.queued_positions == 0


def test_statistics_describe_the_call(mix_run):
    worker, _, stats = mix_run
    for key in ("episodes_per_s", "positions_per_s", "simulations_per_s", "network_share", "rss_bytes", "seconds"):
        assert stats[key] > 0, key
    assert stats["moves"] >= stats["positions"] - worker.num_slots * 16  # every position came from a move
    assert 0 < stats["network_share"] <= 1
    # Proofs stop some searches early: at most the budget per move.
    assert 0 < stats["simulations_per_s"] * stats["seconds"] <= stats["moves"] * 8 + 1e-6
    assert stats["weights_version"] == NO_WEIGHTS and stats["weights_lag"] == 0 - NO_WEIGHTS
    cumulative = worker.stats()
    assert cumulative["episodes"] == stats["episodes"] and set(cumulative["by_task"]) == {"tictactoe", "sudoku"}


def test_each_task_is_searched_with_its_own_settings():
    tasks = TasksConfig([TaskEntry(kind="tictactoe"), TaskEntry(kind="countdown", search={"algorithm": "gumbel"})])
    worker = make_worker(tasks, network=uniform_network(120))
    assert [group.search.config.algorithm for group in worker.groups] == ["puct", "gumbel"]
    stats = worker.play(0, None, seconds=600, rounds=3)
    assert stats["episodes"] > 0
