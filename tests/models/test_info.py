"""`model_info`: parameter counts and measured speeds, and their table."""

from learner.models import ModelConfig, build_model, count_parameters
from learner.models.info import SUDOKU_4X4, format_model_info, model_info


def test_model_info_reports_params_and_speed():
    info = model_info(archs=("trm", "hrm"), presets=("tiny",), seconds_per_model=0.2)
    assert info["batch_size"] == 64 and info["threads"] == 1 and info["reference_task"]["name"] == "sudoku 4x4"
    for arch in ("trm", "hrm"):
        entry = info["models"][arch]["tiny"]
        assert entry["params"] == count_parameters(build_model(ModelConfig(arch=arch), [SUDOKU_4X4]))
        assert entry["forward_per_s_b64"] > 0 and entry["timed_segments"] == 1
    table = format_model_info(info)
    assert "trm   tiny" in table and "hrm   tiny" in table and "forward/s" in table


def test_model_info_without_timing_covers_every_preset():
    info = model_info(measure_speed=False)
    assert set(info["models"]) == {"hrm", "trm"}
    assert all(set(presets) == {"tiny", "small", "paper"} for presets in info["models"].values())
    sizes = [info["models"]["trm"][p]["params"] for p in ("tiny", "small", "paper")]
    assert sizes == sorted(sizes)
    assert format_model_info(info).count("\n") >= 7
