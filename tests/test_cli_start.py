"""What each process loads when: `baosong poll` logs in to the mailbox while the rest of the
program loads, and leaves the image and document libraries to its reading worker."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlalchemy", "numpy", "PIL", "jinja2", "docx", "openpyxl", "notify", "ingest.cycle", "ingest.context")


READERS = ("numpy", "PIL", "docx", "openpyxl", "xlrd", "parsers.contents", "parsers.reading")


def _loaded_after(imports: str, watched: tuple[str, ...]) -> list[str]:
    return subprocess.run(
        [sys.executable, "-c", f"import sys, {imports}; print(*(m for m in {watched!r} if m in sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def test_the_command_line_loads_only_what_connecting_needs() -> None:
    assert _loaded_after("ingest.cli", HEAVY) == []


def test_the_poll_process_leaves_the_readers_libraries_to_its_worker() -> None:
    assert _loaded_after("ingest.context, ingest.cycle", READERS) == []
