"""`StepProgress`: plain lines without a terminal, a live bar on one (a real pseudo-terminal)."""

from __future__ import annotations

import io
import os

from cluster.monitor import StepProgress


def test_plain_lines_count_the_steps_and_estimate_the_rest():
    stream = io.StringIO()
    progress = StepProgress("selfplay bench search", total=3, stream=stream)
    for batch in (1, 16, 64):
        progress.start(f"batch {batch}")
        progress.done()
    progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split("]")[0].split()[0] for line in lines] == ["[1/3", "[2/3", "[3/3"]
    assert lines[0].endswith("selfplay bench search: batch 1 done") and "left" in lines[0]
    assert lines[-1].split("]")[0].endswith("00:00 left")  # nothing is left after the last step
    assert "\x1b[" not in stream.getvalue()


def test_a_log_callable_takes_the_lines_with_a_section_before_each_label():
    lines: list[str] = []
    progress = StepProgress("evaluate", total=2, log=lines.append)
    progress.section = "v3"
    progress.start("reasoning/sudoku")
    progress.done()
    assert len(lines) == 1 and lines[0].endswith("evaluate: v3 reasoning/sudoku done")


def test_a_terminal_gets_a_live_bar_instead_of_lines():
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        progress = StepProgress("selfplay evaluate", total=2, stream=terminal)
        assert progress.bar is not None
        progress.start("reasoning/sudoku")
        progress.done()
        progress.close()
        terminal.flush()
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower side is closed: everything written has been read
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert b"\x1b[" in shown  # drawn with escape codes, not plain lines
    assert b"done" not in shown  # no plain line was printed
