"""How bodies are grouped into FETCHes: as many to a FETCH as the budget allows; a large one alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.sources import BODY_BUDGET, BODY_PIECE, fetch_groups


def sizes_of(groups: list[tuple[list[str], bool]], size: dict[str, int | None]) -> list[int]:
    return [sum(size[uid] or 0 for uid in uids) for uids, _ in groups]


def test_a_week_of_photo_mails_comes_in_one_fetch() -> None:
    wanted = [(str(n), 60_000) for n in range(200)]
    assert fetch_groups(wanted) == [([uid for uid, _ in wanted], False)]


def test_a_fetch_takes_as_many_bodies_as_its_budget_allows() -> None:
    wanted = [(str(n), BODY_BUDGET // 4 - 1) for n in range(9)]
    assert [len(uids) for uids, _ in fetch_groups(wanted)] == [4, 4, 1]


def test_a_large_or_unmeasured_body_comes_alone_in_pieces() -> None:
    wanted = [("1", 1000), ("2", BODY_PIECE + 1), ("3", 1000), ("4", None), ("5", 1000)]
    assert fetch_groups(wanted) == [(["1"], False), (["2"], True), (["3"], False), (["4"], True), (["5"], False)]


@given(st.lists(st.one_of(st.none(), st.integers(1, 2 * BODY_PIECE)), max_size=300))
def test_every_body_once_in_order_and_no_fetch_over_budget(sizes: list[int | None]) -> None:
    wanted = [(str(n), size) for n, size in enumerate(sizes)]
    groups = fetch_groups(wanted)
    assert [uid for uids, _ in groups for uid in uids] == [uid for uid, _ in wanted]
    size = dict(wanted)
    for uids, in_pieces in groups:
        assert uids
        if in_pieces:
            assert len(uids) == 1 and (size[uids[0]] is None or (size[uids[0]] or 0) > BODY_PIECE)
        else:
            total = sum(size[uid] or 0 for uid in uids)
            assert len(uids) == 1 or total <= BODY_BUDGET
