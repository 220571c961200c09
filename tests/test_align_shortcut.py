"""The alignment is skipped only where it could not have trusted a blank: with and without the
shortcut, mail bodies give the same places."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import parsers.align as align
from parsers.align import distinctive_words, place_blanks
from parsers.forms import builtin_definitions
from parsers.layout import Line, Stream

STATISTICS = next(d for d in builtin_definitions() if d.layout == "items")
DISTINCTIVE = distinctive_words(STATISTICS.items)
PRINTED = "".join(piece for item in STATISTICS.items for clause in item.clauses for piece in clause.pieces)


def places(text: str) -> list[tuple[str, bool, str]]:
    stream = Stream.of((Line((text,)),))
    found = place_blanks(STATISTICS.items, stream, 0, len(stream.folded), 0.6, DISTINCTIVE)
    return [(p.key, p.found, p.text if p.found else "") for p in found]


def always_aligned(monkeypatch: pytest.MonkeyPatch, text: str) -> list[tuple[str, bool, str]]:
    with monkeypatch.context() as patched:
        patched.setattr(align._Printed, "could_be_found", lambda self, text: True)
        return places(text)


@pytest.mark.parametrize(
    ("body", "skipped"),
    [
        ("您好，附件是本周材料，请查收。", True),
        ("第1周进展见附件，谢谢！\n盐湖区工科局 张三 0359-1234567", True),
        ("本周组织开展宣讲活动3场，参与120人次；应急演练2场。", False),
    ],
)
def test_bodies_give_the_same_places_with_and_without_the_shortcut(
    monkeypatch: pytest.MonkeyPatch, body: str, skipped: bool
) -> None:
    stream = Stream.of((Line((body,)),))
    assert align._printed(STATISTICS.items, DISTINCTIVE).could_be_found(stream.folded) is not skipped
    assert places(body) == always_aligned(monkeypatch, body)
    assert any(found for _, found, _ in places(body)) is not skipped


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.sampled_from(sorted(set(PRINTED + "0123456789，。请查收附件谢谢"))), max_size=40))
def test_random_bodies_of_the_form_s_own_characters_agree(body: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert places(body) == always_aligned(monkeypatch, body)
