"""Learner checkpoints on real files: the newest two are kept, a damaged newest one falls back to the
previous one (one warning), none loading is one clear error, and a crash at any moment of a save
leaves a checkpoint that loads."""

from __future__ import annotations

import json
import logging
import pathlib
from pathlib import Path

import pytest

from learner import checkpoint
from learner.checkpoint import MANIFEST, PREVIOUS_MANIFEST, CheckpointError
from learner.models import ModelConfig
from tests.test_learner import filled_buffer, make_learner, weights_equal


@pytest.fixture(scope="module")
def buffer():
    return filled_buffer()


def save_at_steps(learner, directory: Path, steps: list[int]) -> dict[int, dict]:
    """Train up to each of ``steps`` and checkpoint there; returns {step: {"summary": ..., "weights": ...}}."""
    saved = {}
    for step in steps:
        if step > learner.step:
            learner.train(max_steps=step - learner.step)
        summary = learner.save_checkpoint(directory)
        assert summary["step"] == step
        saved[step] = {"summary": summary, "weights": learner.get_weights(ema=False)}
    return saved


def checkpoint_files(summary: dict) -> set[str]:
    """The files of one checkpoint: its tensor files and the .json description beside each model file."""
    names = set(summary["files"])
    return names | {name.replace(".safetensors", ".json") for name in names if not name.startswith("state-")}


def manifest_step(directory: Path, name: str) -> int:
    return json.loads((directory / name).read_text())["counters"]["step"]


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def newest_file(directory: Path, kind: str) -> Path:
    return directory / json.loads((directory / MANIFEST).read_text())["files"][kind]


# ----- keeping two -------------------------------------------------------------------------------


def test_the_newest_two_checkpoints_are_kept_and_older_ones_deleted(tmp_path, buffer):
    learner = make_learner(buffer)
    saved = save_at_steps(learner, tmp_path, [0])
    # The first save looks like every earlier run's directory: one manifest, one checkpoint.
    assert {p.name for p in tmp_path.iterdir()} == {MANIFEST} | checkpoint_files(saved[0]["summary"])
    saved |= save_at_steps(learner, tmp_path, [1, 2, 3])
    two = checkpoint_files(saved[3]["summary"]) | checkpoint_files(saved[2]["summary"])
    assert {p.name for p in tmp_path.iterdir()} == {MANIFEST, PREVIOUS_MANIFEST} | two
    assert manifest_step(tmp_path, MANIFEST) == 3 and manifest_step(tmp_path, PREVIOUS_MANIFEST) == 2

    summary = make_learner(buffer, seed=7).load_checkpoint(tmp_path)
    assert summary["step"] == 3 and summary["manifest"] == MANIFEST
    assert summary["fell_back"] is False and summary["lost_steps"] == 0 and summary["problems"] == []
    assert summary["loaded"] in saved[3]["summary"]["files"][0]


# ----- falling back ------------------------------------------------------------------------------


def damage_model_file(directory: Path) -> str:
    path = newest_file(directory, "model")
    truncate(path)
    return path.name


def damage_ema_file(directory: Path) -> str:
    path = newest_file(directory, "ema")
    truncate(path)
    return path.name


def remove_state_file(directory: Path) -> str:
    path = newest_file(directory, "state")
    path.unlink()
    return path.name


def break_manifest_json(directory: Path) -> str:
    path = directory / MANIFEST
    path.write_text(path.read_text()[:40])
    return MANIFEST


@pytest.mark.parametrize(
    "damage, reason",
    [
        (damage_model_file, "not a readable safetensors file"),
        (damage_ema_file, "not a readable safetensors file"),
        (remove_state_file, "no such checkpoint file"),
        (break_manifest_json, "not valid JSON"),
    ],
)
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, buffer, caplog, damage, reason):
    saved = save_at_steps(make_learner(buffer), tmp_path, [1, 3])
    damaged = damage(tmp_path)

    resumed = make_learner(buffer, seed=7)
    with caplog.at_level(logging.WARNING, logger="learner.checkpoint"):
        summary = resumed.load_checkpoint(tmp_path)
    assert summary["step"] == resumed.step == 1 and summary["manifest"] == PREVIOUS_MANIFEST
    assert summary["fell_back"] is True and summary["lost_steps"] == 2  # from the file names if the JSON is broken
    assert summary["files"] == saved[1]["summary"]["files"]
    assert summary["samples_trained"] == saved[1]["summary"]["samples_trained"]
    assert weights_equal(resumed.get_weights(ema=False), saved[1]["weights"])
    [problem] = summary["problems"]
    assert damaged in problem and reason in problem and "\n" not in problem

    [warning] = [r for r in caplog.records if r.name == "learner.checkpoint"]
    message = warning.getMessage()
    assert warning.levelno == logging.WARNING and "\n" not in message
    assert damaged in message and reason in message and PREVIOUS_MANIFEST in message and "2 step(s) lost" in message

    resumed.train(max_steps=1)  # and training goes on from there
    assert resumed.step == 2


def test_a_newest_checkpoint_of_another_network_falls_back_to_the_previous_one(tmp_path, buffer):
    save_at_steps(make_learner(buffer), tmp_path, [1])
    wider = make_learner(buffer, model=ModelConfig(arch="trm", preset="tiny", hidden_size=32, num_heads=2))
    wider.save_checkpoint(tmp_path)  # step 0 of another shape is now the newest

    summary = make_learner(buffer).load_checkpoint(tmp_path)
    assert summary["step"] == 1 and summary["fell_back"] and summary["lost_steps"] == 0
    assert "has shape" in summary["problems"][0]


# ----- nothing loads -----------------------------------------------------------------------------


def test_when_neither_checkpoint_loads_one_error_names_the_directory_and_each_problem(tmp_path, buffer):
    saved = save_at_steps(make_learner(buffer), tmp_path, [1, 2])
    models = [tmp_path / name for s in saved.values() for name in s["summary"]["files"] if name.startswith("model-")]
    for path in models:
        truncate(path)

    learner = make_learner(buffer, seed=7)
    before = learner.get_weights(ema=False)
    with pytest.raises(CheckpointError) as caught:
        learner.load_checkpoint(tmp_path)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError) and "\n" not in message
    assert message.startswith(f"{tmp_path}: no learner checkpoint loads: ")
    assert all(path.name in message for path in models)
    assert weights_equal(learner.get_weights(ema=False), before) and learner.step == 0  # nothing was changed


def test_a_learner_given_checkpoints_that_do_not_load_refuses_to_train_or_overwrite_them(tmp_path, buffer):
    from learner.learner import Learner
    from tests.test_learner import SUDOKU, TINY_TRM, learner_config

    saved = save_at_steps(make_learner(buffer), tmp_path, [1, 2])
    for summary in (s["summary"] for s in saved.values()):
        truncate(tmp_path / next(name for name in summary["files"] if name.startswith("model-")))
    files = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    # As Ray builds it, also on a restart: the constructor keeps the error, every call raises it.
    learner = Learner(TINY_TRM, learner_config(), [SUDOKU.spec], buffer, seed=0, checkpoint_dir=str(tmp_path))
    for call in (learner.get_restored, lambda: learner.train(max_steps=1), lambda: learner.save_checkpoint(tmp_path)):
        with pytest.raises(CheckpointError, match="no learner checkpoint loads"):
            call()
    assert learner.step == 0 and {path.name: path.read_bytes() for path in tmp_path.iterdir()} == files


def test_a_single_damaged_checkpoint_says_there_is_nothing_to_fall_back_on(tmp_path, buffer):
    save_at_steps(make_learner(buffer), tmp_path, [1])
    damage_model_file(tmp_path)
    with pytest.raises(CheckpointError, match=f"{PREVIOUS_MANIFEST}: no such file \\(nothing older to fall back on\\)"):
        make_learner(buffer).load_checkpoint(tmp_path)


# ----- a crash at any moment of a save -----------------------------------------------------------


class Crash(BaseException):
    """The process dying: nothing after it runs, not even `except Exception` handlers."""


class CrashAt:
    """Wraps the file operations of a save; the ``at``-th one (0-based) leaves a torn temporary file and crashes."""

    def __init__(self, monkeypatch, directory: Path, at: int) -> None:
        self.directory, self.at, self.count, self.done = directory, at, 0, []
        for name in ("write_tensors", "atomic_write_bytes", "atomic_write_json"):
            monkeypatch.setattr(checkpoint, name, self.wrap(getattr(checkpoint, name)))
        monkeypatch.setattr(pathlib.Path, "unlink", self.wrap(pathlib.Path.unlink))

    def wrap(self, operation):
        def run(path, *args, **kwargs):
            if self.count == self.at:
                (self.directory / ".tmp-crashed").write_bytes(b"half a file")
                raise Crash
            self.count += 1
            result = operation(path, *args, **kwargs)
            self.done.append(Path(path).name)
            return result

        return run


def test_a_crash_at_any_moment_of_a_save_leaves_a_checkpoint_that_loads(tmp_path, buffer):
    at = 0
    while True:
        directory = tmp_path / f"crash-{at}"
        learner = make_learner(buffer)
        save_at_steps(learner, directory, [1, 2])
        learner.train(max_steps=1)
        with pytest.MonkeyPatch.context() as monkeypatch:
            crash = CrashAt(monkeypatch, directory, at)
            try:
                learner.save_checkpoint(directory)
            except Crash:
                pass
            else:
                break  # past the save's last operation
        expected = 3 if MANIFEST in crash.done else 2
        summary = make_learner(buffer, seed=7).load_checkpoint(directory)
        assert (summary["step"], summary["fell_back"]) == (expected, False), f"crash at operation {at}: {crash.done}"

        # The next save removes what the crash left behind and keeps two checkpoints.
        save_at_steps(learner, directory, [4])
        names = {p.name for p in directory.iterdir()}
        assert not [name for name in names if name.startswith(".tmp-")]
        assert len([name for name in names if name.startswith("model-") and name.endswith(".safetensors")]) == 2
        assert manifest_step(directory, MANIFEST) == 4 and manifest_step(directory, PREVIOUS_MANIFEST) == expected
        at += 1
    assert at >= 10  # five checkpoint files, two manifests, then the deletions: every one was a crash point
