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
    """A human-readable text of a reference record (`Evaluator.reference`), beside its ``baseline`` if it has one.

    One column per version (the baseline's first), headed ``v<N>``: per task one line per
    figure (solve rates, halting figures; W / D / L and Elo per reference opponent; Connect
    Four's mistake rates), per puzzle task a table by difficulty bucket, per Connect Four task
    a table of mistakes by stage and by distance to the end, then the pooled ``hrm`` / ``trm``
    figures, and every game the evaluated version lost. ``-`` marks a figure that does not exist
    (halting without halting inference); a line says why, once where every task has one reason.
    """
    columns = [record["baseline"], record] if record.get("baseline") else [record]
    names = [f"v{column.get('version', '?')}" for column in columns]
    lines = [" beside its baseline, ".join(_version_line(column) for column in reversed(columns))]
    if record.get("baseline_note"):
        lines.append(f"baseline: {record['baseline_note']}")
    entries: list[tuple[str, list[str]] | str] = []
    for label, result in record["tasks"].items():
        results = [column["tasks"][label] for column in columns]
        if "solve_rate" in result:
            entries.extend(_puzzle_entries(label, results, names, record["trm"].get("note")))
        else:
            elos = [column["elo"][label] for column in columns]
            mistakes = [column.get("mistakes", {}).get(label) for column in columns]
            entries.extend(_game_entries(label, results, elos, names, mistakes, show_version=len(columns) == 2))
    if record["hrm"]["instances"]:
        entries.extend(_pooled_entries([column["hrm"] for column in columns], [c["trm"] for c in columns], names))
    return "\n".join(lines + _render(entries))


def _version_line(record: dict) -> str:
    return f"version {record.get('version', '?')} ({record.get('seconds', 0.0):.1f} s)"


def _rate(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _puzzle_entries(
    label: str, results: list[dict], names: list[str], pooled_note: str | None
) -> list[tuple[str, list[str]] | str]:
    """A puzzle task's figure rows (one cell per version), its halting note unless the pooled figures
    give the same one, and its table by difficulty."""
    last = results[-1]
    cap = f" (cap {last['halting_cap']})" if last["halting_cap"] else ""
    entries: list[tuple[str, list[str]] | str] = [
        (f"{label} ({last['instances']} instances)", names),
        ("  solve rate with search", [_rate(r["solve_rate"]) for r in results]),
        ("  solve rate greedy, raw network (= accuracy)", [_rate(r["greedy_solve_rate"]) for r in results]),
        ("  convergence rate (verified, halted)", [_rate(r["convergence_rate"]) for r in results]),
        (f"  mean halting steps{cap}", [_rate(r["mean_halting_steps"], 2) for r in results]),
    ]
    if last.get("halting_note") and last["halting_note"] != pooled_note:
        entries.append(f"  halting: {last['halting_note']}")
    if last.get("segment_sweep"):
        entries += _sweep_entries(results)
    return entries + _bucket_lines(results, names)


def _sweep_entries(results: list[dict]) -> list[tuple[str, list[str]]]:
    """Rows of the network alone's solve rate at k forced segments, carry kept and reset (one cell per version)."""
    sweeps = [r.get("segment_sweep") or {} for r in results]
    entries = []
    for k in results[-1]["segment_sweep"]["segments"]:
        cells = []
        for sweep in sweeps:
            kept = (sweep.get("solve_rate") or {}).get(str(k))
            reset = (sweep.get("solve_rate_reset") or {}).get(str(k))
            cells.append("-" if kept is None else f"{kept:.3f} / {_rate(reset)}")
        entries.append((f"  greedy at {k} segments: carry kept / reset", cells))
    halting = [sweep.get("halting") for sweep in sweeps]
    if halting[-1]:
        cells = ["-" if h is None else f"{h['solve_rate']:.3f}, {h['mean_halting_steps']:.2f} steps" for h in halting]
        entries.append((f"  greedy with halting (cap {halting[-1]['cap']}): solved, mean steps", cells))
    return entries


def _bucket_lines(results: list[dict], names: list[str]) -> list[str]:
    """The figures of every difficulty bucket as a compact table: a row per bucket, a column per figure and version."""
    figures = [("solve_rate", "search", 3), ("greedy_solve_rate", "greedy", 3)]
    if results[-1]["convergence_rate"] is not None:
        figures += [("convergence_rate", "converged", 3), ("mean_halting_steps", "steps", 2)]
    header = ["difficulty", "n"] + [f"{short} {name}" for _, short, _ in figures for name in names]
    rows = [header]
    for bucket, values in results[-1]["by_difficulty"].items():
        cells = [bucket, str(values["instances"])]
        for key, _, digits in figures:
            cells += [_rate(r["by_difficulty"].get(bucket, {}).get(key), digits) for r in results]
        rows.append(cells)
    return _table(rows)


def _table(rows: list[list[str]]) -> list[str]:
    """``rows`` (the header first) as indented lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    aligned = [
        [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)] for row in rows
    ]
    return ["    " + "  ".join(row) for row in aligned]


def _game_entries(
    label: str,
    results: list[dict],
    elos: list[dict],
    names: list[str],
    mistakes: list[dict | None],
    show_version: bool,
) -> list[tuple[str, list[str]] | str]:
    """A game task's rows per reference opponent (W / D / L, Elo and its 95% interval), its mistake rates where
    the last version has them (``mistakes``: one record or None per version), the last version's losses."""
    entries: list[tuple[str, list[str]] | str] = [(label, names)]
    for name in results[-1]:
        entries.append(
            (
                f"  vs {name}: W / D / L",
                [f"{r[name]['wins']} / {r[name]['draws']} / {r[name]['losses']}" for r in results],
            )
        )
        entries.append((f"  vs {name}: Elo [95%]", [_elo(e[name]) for e in elos]))
    if mistakes[-1]:
        entries += _mistake_entries(mistakes, names)
    prefix = f"{names[-1]} " if show_version else ""
    return entries + _lost_game_lines(results[-1], prefix)


def _mistake_entries(mistakes: list[dict | None], names: list[str]) -> list[tuple[str, list[str]] | str]:
    """Connect Four's mistake rates, network alone and with search (a row each, a cell per version), then the
    counts by stage and by distance to the end as a table: a row per bucket, a column per player and version."""
    last: dict = mistakes[-1]  # type: ignore[assignment]  # the caller checked that the last version has one
    entries: list[tuple[str, list[str]] | str] = [
        (
            f"  mistakes in {last['positions']} solved positions ({last['critical']} critical): network alone",
            [_mistake_cell(m, "network") for m in mistakes],
        ),
        (f"  mistakes with search ({last['simulations']} simulations)", [_mistake_cell(m, "search") for m in mistakes]),
    ]
    header = ["bucket", "n", "critical"] + [f"{player} {name}" for name in names for player in ("network", "search")]
    rows = [header]
    for key, prefix in (("by_stage", "plies played"), ("by_distance", "plies to the end")):
        for bucket, figures in last[key].items():
            cells = [f"{prefix} {bucket}", str(figures["positions"]), str(figures["critical"])]
            for m in mistakes:
                cells += [_mistake_cell(None if m is None else m[key].get(bucket), p) for p in ("network", "search")]
            rows.append(cells)
    return entries + _table(rows)


def _mistake_cell(figures: dict | None, player: str) -> str:
    """``k (p%)``: ``player``'s mistakes in ``figures`` and their share of its positions; ``-`` where there are none."""
    if figures is None or figures.get(f"{player}_rate") is None:
        return "-"
    return f"{figures[f'{player}_mistakes']} ({100 * figures[f'{player}_rate']:.1f}%)"


def _elo(estimate: dict) -> str:
    low, high = estimate["elo_interval"]
    return f"{estimate['elo']:+.0f} [{low:+.0f}, {high:+.0f}]"


def _pooled_entries(hrm: list[dict], trm: list[dict], names: list[str]) -> list[tuple[str, list[str]] | str]:
    """The original design's pooled figures, one row each, and why a missing one is missing."""
    arch = hrm[-1].get("arch") or "?"
    entries: list[tuple[str, list[str]] | str] = [
        (f"all puzzles pooled ({hrm[-1]['instances']} instances, the {arch} network)", names),
        ("  hrm.accuracy", [_rate(h["accuracy"]) for h in hrm]),
        ("  trm.convergence_rate", [_rate(t["convergence_rate"]) for t in trm]),
        ("  trm.mean_halting_steps", [_rate(t["mean_halting_steps"], 2) for t in trm]),
    ]
    if trm[-1].get("note"):
        entries.append(f"  trm: {trm[-1]['note']}")
    return entries


def _render(entries: list[tuple[str, list[str]] | str]) -> list[str]:
    """Rows ``(label, cells)`` aligned in columns over the whole text (labels left, cells right); strings as is."""
    rows = [entry for entry in entries if isinstance(entry, tuple)]
    label_width = max((len(label) for label, _ in rows), default=0)
    cell_widths = [max(len(cells[i]) for _, cells in rows) for i in range(len(rows[0][1]))] if rows else []
    lines = []
    for entry in entries:
        if isinstance(entry, str):
            lines.append(entry)
        else:
            label, cells = entry
            lines.append(
                f"{label:<{label_width}}" + "".join(f"  {c:>{w}}" for c, w in zip(cells, cell_widths, strict=True))
            )
    return lines


def _lost_game_lines(result: dict, prefix: str = "") -> list[str]:
    """One indented line per lost reference game: opponent, opening (rows joined by " / "), moves."""
    lines = []
    for name, r in result.items():
        for game in r.get("lost_games", []):
            side = "first" if game["network_moved_first"] else "second"
            opening = game["opening"].replace("\n", " / ")
            lines.append(f"    {prefix}lost vs {name}, moving {side} from [{opening}]: {'; '.join(game['moves'])}")
    return lines
