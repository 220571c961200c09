"""read_blank: every way a county clerk fills "（ ）", and the rule that a number is read only when
the cell says it plainly."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from parsers.numerals import Blank, read_blank
from tests.formfactory import NUMBER_STYLES, write_number

BRACKETS = [("（", "）"), ("(", ")"), ("【", "】"), ("[", "]"), ("〔", "〕"), ("（", ")"), ("", "")]
UNITS = ["", "场", "人次", "人", "个", "篇", "次", "场次", "场/次"]
# Characters that appear in no number, unit, or word the reader accepts.
JUNK = "abqxyzQZ?#@&%见附详情况表格好的我你他们后天"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("（12）", Blank(12)),
        ("(12)", Blank(12)),
        ("【12】", Blank(12)),
        ("12场", Blank(12)),
        ("（ 1 2 ）", Blank(None, warning="“（ 1 2 ）” 不是一个确定的数字，未计入")),
        ("（ 12 ）", Blank(12)),
        ("１２", Blank(12)),
        ("十二", Blank(12)),
        ("一百二十", Blank(120)),
        ("两", Blank(2)),
        ("两千零五", Blank(2005)),
        ("壹万贰仟", Blank(12000)),
        ("一百一", Blank(110)),
        ("1.2万", Blank(12000)),
        ("12,345", Blank(12345)),
        ("共12场", Blank(12)),
        ("0", Blank(0)),
        ("无", Blank(0)),
        ("（无）", Blank(0)),
        ("零", Blank(0)),
        ("", Blank(None, warning="未填写")),
        ("（  ）", Blank(None, warning="未填写")),
        ("/", Blank(None, warning="“/” 按未填写计")),
        ("（—）", Blank(None, warning="“（—）” 按未填写计")),
        ("——", Blank(None, warning="“——” 按未填写计")),
        ("500余", Blank(500, True, "“500余” 按 500 计")),
        ("约300", Blank(300, True, "“约300” 按 300 计")),
        ("300多", Blank(300, True, "“300多” 按 300 计")),
        ("300人左右", Blank(300, True, "“300人左右” 按 300 计")),
        ("十余", Blank(10, True, "“十余” 按 10 计")),
        ("两三", Blank(None, warning="“两三” 不是一个确定的数字，未计入")),
        ("2-3", Blank(None, warning="“2-3” 不是一个确定的数字，未计入")),
        ("几十", Blank(None, warning="“几十” 不是一个确定的数字，未计入")),
        ("上百", Blank(None, warning="“上百” 不是一个确定的数字，未计入")),
        ("3，120", Blank(None, warning="“3，120” 不是一个确定的数字，未计入")),
        ("3场120人次", Blank(None, warning="“3场120人次” 不是一个确定的数字，未计入")),
        ("12.5", Blank(None, warning="“12.5” 不是整数，未计入")),
        ("见附件", Blank(None, warning="“见附件” 不是一个确定的数字，未计入")),
        ("二〇二三", Blank(None, warning="“二〇二三” 不是一个确定的数字，未计入")),
    ],
)
def test_fill_styles(cell: str, expected: Blank) -> None:
    assert read_blank(cell) == expected


@given(
    number=st.integers(0, 99_999),
    style=st.sampled_from(NUMBER_STYLES),
    brackets=st.sampled_from(BRACKETS),
    spaces=st.booleans(),
    unit=st.sampled_from(UNITS),
    total=st.booleans(),
)
@example(number=10, style="chinese", brackets=("", ""), spaces=False, unit="", total=False)
@example(number=20000, style="liang", brackets=("（", "）"), spaces=True, unit="人次", total=False)
@example(number=10010, style="upper", brackets=("", ""), spaces=False, unit="", total=False)
def test_any_number_in_any_style_reads_back(
    number: int, style: str, brackets: tuple[str, str], spaces: bool, unit: str, total: bool
) -> None:
    pad = " " if spaces else ""
    written = f"{'共' if total else ''}{write_number(number, style)}{unit}"
    assert read_blank(f"{brackets[0]}{pad}{written}{pad}{brackets[1]}") == Blank(number)


@given(
    number=st.integers(1, 99_999),
    style=st.sampled_from(["arabic", "fullwidth", "chinese"]),
    word=st.sampled_from(["约{}", "{}余", "{}多", "近{}", "{}左右", "大约{}", "{}余人次"]),
)
def test_approximate_numbers_read_with_a_warning(number: int, style: str, word: str) -> None:
    cell = word.format(write_number(number, style))
    assert read_blank(cell) == Blank(number, True, f"“{cell}” 按 {number} 计")


@given(
    st.text(alphabet="0123456789０１２一二三十百千万两零无约余多场人次（）()【】 " + JUNK, min_size=1)
    .filter(lambda text: any(c in JUNK for c in text))
)
def test_junk_never_reads_as_a_number(cell: str) -> None:
    blank = read_blank(cell)
    assert blank.value is None
    assert blank.warning is not None and (cell.strip() in blank.warning or blank.warning == "未填写")


@given(st.sampled_from(["", " ", "\u3000", "/", "／", "—", "——", "-", "--", "\\", "、", "…", "___"]),
       st.sampled_from(BRACKETS))
def test_blanks_are_never_zero(mark: str, brackets: tuple[str, str]) -> None:
    assert read_blank(f"{brackets[0]}{mark}{brackets[1]}").value is None


@given(st.sampled_from(["0", "０", "无", "零", "〇", "没有", "暂无", "未开展", "0场"]),
       st.sampled_from(BRACKETS))
def test_none_written_is_zero(word: str, brackets: tuple[str, str]) -> None:
    assert read_blank(f"{brackets[0]}{word}{brackets[1]}") == Blank(0)
