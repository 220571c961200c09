"""Reading one filled blank of a form: "（12）", "12场", "１２", "十二", "无", "/", "约300"…

The rule the clerk relies on: a number is only ever read when the cell says it plainly. "0" and
"无" are a real zero; empty, "/" and "—" are a blank (None), never 0; "约300" is 300 with a
warning; anything else (ranges, "几十", "见附件", decimals) is None with a warning quoting the cell.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True)
class Blank:
    """What one blank says. `warning` is a Chinese phrase quoting the cell, to be prefixed by the
    caller with where the blank is (e.g. "附件2 第1项 第2空 ")."""

    value: int | None
    approximate: bool = False
    warning: str | None = None


UNFILLED = "未填写"

_OPEN = "（(【[〔［〖{｛<《"
_CLOSE = "）)】]〕］〗}｝>》"
# Marks people put in a cell to say "nothing to report here": a blank, not a zero.
_BLANK_MARKS = re.compile(r"[/／\\＼、—–\-－_＿…·.。~～*＊]+")
_ZERO_WORDS = frozenset({"无", "没有", "暂无", "未开展", "暂未开展", "零", "〇"})
_TOTAL_PREFIXES = ("共计", "合计", "累计", "总计", "共", "计", "达")
_APPROX_PREFIXES = ("大约", "约计", "大概", "将近", "接近", "超过", "约", "近", "逾", "超")
_APPROX_SUFFIXES = ("左右", "以上", "余", "多", "来", "+")
# Longest first so that "人次" is not read as "人" followed by junk.
_UNITS = (
    "人观看",
    "场/次",
    "场次",
    "人次",
    "人",
    "场",
    "次",
    "名",
    "位",
    "篇",
    "个",
    "件",
    "条",
    "期",
    "项",
    "家",
    "份",
    "起",
    "处",
    "所",
    "批",
)
_ARABIC = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")
_SCALED = re.compile(r"(\d+(?:\.\d+)?)([万千百])")
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "壹": 1,
    "二": 2,
    "贰": 2,
    "两": 2,
    "三": 3,
    "叁": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_MYRIAD = frozenset("万萬")
_SCALE = {"万": 10000, "千": 1000, "百": 100}
_NUMERAL_CHARS = "".join(_CN_DIGITS) + "".join(_CN_UNITS) + "".join(_CN_MYRIAD)
_SEPARATORS = "，,；;：:、。"


def _fold(text: str) -> str:
    """Full-width digits and letters to ASCII, whitespace dropped.

    The full-width comma is kept apart from ",": in Chinese it separates clauses ("3，120" is
    two numbers), while "3,120" is a thousands separator. Whitespace between two digits is kept,
    so "1 2" stays unreadable instead of becoming 12.
    """
    folded = "".join(c if c == "，" else unicodedata.normalize("NFKC", c) for c in text)
    folded = re.sub(rf"(?<=[\d{_NUMERAL_CHARS}])\s+(?=[\d{_NUMERAL_CHARS}])", " ", folded)
    return re.sub(r"(?! )\s", "", folded.strip()).strip()


def _strip_brackets(text: str) -> str:
    """Remove brackets and separators at either end, balanced or not: "（12）", "(12", "12）；"
    all give "12". A leading "." is kept: ".5" must not become 5."""
    start, end = 0, len(text)
    while start < end and text[start] in _OPEN + _CLOSE + _SEPARATORS:
        start += 1
    while end > start and text[end - 1] in _OPEN + _CLOSE + _SEPARATORS + ".":
        end -= 1
    return text[start:end].strip()


def _strip_unit(text: str) -> str:
    for unit in _UNITS:
        if text.endswith(unit) and len(text) > len(unit):
            return _strip_brackets(text[: -len(unit)])
    return text


def _cn_section(text: str) -> int | None:
    """A Chinese numeral below 10,000 ("三千零五", "十二", "一百一"), or None if malformed."""
    if not text:
        return None
    if text in ("零", "〇"):
        return 0
    value, pos, last_unit, zero_seen = 0, 0, 10000, False
    if text[0] in "十拾":  # "十二": the leading 一 is implied
        value, pos, last_unit = 10, 1, 10
    while pos < len(text):
        char = text[pos]
        if char in "零〇":
            if zero_seen or pos == 0 or last_unit == 10000:
                return None
            zero_seen = True
            pos += 1
            continue
        if char in "十拾" and last_unit > 10:  # "一千零十": 十 stands for 一十
            value, last_unit, zero_seen = value + 10, 10, False
            pos += 1
            continue
        digit = _CN_DIGITS.get(char)
        if digit is None or digit == 0:
            return None
        pos += 1
        if pos < len(text) and text[pos] in _CN_UNITS:
            unit = _CN_UNITS[text[pos]]
            if unit >= last_unit or (zero_seen and unit * 10 == last_unit):
                return None
            value += digit * unit
            last_unit, zero_seen = unit, False
            pos += 1
            continue
        if pos != len(text):
            return None  # two digits in a row: "二三" is a range, not 23
        if zero_seen or last_unit in (10, 10000):
            return value + digit
        return value + digit * last_unit // 10  # colloquial "一百一" = 110, "三千五" = 3500
    return None if zero_seen else value


def _chinese(text: str) -> int | None:
    """A Chinese numeral below 100,000,000, lower or upper case ("壹万贰仟")."""
    if not text or any(c not in _CN_DIGITS and c not in _CN_UNITS and c not in _CN_MYRIAD
                       for c in text):
        return None
    parts = re.split("[万萬]", text)
    if len(parts) > 2:
        return None
    if len(parts) == 1:
        return _cn_section(text)
    high_text, low_text = parts
    high = _cn_section(high_text)
    if high is None or high == 0:
        return None
    if not low_text:
        return high * 10000
    if low_text[0] in "零〇":
        low = _cn_section(low_text[1:])
        return None if low is None or low >= 1000 else high * 10000 + low
    if len(low_text) == 1:  # colloquial "两万三" = 23,000
        digit = _CN_DIGITS.get(low_text)
        return None if not digit else high * 10000 + digit * 1000
    low = _cn_section(low_text)
    return None if low is None or low < 1000 else high * 10000 + low


def _number(text: str) -> int | None:
    """An exact count written in Arabic digits (with thousands commas), as "1.2万", or in Chinese."""
    if _ARABIC.fullmatch(text):
        return int(text.replace(",", ""))
    scaled = _SCALED.fullmatch(text)
    if scaled:
        whole, _, fraction = scaled.group(1).partition(".")
        scale = _SCALE[scaled.group(2)]
        digits = int(whole + fraction) * scale
        divisor = 10 ** len(fraction)
        return digits // divisor if digits % divisor == 0 else None
    if re.fullmatch(r"\d+\.0+", text):  # a spreadsheet's "12.0"
        return int(text.split(".")[0])
    return _chinese(text)


def _strip_prefix(text: str, prefixes: tuple[str, ...]) -> tuple[str, bool]:
    for prefix in prefixes:
        if text.startswith(prefix) and len(text) > len(prefix):
            return text[len(prefix) :], True
    return text, False


def _strip_suffix(text: str, suffixes: tuple[str, ...]) -> tuple[str, bool]:
    for suffix in suffixes:
        if text.endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)], True
    return text, False


def read_blank(text: str) -> Blank:
    """Read the contents of one numeric blank as the unit filled it.

    >>> read_blank("（ 12 ）场").value
    12
    >>> read_blank("/")
    Blank(value=None, approximate=False, warning='“/” 按未填写计')
    """
    cell = text.strip()
    folded = _fold(cell)
    if not _strip_brackets(folded):
        return Blank(None, warning=UNFILLED)
    if _BLANK_MARKS.fullmatch(folded) or _BLANK_MARKS.fullmatch(_strip_brackets(folded)):
        return Blank(None, warning=f"“{cell}” 按未填写计")
    body = _strip_unit(_strip_brackets(folded))
    if body in _ZERO_WORDS:
        return Blank(0)
    body, _ = _strip_prefix(body, _TOTAL_PREFIXES)
    body, approx_before = _strip_prefix(body, _APPROX_PREFIXES)
    body, approx_after = _strip_suffix(body, _APPROX_SUFFIXES)
    body = _strip_unit(body)  # "300人左右": the unit sits inside the approximation
    approximate = approx_before or approx_after
    value = _number(_strip_brackets(body))
    if value is None:
        if re.fullmatch(r"\d+\.\d+", body):
            return Blank(None, warning=f"“{cell}” 不是整数，未计入")
        return Blank(None, warning=f"“{cell}” 不是一个确定的数字，未计入")
    if approximate:
        return Blank(value, approximate=True, warning=f"“{cell}” 按 {value} 计")
    return Blank(value)
