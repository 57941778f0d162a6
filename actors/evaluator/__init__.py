"""The evaluator: gates candidates against the best network and measures strength on an absolute scale.

- `EvaluationConfig` (config.py): gating rule, held-out set sizes, significance levels;
- `Evaluator`, `create_evaluator`, match play, statistics and formatting (evaluator.py).
"""

from actors.evaluator.config import EARLY_STOPS, GATINGS, EvaluationConfig
from actors.evaluator.evaluator import (
    HELD_OUT_SEED_BASE,
    Evaluator,
    SearchPlayer,
    create_evaluator,
    decide_promotion,
    early_stop,
    evaluation_search_config,
    format_reference,
    game_verdict,
    play_match,
    puzzle_verdict,
    random_mover,
    sign_test_p_value,
    solver_mover,
    sprt_llr,
)

__all__ = [
    "EARLY_STOPS",
    "GATINGS",
    "HELD_OUT_SEED_BASE",
    "EvaluationConfig",
    "Evaluator",
    "SearchPlayer",
    "create_evaluator",
    "decide_promotion",
    "early_stop",
    "evaluation_search_config",
    "format_reference",
    "game_verdict",
    "play_match",
    "puzzle_verdict",
    "random_mover",
    "sign_test_p_value",
    "solver_mover",
    "sprt_llr",
]
