"""Human-readable text of evaluator records: the reference record, and the one-line summaries in a gate's reason."""

from __future__ import annotations


def game_summary(record: dict) -> str:
    """The evidence of a game part of the gate, for its reason: score and games played."""
    return f"score {record['score']:.3f} in {record['games']} games"


def puzzle_summary(record: dict) -> str:
    """The evidence of a puzzle part of the gate (one task or all pooled), for its reason: the sign test."""
    return (
        f"{record['candidate_only']} solved by the candidate only, {record['best_only']} by the best only:"
        f" p_better {record['p_better']:.3g}, p_worse {record['p_worse']:.3g}"
    )


def format_reference(record: dict) -> str:
    """A human-readable text of a `Evaluator.reference` record, one line per task."""
    lines = [f"version {record.get('version', '?')} ({record.get('seconds', 0.0):.1f} s)"]
    width = max((len(label) for label in record["tasks"]), default=0)
    for label, result in record["tasks"].items():
        if "solve_rate" in result:
            lines.append(
                f"{label:<{width}}  solve rate {result['solve_rate']:.3f} with search,"
                f" {result['greedy_solve_rate']:.3f} greedy ({result['instances']} instances)"
            )
        else:
            games = "   ".join(
                f"vs {name}: {r['wins']} W / {r['draws']} D / {r['losses']} L" for name, r in result.items()
            )
            lines.append(f"{label:<{width}}  {games}")
            lines.extend(_lost_game_lines(result))
    return "\n".join(lines)


def _lost_game_lines(result: dict) -> list[str]:
    """One indented line per lost reference game: opponent, opening (rows joined by " / "), moves."""
    lines = []
    for name, r in result.items():
        for game in r.get("lost_games", []):
            side = "first" if game["network_moved_first"] else "second"
            opening = game["opening"].replace("\n", " / ")
            lines.append(f"    lost vs {name}, moving {side} from [{opening}]: {'; '.join(game['moves'])}")
    return lines
