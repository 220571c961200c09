"""LibreOffice at the edge: old Word/WPS/Excel files converted to .docx/.xlsx for the readers."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from store.model import BaosongError

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 120
_FILTERS = {"docx": "docx:MS Word 2007 XML", "xlsx": "xlsx:Calc MS Excel 2007 XML"}


class ConversionFailed(BaosongError):
    """LibreOffice could not convert a file (damaged, password-protected, or it hung)."""


def libreoffice() -> LibreOffice | None:
    """A converter when LibreOffice is installed; None tells the readers to ask for .docx/.xlsx."""
    binary = shutil.which("soffice") or shutil.which("libreoffice")
    return LibreOffice(binary) if binary is not None else None


@dataclass(frozen=True)
class LibreOffice:
    """Converts with the LibreOffice at `binary`: a plain value, so a reading worker can take it."""

    binary: str

    def __call__(self, data: bytes, target: str) -> bytes:
        with tempfile.TemporaryDirectory(prefix="baosong-convert-") as folder:
            work = Path(folder)
            source = work / "input"
            source.write_bytes(data)
            # A private profile: a second LibreOffice (or a user's) must not lock ours.
            command = [
                self.binary, f"-env:UserInstallation=file://{work / 'profile'}", "--headless",
                "--convert-to", _FILTERS[target], "--outdir", str(work / "out"), str(source),
            ]
            try:
                subprocess.run(command, capture_output=True, timeout=TIMEOUT_SECONDS, check=True)
                return (work / "out" / f"input.{target}").read_bytes()
            except (subprocess.SubprocessError, OSError) as exc:
                log.debug("LibreOffice conversion to %s failed", target, exc_info=True)
                raise ConversionFailed(f"LibreOffice 无法转换此文件：{exc}") from exc
