"""Judging photos by what was read from them: taken outside the reporting period, or sent before.

Pure and without an image library, so that the poll's own process, which files what a reading
worker read (`ingest/readers.py`), does not load one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

# phash distance (of 64 bits) below which two photos are one: resizing and re-compressing a
# photo moves its hash by a few bits, a different scene by twenty or more.
DUPLICATE_DISTANCE = 8


def outside_period(taken: datetime, start: datetime, end: datetime) -> str | None:
    """A warning when a photo was taken before `start` or after `end` (all aware)."""
    if start <= taken <= end:
        return None
    zone = start.tzinfo
    return (
        f"照片拍摄于 {_cn(taken.astimezone(zone))}，不在本期"
        f"（{_cn(start)} 至 {_cn(end.astimezone(zone))}）之内，请核实是否为本期活动照片"
    )


def near_duplicate(
    phash: str, earlier: Mapping[str, str], max_distance: int = DUPLICATE_DISTANCE
) -> str | None:
    """A warning naming the closest earlier photo within `max_distance` bits, if any.

    `earlier` maps a phash to a description of where it was sent, e.g. "盐湖区工科局 第1周".
    """
    try:
        mine = int(phash, 16)
    except ValueError:
        return None
    best: tuple[int, str] | None = None
    for other, where in earlier.items():
        if len(other) != len(phash):
            continue  # a hash of another size is from another algorithm
        try:
            distance = (mine ^ int(other, 16)).bit_count()
        except ValueError:
            continue
        if distance <= max_distance and (best is None or distance < best[0]):
            best = (distance, where)
    if best is None:
        return None
    return f"这张照片与已报送的照片（{best[1]}）相同或几乎相同，请核实是否重复报送"


def _cn(moment: datetime) -> str:
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment.hour}:{moment.minute:02d}"
