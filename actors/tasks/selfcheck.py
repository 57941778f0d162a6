"""Generate, solve and verify instances of a task kind across the difficulty range, with timings."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from actors.tasks.registry import make_task

# The kinds and shapes `selfplay tasks check` covers: every kind at its defaults,
# plus the larger shapes the papers report on.
CHECK_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("countdown", {}),
    ("dsl", {}),
    ("sudoku", {"size": 4}),
    ("sudoku", {"size": 9}),
    ("maze", {}),
    ("tictactoe", {}),
    ("connect4", {}),
    ("sliding", {}),
]
DEFAULT_DIFFICULTIES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class DifficultyReport:
    difficulty: float
    generated: int = 0
    solved: int = 0
    verified: int = 0
    effort_mean: float = 0.0
    generate_ms: float = 0.0
    solve_ms: float = 0.0
    verify_ms: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class KindReport:
    family: str
    kind: str
    params: dict[str, Any]
    difficulties: list[DifficultyReport]

    @property
    def ok(self) -> bool:
        return all(d.generated > 0 and d.verified == d.generated for d in self.difficulties)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def check_kind(
    kind: str,
    params: dict[str, Any] | None = None,
    difficulties: tuple[float, ...] = DEFAULT_DIFFICULTIES,
    per_difficulty: int = 8,
    seed: int = 0,
) -> KindReport:
    """For each difficulty, generate ``per_difficulty`` instances, solve them and verify the solutions.

    Timings are means per instance in milliseconds. A solver that raises or an
    answer that fails verification is counted and its message kept.
    """
    task = make_task(kind, params)
    reports = []
    for difficulty in difficulties:
        report = DifficultyReport(difficulty=difficulty)
        efforts = []
        for i in range(per_difficulty):
            instance_seed = seed * 1_000_003 + i
            started = time.perf_counter()
            state = task.generate(instance_seed, difficulty)
            generated = time.perf_counter()
            try:
                answer = task.solve(state)
            except Exception as error:  # a solver bug is a finding of the check, not a crash of it
                report.errors.append(f"seed {instance_seed}: solve raised {type(error).__name__}: {error}")
                continue
            solved = time.perf_counter()
            verified = task.verify(state, answer)
            done = time.perf_counter()
            report.generated += 1
            report.solved += 1
            report.verified += int(verified)
            if not verified:
                report.errors.append(f"seed {instance_seed}: the solver's answer {answer} does not verify")
            report.generate_ms += (generated - started) * 1e3
            report.solve_ms += (solved - generated) * 1e3
            report.verify_ms += (done - solved) * 1e3
            efforts.append(task.effort(state))
        if report.generated:
            report.generate_ms /= report.generated
            report.solve_ms /= report.generated
            report.verify_ms /= report.generated
            report.effort_mean = float(np.mean(efforts))
        reports.append(report)
    return KindReport(task.family, task.kind, dict(params or {}), reports)


def format_reports(reports: list[KindReport]) -> str:
    """A table: one row per kind and difficulty."""
    header = f"{'family':<10} {'kind':<18} {'diff':>5} {'solved':>8} {'verified':>8} {'effort':>11} "
    header += f"{'gen ms':>8} {'solve ms':>9} {'verify ms':>9}"
    lines = [header, "-" * len(header)]
    for kind_report in reports:
        shape = ",".join(f"{k}={v}" for k, v in kind_report.params.items())
        name = f"{kind_report.kind}({shape})" if shape else kind_report.kind
        for d in kind_report.difficulties:
            lines.append(
                f"{kind_report.family:<10} {name:<18} {d.difficulty:>5.2f} {d.solved:>4}/{d.generated:<3} "
                f"{d.verified:>4}/{d.generated:<3} {d.effort_mean:>11.1f} {d.generate_ms:>8.2f} "
                f"{d.solve_ms:>9.2f} {d.verify_ms:>9.2f}"
            )
            lines.extend(f"    ! {error}" for error in d.errors[:3])
    return "\n".join(lines)
