"""Checkpoints: identical outputs after a round trip, clear errors on a mismatch, atomic writes, no pickle."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from common.tensorfile import TensorFileError, read_tensors, write_tensors
from common.tensorfile import read_metadata as read_metadata_of
from learner.checkpoint import CheckpointError, load_checkpoint, load_model, read_metadata, save_checkpoint
from learner.models import TaskShape, build_model
from tests.models.conftest import POOLED, SUDOKU4, small_config

FORMS = [("hrm", {}), ("trm", {}), ("trm", {"mlp_mixer": True})]
PAPER_FORM = {"mlp_mixer": True, "mixer_norm": "positions", "prefix_positions": 3}


@pytest.mark.parametrize("arch,form", [*FORMS, ("trm", PAPER_FORM)], ids=["hrm", "trm", "trm-mixer", "trm-paper-form"])
def test_round_trip_gives_identical_outputs(tmp_path: Path, arch, form):
    model = build_model(small_config(arch, inference_steps=2, **form), [SUDOKU4, POOLED]).eval()
    path = save_checkpoint(tmp_path / "ckpt.safetensors", model, extra={"step": 7})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.json", "ckpt.safetensors"]  # no temp files left
    sidecar = json.loads((tmp_path / "ckpt.json").read_text())
    assert sidecar == read_metadata(path)
    assert sidecar["arch"] == arch and sidecar["preset"] == "tiny" and sidecar["extra"] == {"step": 7}
    assert sidecar["tasks"][1] == {"obs_length": 9, "vocab_size": 5, "num_actions": 7, "actions_per_token": 0}

    tokens, task_ids = torch.randint(1, 5, (4, 16)), torch.tensor([0, 1, 0, 1])
    tokens[task_ids == 1, 9:] = 0
    restored = load_model(path)  # built from the metadata alone
    other = build_model(small_config(arch, inference_steps=2, **form), [SUDOKU4, POOLED]).eval()
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


# ----- common.tensorfile: the one safetensors path (model and learner checkpoints, run-directory weights) ----


def test_tensor_files_round_trip_torch_and_numpy_with_metadata(tmp_path: Path):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    tensors = {"base": base, "tied": base, "column": base[:, 1], "rng": torch.get_rng_state()}  # shared, strided
    write_tensors(tmp_path / "t.safetensors", tensors, metadata={"note": "text"})
    loaded, metadata = read_tensors(tmp_path / "t.safetensors", "pt")
    assert metadata == {"note": "text"} and loaded.keys() == tensors.keys()
    assert all(torch.equal(loaded[name], tensors[name]) for name in tensors)
    loaded["base"].add_(1)  # the caller's own copy
    assert torch.equal(read_tensors(tmp_path / "t.safetensors", "pt")[0]["base"], base)

    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3).T, "flag": np.array([True, False])}
    write_tensors(tmp_path / "a.safetensors", arrays)
    loaded, metadata = read_tensors(tmp_path / "a.safetensors", "np")
    assert metadata == {} and all(np.array_equal(loaded[name], arrays[name]) for name in arrays)
    assert loaded["w"].flags.writeable and read_tensors(tmp_path / "a.safetensors", "pt")[0]["w"].shape == (3, 2)

    write_tensors(tmp_path / "mixed.safetensors", {"t": base, "a": arrays["w"]})
    assert sorted(read_tensors(tmp_path / "mixed.safetensors", "np")[0]) == ["a", "t"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "mixed.safetensors", "t.safetensors"]


def test_unreadable_tensor_files_raise_one_error_naming_the_file(tmp_path: Path):
    with pytest.raises(TensorFileError, match=r"absent\.safetensors: no such file"):
        read_tensors(tmp_path / "absent.safetensors")
    torn = tmp_path / "torn.safetensors"
    write_tensors(torn, {"w": np.zeros(100, dtype=np.float32)})
    torn.write_bytes(torn.read_bytes()[:-10])
    for read in (lambda: read_tensors(torn, "np"), lambda: read_metadata_of(torn)):
        with pytest.raises(TensorFileError) as error:
            read()
        assert isinstance(error.value, ValueError)
        assert str(error.value).startswith(f"{torn}: not a readable safetensors file (") and "\n" not in str(
            error.value
        )
    with pytest.raises(ValueError, match="framework"):
        read_tensors(torn, "jax")


def test_numpy_tensor_files_do_not_load_torch(tmp_path: Path):
    script = (
        "import sys, numpy as np\n"
        "from common.tensorfile import read_tensors, write_tensors\n"
        f"write_tensors({str(tmp_path / 'w.safetensors')!r}, {{'w': np.ones(3)}})\n"
        f"assert read_tensors({str(tmp_path / 'w.safetensors')!r}, 'np')[0]['w'].sum() == 3\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script], cwd=root, check=True)


def test_run_directory_weights_use_tensor_files_and_name_a_damaged_file_in_one_line(tmp_path: Path):
    from cluster.config import ConfigError
    from cluster.rundir import RunDir

    run = RunDir(tmp_path)
    weights = {"w": np.arange(4, dtype=np.float32), "b": np.ones((2, 2), dtype=np.float32)}
    path = run.save_weights(3, weights, keep=2)
    loaded = run.load_weights(3)
    assert loaded.keys() == weights.keys() and all(np.array_equal(loaded[k], weights[k]) for k in weights)
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    with pytest.raises(ConfigError) as error:
        run.load_weights(3)
    message = str(error.value)
    assert message.startswith(f"{path}: not a readable safetensors file (") and "version 3" in message
    assert "\n" not in message


def test_a_checkpoint_from_before_the_mixer_options_still_loads(tmp_path: Path):
    """Checkpoints written before ``mixer_norm`` and ``prefix_positions`` existed hold neither key: they load
    with the preset's values (which for tiny and small are the old form) and give the same outputs."""
    model = build_model(small_config("trm", mlp_mixer=True), [SUDOKU4]).eval()
    path = save_checkpoint(tmp_path / "old.safetensors", model)
    metadata = read_metadata(path)
    for section in ("config", "hyperparams"):
        del metadata[section]["mixer_norm"], metadata[section]["prefix_positions"]
    write_tensors(path, model.state_dict(), metadata={"selfplay": json.dumps(metadata)})
    loaded = load_model(path)
    assert (loaded.hp.mixer_norm, loaded.hp.prefix_positions) == ("channels", 1)
    tokens = torch.randint(1, 6, (3, 16))
    with torch.no_grad():
        assert torch.equal(
            loaded(tokens, torch.zeros(3, dtype=torch.int64)).policy_logits,
            model(tokens, torch.zeros(3, dtype=torch.int64)).policy_logits,
        )
