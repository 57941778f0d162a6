"""`EvaluationConfig`: how the evaluator gates candidates and measures strength.

Imports neither torch nor Ray, so a config error is reported before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from common.devices import DEVICES
from common.fields import check_fields

GATINGS = ("threshold", "always")
EARLY_STOPS = ("sprt", "decided", "none")


@dataclass
class EvaluationConfig:
    """How the evaluator gates candidates and measures strength.

    Attributes:
        gating: "threshold" (the promotion rule in evaluator.py's docstring) or
            "always" (accept every candidate; results are still recorded).
        puzzles_per_task: held-out instances per puzzle task.
        games_per_task: match games per game task (even: each opening is played
            with both colours).
        games_per_round: games played at once between early-stopping checks (even);
            fewer means earlier stops but smaller batches.
        win_rate_threshold: the match score ``(wins + draws / 2) / games`` a
            candidate needs.
        early_stop: "sprt": stop when the SPRT of ``sprt_p0`` against ``sprt_p1``
            (on the expected score) decides, or when the threshold result is already
            decided; "decided": only the latter (the same decision as the full match);
            "none": play every game.
        sprt_p0, sprt_p1: the expected scores of the null (not better) and the
            alternative (better) hypotheses.
        sprt_alpha, sprt_beta: the SPRT's error probabilities (false accept, false reject).
        puzzle_significance: one-sided level of the puzzle sign test.
        difficulty: the held-out difficulty range for every task; None uses each
            entry's own range.
        difficulty_buckets: solve rates are also reported in this many equal
            slices of the held-out difficulty range.
        reference_games: games per reference opponent (even, both colours).
        connect4_reference_depths: alpha-beta depths of Connect Four's reference opponents.
        connect4_positions: held-out positions of Connect Four's mistake rate (mistakes.py), solved
            exactly once per evaluator (a few seconds) and then played by the network alone and with
            search in every reference record, the gate's included; 0 leaves the mistake rate out.
        segment_sweep: segment counts k (e.g. [1, 2, 4, 8, 16]) at which every puzzle task's reference
            record also holds the network alone's solve rate with exactly k supervision segments per
            forward pass, with the carried state kept and reset, and with halting (segments.py); it
            costs about the sum of the k forward passes per move, so it is empty (off) by default.
        reference_in_gate: the gate record also holds the candidate's reference record.
        num_simulations: search simulations per move for both sides; None uses the run's.
        num_cpus: CPUs the evaluator actor reserves.
        device: where the evaluator runs its two networks: "cpu", "cuda" or "auto".
    """

    gating: str = field(default="threshold", metadata={"choices": GATINGS})
    puzzles_per_task: int = field(default=64, metadata={"min": 1})
    games_per_task: int = field(default=40, metadata={"min": 2})
    games_per_round: int = field(default=20, metadata={"min": 2})
    win_rate_threshold: float = field(default=0.55, metadata={"min": 0.5, "max": 1.0})
    early_stop: str = field(default="sprt", metadata={"choices": EARLY_STOPS})
    sprt_p0: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0, "exclusive_min": True})
    sprt_p1: float = field(default=0.6, metadata={"min": 0.0, "max": 1.0, "exclusive_min": True})
    sprt_alpha: float = field(default=0.05, metadata={"min": 0.0, "max": 0.5, "exclusive_min": True})
    sprt_beta: float = field(default=0.05, metadata={"min": 0.0, "max": 0.5, "exclusive_min": True})
    puzzle_significance: float = field(default=0.05, metadata={"min": 0.0, "max": 0.5, "exclusive_min": True})
    difficulty: tuple[float, float] | None = field(default=None, metadata={"range": (0.0, 1.0), "ordered": True})
    difficulty_buckets: int = field(default=4, metadata={"min": 1})
    reference_games: int = field(default=20, metadata={"min": 2})
    connect4_reference_depths: list[int] = field(default_factory=lambda: [2, 4, 6])
    connect4_positions: int = field(default=60, metadata={"min": 0})
    segment_sweep: list[int] = field(default_factory=list)
    reference_in_gate: bool = True
    num_simulations: int | None = field(default=None, metadata={"min": 1})
    num_cpus: float = field(default=1.0, metadata={"min": 0.0})
    device: str = field(default="cpu", metadata={"choices": DEVICES})

    def __post_init__(self) -> None:
        check_fields(self, "evaluation")
        for name in ("games_per_task", "games_per_round", "reference_games"):
            if getattr(self, name) % 2:
                raise ValueError(f"evaluation.{name}: expected an even number (colours are swapped in pairs)")
        if not self.sprt_p0 < self.sprt_p1:
            raise ValueError(f"evaluation: expected sprt_p0 < sprt_p1, got {self.sprt_p0} and {self.sprt_p1}")
        if self.sprt_p1 >= 1.0:
            raise ValueError(f"evaluation.sprt_p1: expected a value < 1, got {self.sprt_p1}")
        if self.difficulty is not None:
            low, high = self.difficulty
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"evaluation.difficulty: expected 0 <= low <= high <= 1, got {self.difficulty}")
        if any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in self.segment_sweep):
            raise ValueError(f"evaluation.segment_sweep: expected segment counts >= 1, got {self.segment_sweep}")
        if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in self.connect4_reference_depths):
            raise ValueError(
                f"evaluation.connect4_reference_depths: expected integers >= 1, got {self.connect4_reference_depths}"
            )
