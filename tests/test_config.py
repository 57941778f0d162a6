"""Configuration: every kind of bad value gives one line naming file, key path and expectation, and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cluster.cli import main
from cluster.config import ConfigError, RunConfig, load_config

REPO = Path(__file__).resolve().parents[1]


def run_show(tmp_path: Path, text: str, *overrides: str, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    argv = ["config", "show", "--config", str(path)]
    for override in overrides:
        argv += ["--set", override]
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: -3\n", "seed: expected a non-negative integer, got -3"),
        ("seed: three\n", "seed: expected a non-negative integer, got 'three'"),
        ("seed: true\n", "seed: expected a non-negative integer, got true"),
        ("sed: 1\n", "sed: unknown key (expected one of: seed, ray, tasks, model, search"),
        ("search: {num_simulations: -3}\n", "search.num_simulations: expected a positive integer, got -3"),
        ("search: {algorithm: alphabeta}\n", "search.algorithm: expected one of: puct, gumbel, got 'alphabeta'"),
        ("model: {arch: gpt}\n", "model.arch: expected one of: trm, hrm, got 'gpt'"),
        ("model: {hidden_size: 30, num_heads: 4}\n", "hidden_size 30 is not divisible by model.num_heads 4"),
        ("replay: {sampling: lifo}\n", "replay.sampling: expected one of: uniform, prioritized, got 'lifo'"),
        ("ray: {num_cpus: 0}\n", "ray.num_cpus: expected a positive integer, got 0"),
        ("ray: 5\n", "ray: expected a mapping of keys, got 5"),
        ("tasks: {mix: []}\n", "tasks.mix: expected a list of at least 1 entries, got []"),
        ("tasks: {mix: [{kind: chess}]}\n", "tasks.mix[0].kind: expected one of: countdown, dsl, sudoku"),
        ("tasks: {mix: [{weight: 0}]}\n", "tasks.mix[0].weight: expected a positive number, got 0"),
        (
            "tasks: {mix: [{difficulty: [0.8, 0.2]}]}\n",
            "tasks.mix[0].difficulty: expected a pair [low, high] with low <= high, both in [0.0, 1.0], got [0.8, 0.2]",
        ),
        ("tasks: {mix: [{difficulty: [0, 2]}]}\n", "tasks.mix[0].difficulty: expected a pair"),
        ("tasks: {mix: [{kind: tictactoe, colour: 1}]}\n", "tasks.mix[0].colour: unknown key"),
        (
            "tasks: {mix: [{kind: tictactoe, params: {size: 3}}]}\n",
            "tasks.mix[0].params.size: unknown parameter of task kind tictactoe",
        ),
        ("tasks: {mix: [{kind: sudoku, params: {size: nine}}]}\n", "tasks.mix[0].params.size: expected an integer"),
        ("tasks: {mix: [{kind: sudoku, params: {size: 5}}]}\n", "tasks.mix[0].params:"),
        (
            "tasks: {mix: [{kind: countdown, search: {algorithm: beam}}]}\n",
            "tasks.mix[0].search.algorithm: expected one of: puct, gumbel, got 'beam'",
        ),
        ("tasks: {mix: [{search: {simulations: 8}}]}\n", "tasks.mix[0].search.simulations: unknown key"),
        ("tasks: {mix: [{search: 3}]}\n", "tasks.mix[0].search: expected"),
    ],
)
def test_bad_value_is_one_line_naming_file_key_and_expectation(tmp_path, capsys, text, expected):
    code, err = run_show(tmp_path, text, capsys=capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"selfplay: {tmp_path / 'x.yaml'}: ")
    assert expected in lines[0]


def test_invalid_yaml_names_the_line(tmp_path, capsys):
    code, err = run_show(tmp_path, "seed: 1\nray: [unclosed\n", capsys=capsys)
    assert code == 2
    assert "x.yaml: line 3: invalid YAML" in err or "x.yaml: line 2: invalid YAML" in err
    assert len(err.strip().splitlines()) == 1


def test_missing_file(tmp_path, capsys):
    assert main(["config", "show", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such config file" in capsys.readouterr().err


def test_overrides_apply_and_are_validated(tmp_path, capsys):
    code, _ = run_show(tmp_path, "seed: 1\n", "seed=7", "tasks.mix.0.weight=2.5", capsys=capsys)
    assert code == 0
    config = load_config(tmp_path / "x.yaml", ["seed=7", "tasks.mix.0.weight=2.5", "ray.num_cpus=2"])
    assert config.seed == 7 and config.tasks.mix[0].weight == 2.5 and config.ray.num_cpus == 2

    code, err = run_show(tmp_path, "seed: 1\n", "ray.num_cpus=-3", capsys=capsys)
    assert code == 2 and "ray.num_cpus: expected a positive integer, got -3" in err
    code, err = run_show(tmp_path, "seed: 1\n", "tasks.mix.4.weight=1", capsys=capsys)
    assert code == 2 and "tasks.mix.4: expected a list index below 1" in err
    code, err = run_show(tmp_path, "seed: 1\n", "noequals", capsys=capsys)
    assert code == 2 and "--set noequals: expected key.path=value" in err


def test_every_preset_loads():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        assert isinstance(load_config(path), RunConfig), path


def test_defaults_round_trip_through_yaml(tmp_path):
    from cluster.config import dump_yaml

    config = load_config(REPO / "configs" / "local.yaml")
    (tmp_path / "snapshot.yaml").write_text(dump_yaml(config))
    assert load_config(tmp_path / "snapshot.yaml") == config


def test_error_type_is_config_error(tmp_path):
    (tmp_path / "x.yaml").write_text("seed: -1\n")
    with pytest.raises(ConfigError):
        load_config(tmp_path / "x.yaml")


def test_console_entry_point_exits_2_with_one_line(tmp_path):
    (tmp_path / "x.yaml").write_text("tasks: {mix: [{kind: tictactoe, weight: -1}]}\n")
    result = subprocess.run(
        [sys.executable, "-m", "cluster", "config", "show", "--config", str(tmp_path / "x.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    expected = "tasks.mix[0].weight: expected a positive number, got -1"
    assert result.stderr.strip() == f"selfplay: {tmp_path / 'x.yaml'}: {expected}"


def test_a_kind_can_search_its_own_way():
    config = load_config(
        REPO / "configs" / "local.yaml", ["tasks.mix.2.search={algorithm: gumbel, num_simulations: 48}"]
    )
    entry = config.tasks.mix[2]
    assert entry.kind == "countdown" and config.search.algorithm == "puct"
    own = config.search.with_overrides(entry.search)
    assert (own.algorithm, own.num_simulations, own.c_puct) == ("gumbel", 48, config.search.c_puct)
    sudoku = config.tasks.mix[1]
    assert sudoku.kind == "sudoku" and config.search.with_overrides(sudoku.search) is config.search


# A config shown, and a config refused, by the real command in a fresh interpreter, then which
# heavy packages that interpreter loaded: neither torch nor Ray may be among them.
_HEAVY_IMPORTS = """
import sys
from cluster.cli import main
code = main(sys.argv[1:])
print(sorted(name for name in ("torch", "ray") if name in sys.modules), code)
"""


@pytest.mark.parametrize("contents", ["", "search: {num_simulations: -3}\n"], ids=["show", "error"])
def test_config_show_and_config_errors_import_neither_torch_nor_ray(tmp_path, contents):
    config = tmp_path / "x.yaml"
    config.write_text(contents or (REPO / "configs" / "local.yaml").read_text())
    argv = [sys.executable, "-c", _HEAVY_IMPORTS, "config", "show", "--config", str(config)]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    loaded, code = result.stdout.strip().splitlines()[-1].rsplit(" ", 1)
    assert loaded == "[]", f"loaded {loaded}"
    assert int(code) == (2 if contents else 0), result.stderr


def test_selfplay_workers_are_a_number_or_a_range():
    assert load_config(None).selfplay.worker_range == (1, 1)
    elastic = load_config(None, ["selfplay.num_workers={min: 2, max: 32}"]).selfplay
    assert elastic.worker_range == (2, 32)
    assert load_config(None, ["selfplay.num_workers=4"]).selfplay.worker_range == (4, 4)
    with pytest.raises(ConfigError, match=r"num_workers: expected a positive integer or a mapping of min, max"):
        load_config(None, ["selfplay.num_workers=0"])
    with pytest.raises(ConfigError, match=r"selfplay.num_workers: expected min <= max, got min 3, max 2"):
        load_config(None, ["selfplay.num_workers={min: 3, max: 2}"])
    with pytest.raises(ConfigError, match=r"selfplay.num_workers.most: unknown key"):
        load_config(None, ["selfplay.num_workers={most: 3}"])
