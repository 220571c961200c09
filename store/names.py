"""Safe file names for the archive: whatever a sender calls a file, it stays inside its folder."""

from __future__ import annotations

import re
import unicodedata

_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_MAX_BYTES = 200  # ext4 allows 255 bytes; leave room for a " (2)" suffix


def safe_name(original: str, fallback: str = "附件") -> str:
    """A file name that cannot leave its folder or upset a file system, keeping Chinese as it is.

    Only the last path component survives ('../../etc/passwd' -> 'passwd'); control and
    reserved characters become '_'; leading dots go so nothing is hidden or relative.
    """
    name = unicodedata.normalize("NFC", original).replace("\\", "/").split("/")[-1]
    name = _FORBIDDEN.sub("_", name).strip().lstrip(".").strip()
    if not name or set(name) <= {"_", " "}:
        name = fallback
    return _shorten(name)


def numbered(name: str, n: int) -> str:
    """'报表.docx', 2 -> '报表 (2).docx': the n-th different file that came with the same name."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({n})"
    return f"{stem} ({n}).{ext}"


def _shorten(name: str) -> str:
    if len(name.encode("utf-8")) <= _MAX_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 10:
        stem, ext = name, ""
    while len((stem + dot + ext).encode("utf-8")) > _MAX_BYTES:
        stem = stem[:-1]
    return stem + (dot + ext if ext else "")
