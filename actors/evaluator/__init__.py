"""The evaluator: gates candidates against the best network and measures strength on an absolute scale.

- `EvaluationConfig` (config.py): gating rule, held-out set sizes, significance levels;
- `Evaluator`, `create_evaluator`, `decide_promotion` (evaluator.py): the actor, the gate and its promotion rule;
- held-out seeds and sets (heldout.py), match play, puzzle solving with search and the raw
  network's greedy answers with its halting (matches.py), the reference opponents (opponents.py);
- statistics (stats.py): sign test, SPRT, early stopping, verdicts, `elo_difference`;
- text of records (text.py): `format_reference`.
"""

from actors.evaluator.config import EARLY_STOPS, GATINGS, EvaluationConfig
from actors.evaluator.evaluator import Evaluator, create_evaluator, decide_promotion, evaluation_search_config
from actors.evaluator.heldout import HELD_OUT_SEED_BASE
from actors.evaluator.matches import SearchPlayer, play_match
from actors.evaluator.opponents import random_mover, solver_mover
from actors.evaluator.stats import (
    EloEstimate,
    early_stop,
    elo_difference,
    game_verdict,
    puzzle_verdict,
    sign_test_p_value,
    sprt_llr,
)
from actors.evaluator.text import format_reference

__all__ = [
    "EARLY_STOPS",
    "GATINGS",
    "HELD_OUT_SEED_BASE",
    "EloEstimate",
    "EvaluationConfig",
    "Evaluator",
    "SearchPlayer",
    "create_evaluator",
    "decide_promotion",
    "early_stop",
    "elo_difference",
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
