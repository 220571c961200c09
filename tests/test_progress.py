"""Progress: redrawn in place at a terminal, a plain line every tenth of the way in a pipe."""

from __future__ import annotations

import io

from ingest.progress import Progress


def test_a_pipe_gets_about_ten_plain_lines() -> None:
    out = io.StringIO()
    progress = Progress(out, interactive=False)
    progress.start("收取邮件", 1000)
    for _ in range(1000):
        progress.advance()
    progress.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "收取邮件：0/1000" and lines[-1] == "收取邮件：1000/1000"
    assert 10 <= len(lines) <= 12
    assert "\r" not in out.getvalue()


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    out = io.StringIO()
    progress = Progress(out, interactive=True)
    progress.start("收取邮件", 3)
    for _ in range(3):
        progress.advance()
    progress.finish()
    text = out.getvalue()
    assert text.startswith("\r收取邮件：0/3") and text.endswith("\r收取邮件：3/3\n")
    assert text.count("\n") == 1


def test_nothing_to_do_prints_nothing() -> None:
    out = io.StringIO()
    progress = Progress(out, interactive=False)
    progress.start("收取邮件", 0)
    progress.finish()
    assert out.getvalue() == ""
