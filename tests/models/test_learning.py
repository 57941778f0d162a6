"""Supervised learning on 4x4 Sudoku solver demonstrations: each tiny model learns to solve held-out puzzles.

Demonstrations: for each training puzzle, the states along its solution (cells
filled in a random order), each with the policy target of the exact solver's
choice: the solver branches on the most constrained empty cell, so the target is
uniform over the placements in the cells with the fewest legal digits, each with
its solution digit (in these unique puzzles a cell with one legal digit is a
forced, correct placement), and value target 1 (the state is solvable).

Training is `deep_supervision_step` with one segment per batch (the tiny
presets' inference budget; deep supervision over several segments and halting
are tested in test_halting), AdamW with warm-up and cosine decay, a fixed number
of batches (the test never looks at the clock).

Exact-solve rate: the fraction of held-out puzzles (new seeds, difficulty
uniform in [0, 1], none in the training set) fully solved by greedy rollout of
the masked policy, one placement per step from the puzzle's start; chance is the
same rollout choosing uniformly among legal placements. Also reported: the rate
on minimal puzzles (difficulty 1, as many blanks as uniqueness allows), where a
random legal rollout rarely succeeds.
"""

import math

import numpy as np
import pytest
import torch

from actors.tasks.sudoku import Sudoku
from learner.losses import TrainingBatch, deep_supervision_step
from learner.models import ModelConfig, build_model

TRAIN_PUZZLES, TEST_PUZZLES = 2500, 200
ITERATIONS, BATCH, LEARNING_RATE, WARMUP = 600, 64, 3e-3, 50


def demonstrations(task: Sudoku, seeds: range, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    cells, size = task.cells, task.size
    states, targets = [], []
    for seed in seeds:
        state = task.generate(seed, float(rng.uniform()))
        actions = task.solve(state)
        solution = task.play(state, actions)[cells : 2 * cells]
        for action in rng.permutation(actions):
            empty = np.flatnonzero(state[cells : 2 * cells] == 0)
            candidates = task.legal_mask(state[None])[0].reshape(cells, size).sum(axis=1)[empty]
            chosen = empty[candidates == candidates.min()]
            target = np.zeros(task.spec.num_actions, dtype=np.float32)
            target[chosen * size + solution[chosen] - 1] = 1.0 / len(chosen)
            states.append(state)
            targets.append(target)
            state = task.step(state[None], np.array([action]))[0]
    return np.array(states), np.array(targets)


def greedy_solve_rate(task: Sudoku, puzzles: np.ndarray, choose) -> float:
    states = puzzles.copy()
    for _ in range(task.spec.max_steps):
        running = np.flatnonzero(~task.is_terminal(states))
        if len(running) == 0:
            break
        legal = task.legal_mask(states[running])
        states[running] = task.step(states[running], choose(states[running], legal))
    return float(task.outcome(states).mean())


def policy_chooser(task: Sudoku, model: torch.nn.Module):
    def choose(states: np.ndarray, legal: np.ndarray) -> np.ndarray:
        tokens = torch.from_numpy(task.encode(states))
        with torch.inference_mode():
            logits = model(tokens, torch.zeros(len(states), dtype=torch.int64)).policy_logits[:, : legal.shape[1]]
        return logits.masked_fill(~torch.from_numpy(legal), -torch.inf).argmax(dim=1).numpy()

    return choose


@pytest.fixture(scope="module")
def sudoku_data():
    task = Sudoku(size=4)
    rng = np.random.default_rng(0)
    states, targets = demonstrations(task, range(TRAIN_PUZZLES), rng)
    seen = {tuple(s[: task.cells]) for s in states}
    test = [task.generate(100_000 + i, float(rng.uniform())) for i in range(2 * TEST_PUZZLES)]
    test = np.array([p for p in test if tuple(p[: task.cells]) not in seen][:TEST_PUZZLES])
    hard = np.array([task.generate(200_000 + i, 1.0) for i in range(TEST_PUZZLES)])  # minimal puzzles
    random_choice = np.random.default_rng(1)

    def chance(states, legal):
        return np.array([random_choice.choice(np.flatnonzero(row)) for row in legal])

    return {
        "task": task,
        "tokens": torch.from_numpy(task.encode(states)),
        "legal": torch.from_numpy(task.legal_mask(states)),
        "targets": torch.from_numpy(targets),
        "test": test,
        "hard": hard,
        "chance": greedy_solve_rate(task, test, chance),
        "chance_hard": greedy_solve_rate(task, hard, chance),
    }


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["trm", "hrm"])
def test_tiny_model_learns_to_solve_held_out_sudoku(arch, sudoku_data):
    task, data = sudoku_data["task"], sudoku_data
    model = build_model(ModelConfig(arch=arch, preset="tiny"), [task.spec])
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.95), weight_decay=0.01)

    def schedule(step: int) -> float:
        return min(1.0, (step + 1) / WARMUP) * (
            0.1 + 0.45 * (1 + math.cos(math.pi * min(step, ITERATIONS) / ITERATIONS))
        )

    rng = torch.Generator().manual_seed(0)
    curve = []
    for iteration in range(1, ITERATIONS + 1):
        for group in optimizer.param_groups:
            group["lr"] = LEARNING_RATE * schedule(iteration - 1)
        rows = torch.randint(0, len(data["tokens"]), (BATCH,), generator=rng)
        batch = TrainingBatch(
            tokens=data["tokens"][rows],
            task_ids=torch.zeros(BATCH, dtype=torch.int64),
            legal_mask=data["legal"][rows],
            policy_target=data["targets"][rows],
            value_target=torch.ones(BATCH),
        )
        metrics = deep_supervision_step(model, batch, optimizer, max_segments=1, generator=rng)
        if iteration % (ITERATIONS // 3) == 0:
            model.eval()
            rate = greedy_solve_rate(task, data["test"], policy_chooser(task, model))
            model.train()
            curve.append((iteration, round(metrics["policy_loss"], 3), round(rate, 3)))
    model.eval()
    solved = curve[-1][-1]
    hard = greedy_solve_rate(task, data["hard"], policy_chooser(task, model))
    print(
        f"\n{arch} tiny: (batches, batch policy loss, held-out exact-solve) {curve}; "
        f"held-out exact-solve {solved:.3f} (chance {data['chance']:.3f}); "
        f"minimal puzzles {hard:.3f} (chance {data['chance_hard']:.3f})"
    )
    assert solved >= data["chance"] + 0.1
    assert hard >= max(0.15, 3 * data["chance_hard"])
