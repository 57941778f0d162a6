"""Sizes and speeds of the model presets (for ``selfplay models info``).

Speed is inference throughput: samples per second at batch 64, in inference
mode, on this machine's CPU with one thread, on a reference task shape (default
4x4 Sudoku: 16 tokens, vocabulary 6, 64 actions, 4 per cell; the self-play
shape the tiny presets are sized for). A forward pass runs the preset's
``inference_steps`` segments. Large presets are timed on fewer segments (one
segment of a paper-size model takes seconds here) and the time per segment is
scaled to the full budget; ``timed_segments`` says how many were timed.
"""

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import torch

from learner.models import ModelConfig, TaskShape, build_model, count_parameters

SUDOKU_4X4 = TaskShape(obs_length=16, vocab_size=6, num_actions=64, actions_per_token=4)
SUDOKU_9X9 = TaskShape(obs_length=81, vocab_size=11, num_actions=729, actions_per_token=9)
REFERENCE_NAMES = {SUDOKU_4X4: "sudoku 4x4", SUDOKU_9X9: "sudoku 9x9"}
BATCH_SIZE = 64


def model_info(
    archs: Sequence[str] = ("hrm", "trm"),
    presets: Sequence[str] = ("tiny", "small", "paper"),
    task: TaskShape = SUDOKU_4X4,
    seconds_per_model: float = 2.0,
    measure_speed: bool = True,
) -> dict[str, Any]:
    """Per arch and preset: ``params`` and ``forward_per_s_b64`` (None without ``measure_speed``).

    Returns ``{"reference_task": ..., "batch_size": 64, "threads": 1, "models": {arch: {preset: {...}}}}``.
    Each model is timed for about ``seconds_per_model`` (at least one forward), so
    the default six models take well under 30 s, paper presets included.
    """
    models: dict[str, dict[str, Any]] = {}
    for arch in archs:
        models[arch] = {}
        for preset in presets:
            model = build_model(ModelConfig(arch=arch, preset=preset), [task]).eval()
            hp = model.hp
            entry: dict[str, Any] = {
                "params": count_parameters(model),
                "hidden_size": hp.hidden_size,
                "num_layers": hp.num_layers,
                "h_cycles": hp.h_cycles,
                "l_cycles": hp.l_cycles,
                "inference_steps": hp.inference_steps,
                "forward_per_s_b64": None,
                "timed_segments": None,
            }
            if measure_speed:
                entry.update(_measure(model, task, seconds_per_model))
            models[arch][preset] = entry
    return {
        "reference_task": {"name": REFERENCE_NAMES.get(task, "custom"), **dataclasses.asdict(task)},
        "batch_size": BATCH_SIZE,
        "threads": 1,
        "models": models,
    }


def _measure(model: torch.nn.Module, task: TaskShape, seconds: float) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(1, task.vocab_size, (BATCH_SIZE, task.obs_length), generator=generator)
    task_ids = torch.zeros(BATCH_SIZE, dtype=torch.int64)
    budget = model.hp.inference_steps
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            model(tokens[:2], task_ids[:2], steps=1)  # warm-up on a tiny batch
            start = time.perf_counter()
            model(tokens, task_ids, steps=1, halting=False)
            elapsed, runs, segments = time.perf_counter() - start, 1, 1
            # When a few whole forwards fit in the time allowed, time those instead of the single segment.
            if elapsed * budget * 3 <= seconds:
                runs, elapsed, segments = 0, 0.0, budget
                while runs == 0 or (elapsed < seconds and runs < 50):
                    start = time.perf_counter()
                    model(tokens, task_ids, steps=segments, halting=False)
                    elapsed += time.perf_counter() - start
                    runs += 1
    finally:
        torch.set_num_threads(threads)
    seconds_per_forward = elapsed / runs / segments * budget
    return {"forward_per_s_b64": BATCH_SIZE / seconds_per_forward, "timed_segments": segments}


def format_model_info(info: dict[str, Any]) -> str:
    """A plain-text table of `model_info`'s result."""
    task = info["reference_task"]
    lines = [
        f"reference task: {task['name']} (L={task['obs_length']}, V={task['vocab_size']}, "
        f"A={task['num_actions']}); batch {info['batch_size']}, {info['threads']} CPU thread, inference mode",
        f"{'arch':<5} {'preset':<6} {'params':>12} {'width':>6} {'layers':>6} {'cycles':>7} {'segments':>8}"
        f" {'forward/s':>10}",
    ]
    for arch, presets in info["models"].items():
        for preset, entry in presets.items():
            speed = entry["forward_per_s_b64"]
            shown = "-" if speed is None else f"{speed:,.0f}" if speed >= 100 else f"{speed:.2g}"
            if speed is not None and entry["timed_segments"] != entry["inference_steps"]:
                shown += "*"
            cycles = f"{entry['h_cycles']}x{entry['l_cycles']}"
            lines.append(
                f"{arch:<5} {preset:<6} {entry['params']:>12,} {entry['hidden_size']:>6} {entry['num_layers']:>6}"
                f" {cycles:>7} {entry['inference_steps']:>8} {shown:>10}"
            )
    entries = [entry for presets in info["models"].values() for entry in presets.values()]
    if any(entry["timed_segments"] not in (None, entry["inference_steps"]) for entry in entries):
        lines.append("* timed on one segment, scaled to the full inference budget")
    lines.append("cycles: HRM N high x T low steps; TRM T recursions x n latent steps (per segment)")
    return "\n".join(lines)
