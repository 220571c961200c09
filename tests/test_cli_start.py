"""`baosong poll` logs in to the mailbox while the rest of the program loads: the command line
module itself must not load the parsers, the database or the notifier."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlalchemy", "numpy", "PIL", "jinja2", "docx", "openpyxl", "notify", "ingest.cycle", "ingest.context")


def test_the_command_line_loads_only_what_connecting_needs() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, ingest.cli; print(*(m for m in {HEAVY!r} if m in sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert loaded == []
