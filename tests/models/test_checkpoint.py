"""Checkpoints: identical outputs after a round trip, clear errors on a mismatch, atomic writes, no pickle."""

import json
from pathlib import Path

import pytest
import torch

from learner.checkpoint import CheckpointError, load_checkpoint, load_model, read_metadata, save_checkpoint
from learner.models import TaskShape, build_model
from tests.models.conftest import POOLED, SUDOKU4, small_config


@pytest.mark.parametrize("arch,mixer", [("hrm", False), ("trm", False), ("trm", True)])
def test_round_trip_gives_identical_outputs(tmp_path: Path, arch, mixer):
    model = build_model(small_config(arch, mlp_mixer=mixer, inference_steps=2), [SUDOKU4, POOLED]).eval()
    path = save_checkpoint(tmp_path / "ckpt.safetensors", model, extra={"step": 7})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.json", "ckpt.safetensors"]  # no temp files left
    sidecar = json.loads((tmp_path / "ckpt.json").read_text())
    assert sidecar == read_metadata(path)
    assert sidecar["arch"] == arch and sidecar["preset"] == "tiny" and sidecar["extra"] == {"step": 7}
    assert sidecar["tasks"][1] == {"obs_length": 9, "vocab_size": 5, "num_actions": 7, "actions_per_token": 0}

    tokens, task_ids = torch.randint(1, 5, (4, 16)), torch.tensor([0, 1, 0, 1])
    tokens[task_ids == 1, 9:] = 0
    restored = load_model(path)  # built from the metadata alone
    other = build_model(small_config(arch, mlp_mixer=mixer, inference_steps=2), [SUDOKU4, POOLED]).eval()
    load_checkpoint(path, other)
    with torch.no_grad():
        expected = model(tokens, task_ids)
        for loaded in (restored, other):
            got = loaded(tokens, task_ids)
            assert torch.equal(got.policy_logits, expected.policy_logits)
            assert torch.equal(got.value, expected.value) and torch.equal(got.halt_logits, expected.halt_logits)


def test_mismatched_checkpoint_names_the_file_and_the_tensors(tmp_path: Path):
    path = save_checkpoint(tmp_path / "ckpt.safetensors", build_model(small_config("trm"), [SUDOKU4]))
    nine_per_cell = TaskShape(obs_length=16, vocab_size=6, num_actions=144, actions_per_token=9)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, build_model(small_config("trm"), [nine_per_cell]))
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert "tensor 'heads.policy.0.weight' has shape [4, 32], the model expects [9, 32]" in message

    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, build_model(small_config("trm", num_layers=3), [SUDOKU4, POOLED]))
    message = str(error.value)
    assert "tensor 'task_embedding.weight' has shape [1, 32], the model expects [2, 32]" in message
    assert "missing tensors: 'heads.policy.1.weight', 'heads.value.1.weight'" in message
    assert "'net.blocks.2.attention.qkv.weight'" in message

    with pytest.raises(CheckpointError, match="checkpoint is a 'trm' model, the model is 'hrm'"):
        load_checkpoint(path, build_model(small_config("hrm"), [SUDOKU4]))

    fewer = build_model(small_config("trm", num_layers=1), [SUDOKU4])
    with pytest.raises(CheckpointError, match=r"unexpected tensors: 'net\.blocks\.1\."):
        load_checkpoint(path, fewer)


def test_unreadable_files_give_clear_errors(tmp_path: Path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_model(tmp_path / "absent.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        read_metadata(garbage)
    pickle_file = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(2)}, pickle_file)  # a pickle is never opened as one
    with pytest.raises(CheckpointError, match="model.pt"):
        load_model(pickle_file)


def test_overwrite_replaces_the_checkpoint(tmp_path: Path):
    path = tmp_path / "ckpt.safetensors"
    first = build_model(small_config("hrm"), [SUDOKU4])
    second = build_model(small_config("hrm"), [SUDOKU4])
    save_checkpoint(path, first)
    save_checkpoint(path, second, extra={"step": 2})
    loaded = load_model(path)
    assert torch.equal(loaded.heads.policy[0].weight, second.heads.policy[0].weight)
    assert read_metadata(path)["extra"] == {"step": 2}
    assert len(list(tmp_path.iterdir())) == 2
