"""Filled forms made the way county offices make them, with the truth known.

The printed forms are copied here from the notice (../shared/seed), not from the parser's YAML,
so a mistake in a definition shows up as a wrong reading. A form is filled by a `Habit` (how one
clerk fills blanks: brackets kept or typed over, full-width digits, Chinese numerals, "无", "/",
"约300", a remark after a figure…), laid out as Word or Excel would hold it (the printed table,
WPS-style merged label cells, a form inside a layout table, tracked changes, one cell per piece),
and, through LibreOffice, saved again as .docx/.doc/.xlsx/.xls the way an office suite writes them.

    .venv/bin/python -m tests.formfactory tests/cases/forms   # regenerate the committed cases
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import docx
import openpyxl
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.table import _Cell
from docx.text.paragraph import Paragraph
from openpyxl.worksheet.worksheet import Worksheet

# ---------------------------------------------------------------- the printed forms (附件1/2/3)

STATISTICS_TITLE = "“安全生产月”活动进展情况统计表"
LIAISON_TITLE = "“安全生产月”活动联络员表"
MEDIA_TITLE = "“安全生产月”相关活动情况报送表"
BLANK = "（ ）"

# (label as printed, progress text as printed, one string per printed line); "（ ）" = blank.
STATISTICS_ITEMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "1.开展习近平总书记关于安全生产重要论述宣贯活动",
        (
            "组织开展宣讲活动（ ）场，参与（ ）人次；",
            "发表评论文章或心得体会（ ）篇；",
            "组织开展“安全生产大家谈”“班前会”“以案说法”等活动（ ）场，参与（ ）人次。",
        ),
    ),
    (
        "2.着眼于“人人讲安全、个个会应急”，大力推动安全宣传“五进”活动",
        (
            "参与“人人讲安全，个个会应急”网络知识竞赛（ ）人，答题（ ）人次；"
            "参加线上“逃生演练训练营”活动发布视频（ ）个。",
        ),
    ),
    (
        "3.聚焦专项排查整治行动，开展企业主要负责人“五带头”宣传活动",
        (
            "开展企业主要负责人“安全承诺践诺”活动（ ）场，参与（ ）人次；",
            "报道企业主要负责人“五带头”（ ）次；",
            "开展“动火作业风险我知道”宣传活动（ ）场，参与（ ）人次；",
            "对电焊工等危险作业人员开展安全培训（ ）场，参与（ ）人次；",
            "开展“外包外租大排查”活动（ ）场，参与（ ）人次；",
            "开展外包外租典型违法案例专题警示教育（ ）场，参与（ ）人次；",
            "对外包外租项目开展大排查（ ）次。",
        ),
    ),
    (
        "4. 发挥媒体监督和社会监督作\n用，开展全员查找身边隐患宣传\n活动",
        (
            "曝光重大事故隐患和突出问题（   ）个；",
            "在本级以上主流媒体公布“一案双罚”典型案例（   ）个，"
            "安全生产行刑衔接(含危险作业罪)等各类典型案例（   ）个。",
        ),
    ),
    (
        "5.坚持全民参与，组织开展常态\n化应急演练活动",
        (
            "企业组织事故应急演练（ ）场，参与（ ）人次，开展从业人员自救互救技能培训（ ）场，"
            "参与（ ）人次；",
            "农村村庄、城市社区、学校、家庭开展科普知识宣传和情景模拟、实战推演、逃生演练、"
            "自救互救等活动（ ）场，参与（ ）人次。",
        ),
    ),
    (
        "6.充分发挥地域特色，组织开展\n“安全宣传咨询日”活动",
        ("组织开展“安全宣传咨询日”现场活动（ ）场、参与（ ）人次，网络直播（ ）场、（ ）人观看。",),
    ),
    ("7.其他特色活动", ("活动名称（ ），组织（ ）场/次，参与（ ）人次。",)),
)
_BLANK_PATTERN = re.compile(r"（\s*）")
TEXT_KEYS = frozenset({"7.1"})

LIAISON_LABELS = ("单位名称", "姓  名", "办公电话", "手    机", "传  真", "微信号", "电子邮箱", "通讯地址")
LIAISON_KEYS = ("unit", "name", "office_phone", "mobile", "fax", "wechat", "email", "address")
MEDIA_HEADINGS = ("序号", "活动内容", "时间", "刊登媒体", "媒体链接", "备注")
MEDIA_KEYS = ("number", "content", "time", "media", "link", "note")
MEDIA_PRINTED = (
    "党委（组）学习中心组集中组织开展习近平总书记关于安全生产重要论述集中学习教育活动",
    "开展习近平总书记关于安全生产重要论述宣讲活动、发表评论文章等",
    "企业主要负责人“五带头”宣传报道情况",
    "开展企业主要负责人“安全承诺践诺”活动",
    "“一案双罚”，以及安全生产行刑衔接（含危险作业罪）等各类典型案例",
)

UNITS = (
    "盐湖区", "永济市", "河津市", "临猗县", "万荣县", "闻喜县", "稷山县",
    "新绛县", "绛县", "垣曲县", "夏县", "平陆县", "芮城县",
)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国晓东海燕志强文斌"
_ACTIVITIES = (
    "安全生产知识竞赛",
    "“安全生产月”宣传进企业",
    "危化品泄漏应急演练观摩",
    "安全生产法律法规宣讲进园区",
    "“人人讲安全、个个会应急”主题演讲比赛",
    "企业安全生产标准化现场推进会（线上）",
    "送安全知识下乡，进社区",
)
_MEDIA = ("运城日报", "运城新闻网", "黄河晨报", "学习强国运城学习平台", "微信公众号“运城工信”", "山西日报")


def figure_keys() -> tuple[str, ...]:
    keys: list[str] = []
    for number, (_, lines) in enumerate(STATISTICS_ITEMS, 1):
        count = sum(len(_BLANK_PATTERN.findall(line)) for line in lines)
        keys.extend(f"{number}.{index}" for index in range(1, count + 1))
    return tuple(keys)


def _units_after_blanks() -> dict[str, str]:
    """The printed word after each blank ("场", "人次"), to choose realistic figures."""
    units = {}
    for number, (_, lines) in enumerate(STATISTICS_ITEMS, 1):
        pieces = _BLANK_PATTERN.split("".join(lines))
        for index, after in enumerate(pieces[1:], 1):
            units[f"{number}.{index}"] = re.match(r"[^，；。、]*", after).group()  # type: ignore[union-attr]
    return units


UNIT_AFTER = _units_after_blanks()

# ---------------------------------------------------------------- numbers as people write them

_LOWER = "零一二三四五六七八九"
_UPPER = "零壹贰叁肆伍陆柒捌玖"
_LOWER_UNITS = ("", "十", "百", "千")
_UPPER_UNITS = ("", "拾", "佰", "仟")


def chinese_numeral(
    number: int,
    *,
    upper: bool = False,
    liang: bool = False,
    short_ten: bool = True,
    colloquial: bool = False,
) -> str:
    """`number` (0–99,999,999) in Chinese: 1010 "一千零一十", 12 "十二" (or "一十二"), with 两 for
    2 before 百/千/万 (`liang`), upper case 壹贰叁 (`upper`), or the spoken short form
    "一百一" for 110 (`colloquial`, where it applies)."""
    digits, units = (_UPPER, _UPPER_UNITS) if upper else (_LOWER, _LOWER_UNITS)
    myriad = "萬" if upper else "万"
    if number == 0:
        return digits[0]

    def section(value: int) -> str:
        text, zero = "", False
        for power in (3, 2, 1, 0):
            digit = value // 10**power % 10
            if digit == 0:
                zero = bool(text)
                continue
            if zero:
                text += digits[0]
                zero = False
            text += digits[digit] + units[power]
        return text

    high, low = divmod(number, 10000)
    text = section(high) + myriad if high else ""
    if low:
        if high and low < 1000:
            text += digits[0]
        text += section(low)
    if not upper:
        if short_ten and text.startswith("一十"):
            text = text[1:]
        if liang:
            text = re.sub("二(?=[百千万])", "两", text)
            text = re.sub("^二$", "两", text)
    if colloquial and len(text) >= 3 and text[-1] in units[1:] and text[-3] in (*units[1:], myriad):
        text = text[:-1]
    return text


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" else c for c in text)


NUMBER_STYLES = ("arabic", "fullwidth", "chinese", "liang", "upper", "colloquial", "thousands")


def write_number(number: int, style: str) -> str:
    """`number` in one of NUMBER_STYLES (each reads back exactly)."""
    if style == "fullwidth":
        return fullwidth(str(number))
    if style == "chinese":
        return chinese_numeral(number)
    if style == "liang":
        return chinese_numeral(number, liang=True, short_ten=False)
    if style == "upper":
        return chinese_numeral(number, upper=True)
    if style == "colloquial":
        return chinese_numeral(number, liang=True, colloquial=True)
    if style == "thousands":
        return f"{number:,}"
    return str(number)


# ---------------------------------------------------------------- filling habits

@dataclass(frozen=True)
class Habit:
    """How one clerk fills the blanks of a form."""

    brackets: tuple[str, str] = ("（", "）")  # ("", "") types the figure over the brackets
    spaces: bool = False  # "（ 12 ）"
    number_styles: tuple[str, ...] = ("arabic",)
    blank: str = "（ ）"  # what a blank with nothing to report looks like
    zero: str = "0"
    approximate: float = 0.0  # share of large figures written "约300", "300余"
    unit_inside: float = 0.0  # share written "（12场）"
    remark: float = 0.0  # share followed by a remark "（其中线上1场）"
    unfilled: float = 0.12  # share of blanks with nothing to report
    zeros: float = 0.08
    edits: float = 0.0  # share of printed lines retyped: words dropped, typos, spaces, breaks
    cover: bool = False  # a covering letter above the form, with figures of its own
    header_labels: tuple[str, ...] = ("填报单位（盖章）：", "联系人：", "电话：", "填报日期：")


def random_habit(rng: random.Random) -> Habit:
    brackets = rng.choice(
        [("（", "）")] * 5 + [("(", ")")] * 2 + [("【", "】"), ("", ""), ("", ""), ("（", ")")]
    )
    styles = rng.choice(
        [("arabic",)] * 6
        + [("fullwidth",), ("chinese", "arabic"), ("liang",), ("arabic", "fullwidth"), ("upper",)]
    )
    return Habit(
        brackets=brackets,
        spaces=rng.random() < 0.3,
        number_styles=styles,
        blank=rng.choice(["（ ）", "（  ）", "（）", "/", "（/）", "—", "（—）", "", "（ ）", "（ ）"]),
        zero=rng.choice(["0", "0", "无", "（0）", "（无）", "０", "零"]),
        approximate=rng.choice([0.0, 0.0, 0.05, 0.15]),
        unit_inside=rng.choice([0.0, 0.0, 0.1]),
        remark=rng.choice([0.0, 0.0, 0.0, 0.05]),
        unfilled=rng.choice([0.0, 0.1, 0.2, 0.4]),
        zeros=rng.choice([0.0, 0.05, 0.15]),
        edits=rng.choice([0.0, 0.0, 0.1, 0.3]),
        cover=rng.random() < 0.25,
        header_labels=rng.choice([
            ("填报单位（盖章）：", "联系人：", "电话：", "填报日期："),
            ("填报单位(盖章):", "联系人:", "电话:", "填报日期:"),
            ("填报单位：", "联系人：", "联系电话：", "日期："),
        ]),
    )


@dataclass(frozen=True)
class Statistics:
    """A filled 附件2: the truth, and the text written in place of each blank."""

    header: dict[str, str]
    figures: dict[str, int | str | None]
    written: dict[str, str]
    approximate: tuple[str, ...] = ()
    # (label, lines) per item as this unit's form shows them: each blank a placeholder for
    # `render`, remarks in place after their unit word, retyping done.
    lines: tuple[tuple[str, tuple[str, ...]], ...] = ()
    cover: tuple[str, ...] = ()
    header_labels: tuple[str, ...] = ()
    footer: str = ""  # "填表人：… 联系电话：…" below the table

    def items(self) -> list[tuple[str, list[str]]]:
        return [(label, list(lines)) for label, lines in self.lines]

    def header_line(self) -> str:
        values = [self.header[k] for k in ("填报单位", "联系人", "电话", "填报日期")]
        return "        ".join(f"{label}{value}" for label, value
                               in zip(self.header_labels, values, strict=True))

    def render(self, text: str) -> str:
        """Put the written blanks into `text`."""
        return re.sub(r"\ue000([\d.]+)\ue000", lambda m: self.written[m.group(1)], text)


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice([1, 2])))


def _phone(rng: random.Random) -> str:
    return rng.choice(
        [f"0359-{rng.randint(2000000, 8999999)}", f"1{rng.choice('3578')}{rng.randint(0, 9)}"
         f"{rng.randint(10000000, 99999999)}", f"0359—{rng.randint(2000000, 8999999)}"]
    )


def _date(rng: random.Random) -> str:
    day = rng.choice([7, 14, 21, 28, 6, 13])
    return rng.choice([f"2023年6月{day}日", f"2023.6.{day}", f"2023-06-{day:02d}", f"6月{day}日"])


def _figure(key: str, rng: random.Random, previous: int | None) -> int:
    unit = UNIT_AFTER[key]
    if unit.startswith("人") and previous is not None:
        return previous * rng.randint(8, 60) + rng.randint(0, 30)
    if unit.startswith("人"):
        return rng.choice([rng.randint(10, 500), rng.randint(100, 5000), rng.randint(1000, 99999)])
    return rng.choice([rng.randint(1, 9), rng.randint(1, 30), rng.randint(10, 120)])


def fill_statistics(rng: random.Random, habit: Habit, unit: str) -> Statistics:
    header = {
        "填报单位": f"{unit}工科局",
        "联系人": _name(rng),
        "电话": _phone(rng),
        "填报日期": _date(rng),
    }
    figures: dict[str, int | str | None] = {}
    written: dict[str, str] = {}
    remarks: dict[str, str] = {}
    approximate = []
    previous: int | None = None
    for key in figure_keys():
        if key in TEXT_KEYS:
            name = rng.choice([*_ACTIVITIES, None])
            figures[key] = name
            if name is None:
                written[key] = rng.choice([habit.blank or BLANK, "（无）"])
            else:
                opening, closing = habit.brackets
                written[key] = f"{opening or '（'}{name}{closing or '）'}"
            continue
        roll = rng.random()
        if roll < habit.unfilled:
            figures[key], written[key], previous = None, habit.blank, None
            continue
        if roll < habit.unfilled + habit.zeros:
            figures[key], previous = 0, 0
            written[key] = habit.zero if habit.zero.startswith("（") or habit.brackets[0] == "" \
                else f"{habit.brackets[0]}{habit.zero}{habit.brackets[1]}"
            continue
        value = _figure(key, rng, previous)
        previous = value if UNIT_AFTER[key].startswith("场") else None
        style = rng.choice(habit.number_styles)
        text = write_number(value, style)
        if value >= 100 and rng.random() < habit.approximate:
            value = value // 100 * 100
            text = rng.choice(["约{}", "{}余", "{}多", "近{}"]).format(write_number(value, style))
            approximate.append(key)
        if rng.random() < habit.unit_inside:
            text += UNIT_AFTER[key]
        if habit.spaces:
            text = f" {text} "
        opening, closing = habit.brackets
        figures[key] = value
        written[key] = f"{opening}{text}{closing}"
        if rng.random() < habit.remark:
            remarks[key] = rng.choice(["（其中线上1场）", "（含线上）", "（线上线下结合）", "（其中2场为线上）"])
    return Statistics(
        header,
        figures,
        written,
        tuple(approximate),
        lines=_lines(rng, habit, figures, remarks),
        cover=_cover(rng, unit) if habit.cover else (),
        header_labels=habit.header_labels,
    )


def with_footer(statistics: Statistics, rng: random.Random) -> Statistics:
    """The form with a "填表人：… 联系电话：…" line below its table, as some units add."""
    footer = (f"填表人：{_name(rng)}    审核人：{_name(rng)}    联系电话：{_phone(rng)}    "
              f"{_date(rng)}")
    return replace(statistics, footer=footer)


_PLACEHOLDER = re.compile("(\ue000[\\d.]+\ue000)")
_TYPOS = "的了在是有和与及等各类项"


def _retype(line: str, rng: random.Random, figures: dict[str, int | str | None]) -> str:
    """One printed line as a clerk retyping it leaves it (placeholders untouched)."""
    keys = re.findall("\ue000([\\d.]+)\ue000", line)
    edit = rng.choice(["drop", "punctuation", "break", "spaces", "typo", "delete"])
    if edit == "delete" and keys and all(figures[k] is None for k in keys):
        return ""  # nothing to report on that line: the clerk deleted it
    if edit == "drop":
        return line.replace("参与", "", 1)
    if edit == "punctuation":
        return line.replace("，", ",").replace("；", ";").rstrip("。")
    parts = _PLACEHOLDER.split(line)
    words = [n for n, part in enumerate(parts) if part and not part.startswith("\ue000")]
    chosen = rng.choice(words)
    text = parts[chosen]
    position = rng.randrange(len(text) + 1)
    if edit == "break":
        parts[chosen] = f"{text[:position]}\n{text[position:]}"
    elif edit == "spaces":
        parts[chosen] = f"{text[:position]} {text[position:]}"
    else:
        letters = [n for n, c in enumerate(text) if "\u4e00" <= c <= "\u9fff"]
        if len(letters) > 4:
            # Not next to a blank: the printed unit word after a blank is what places it.
            n = rng.choice(letters[1:-2])
            parts[chosen] = text[:n] + rng.choice(_TYPOS) + text[n + 1 :]
    return "".join(parts)


def _lines(
    rng: random.Random, habit: Habit, figures: dict[str, int | str | None], remarks: dict[str, str]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    items = []
    for number, (label, printed) in enumerate(STATISTICS_ITEMS, 1):
        out, index = [], 0
        for line in printed:
            pieces = _BLANK_PATTERN.split(line)
            text = pieces[0]
            for piece in pieces[1:]:
                index += 1
                text += f"\ue000{number}.{index}\ue000{piece}"
            for key, remark in remarks.items():
                mark = f"\ue000{key}\ue000{UNIT_AFTER[key]}"
                text = text.replace(mark, mark + remark)
            if rng.random() < habit.edits:
                text = _retype(text, rng, figures)
            if text:
                out.append(text)
        items.append((label, tuple(out)))
    return tuple(items)


def _cover(rng: random.Random, unit: str) -> tuple[str, ...]:
    """A covering letter whose figures (totals so far) are not the week's."""
    return (
        f"{unit}工科局关于报送2023年“安全生产月”第二周活动开展情况的报告",
        "市工信局：",
        f"截至目前，我局累计组织开展宣讲活动{rng.randint(20, 60)}场，参与"
        f"{rng.randint(1000, 9000)}人次；组织企业开展应急演练{rng.randint(10, 40)}场。"
        "现将本周活动进展情况统计表报送如下。",
    )


def header_line(header: dict[str, str]) -> str:
    return (
        f"填报单位（盖章）：{header['填报单位']}        联系人：{header['联系人']}        "
        f"电话：{header['电话']}        填报日期：{header['填报日期']}"
    )


# ---------------------------------------------------------------- Word

_KEPT_STYLES = frozenset({"Normal", "TableNormal", "TableGrid", "DefaultParagraphFont"})
_DROPPED_PARTS = ("stylesWithEffects", "thumbnail", "customXml", "webSettings")


def _saved(document: docx.document.Document) -> bytes:
    """The document's bytes, without the parts and styles of python-docx's template that
    nobody's form needs (they would make each committed case 38 KB)."""
    for rels in (document.part.rels, document.part.package.rels):
        for rel_id, rel in list(rels.items()):
            if any(name in rel.reltype for name in _DROPPED_PARTS):
                del rels[rel_id]
    styles = document.styles.element
    for style in styles.findall(qn("w:style")):
        if style.get(qn("w:styleId")) not in _KEPT_STYLES:
            styles.remove(style)
    latent = styles.find(qn("w:latentStyles"))
    if latent is not None:
        styles.remove(latent)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()

def _runs(paragraph: Paragraph, text: str, rng: random.Random, tracked: bool) -> None:
    """Write `text` as Word would after typing into the form: the printed words in runs split
    at arbitrary places, each figure in a run of its own (underlined, or a tracked insertion)."""
    for part in re.split(r"(\ue000[\d.]+\ue000)", text):
        if not part:
            continue
        if part.startswith("\ue000"):
            run = paragraph.add_run(part)
            run.underline = True
            if tracked:
                insertion = OxmlElement("w:ins")
                insertion.set(qn("w:id"), str(rng.randint(1, 10**6)))
                insertion.set(qn("w:author"), "user")
                run._r.addprevious(insertion)
                insertion.append(run._r)
            continue
        cuts = sorted(rng.sample(range(1, len(part)), min(len(part) - 1, rng.randint(0, 3))))
        for start, end in zip([0, *cuts], [*cuts, len(part)], strict=True):
            paragraph.add_run(part[start:end])


def _fill_cell(cell: _Cell, lines: Sequence[str], rng: random.Random, tracked: bool) -> None:
    cell.text = ""
    for number, line in enumerate(lines):
        paragraph = cell.paragraphs[0] if number == 0 else cell.add_paragraph()
        _runs(paragraph, line, rng, tracked)


def _render_document(document: docx.document.Document, statistics: Statistics) -> bytes:
    """Replace the placeholders left in runs by their written text, then save."""
    body = document.element.body
    for text in body.iter(qn("w:t")):
        if text.text and "\ue000" in text.text:
            text.text = statistics.render(text.text)
    return _saved(document)


# tests/samplebuilder.py draws from these tuples and from the functions below with one seeded
# generator: a new draw or layout here changes the bundled demo mailbox (ingest/sample).
STATISTICS_WORD_LAYOUTS = (
    "printed", "merged", "nested", "header-in-table", "tracked", "with-media"
)


def statistics_docx(
    statistics: Statistics,
    layout: str,
    rng: random.Random,
    media: Sequence[dict[str, str | None]] = (),
) -> bytes:
    """附件2 as a Word file, in one of STATISTICS_WORD_LAYOUTS; "with-media" adds 附件3 after
    it (units often fill both in one file), with `media` rows or random ones."""
    document = docx.Document()
    container: docx.document.Document | _Cell = document
    if layout == "nested":
        outer = document.add_table(rows=1, cols=1).cell(0, 0)
        outer.text = ""
        container = outer
    for paragraph in statistics.cover:
        container.add_paragraph(paragraph)
    container.add_paragraph("附件2")
    container.add_paragraph(STATISTICS_TITLE)
    if layout != "header-in-table":
        container.add_paragraph(statistics.header_line())
    items = statistics.items()
    tracked = layout == "tracked"
    if layout == "merged":
        rows = sum(len(lines) for _, lines in items) + 1
        table = container.add_table(rows=rows, cols=2)
        table.cell(0, 0).text, table.cell(0, 1).text = "活动项目", "活动进展情况"
        row = 1
        for label, lines in items:
            first = row
            for line in lines:
                _fill_cell(table.cell(row, 1), [line], rng, tracked)
                row += 1
            merged = table.cell(first, 0).merge(table.cell(row - 1, 0))
            merged.text = label
    else:
        extra = 1 if layout == "header-in-table" else 0
        table = container.add_table(rows=len(items) + 1 + extra, cols=2)
        if extra:
            top = table.cell(0, 0).merge(table.cell(0, 1))
            top.text = statistics.header_line()
        table.cell(extra, 0).text, table.cell(extra, 1).text = "活动项目", "活动进展情况"
        for row, (label, lines) in enumerate(items, 1 + extra):
            table.cell(row, 0).text = label
            _fill_cell(table.cell(row, 1), lines, rng, tracked)
    table.style = document.styles["Table Grid"]
    if statistics.footer:
        container.add_paragraph(statistics.footer)
    if layout == "with-media":
        _media_part(document, statistics.header, media or random_media_rows(rng))
    document.add_paragraph()  # Word ends a body with a paragraph, never with a table
    return _render_document(document, statistics)


# ---------------------------------------------------------------- Excel

STATISTICS_SHEET_LAYOUTS = ("columns", "merged", "cells")


def _numeric(written: str) -> int | str:
    """A figure typed alone into a spreadsheet cell is a number, not text."""
    return int(written) if re.fullmatch(r"\d+", written) else written


def first_sheet(book: openpyxl.Workbook) -> Worksheet:
    """The sheet a new workbook opens on."""
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    return sheet


def statistics_xlsx(statistics: Statistics, layout: str) -> bytes:
    """附件2 as a workbook: the progress text in column B ("columns"), one printed line per row
    under a merged label cell ("merged"), or the printed pieces and figures in cells of their
    own ("cells", figures as numbers)."""
    book = openpyxl.Workbook()
    sheet = first_sheet(book)
    sheet.title = "附件2"
    sheet.append([STATISTICS_TITLE])
    sheet.merge_cells("A1:B1")
    values = [statistics.header[k] for k in ("填报单位", "联系人", "电话", "填报日期")]
    sheet.append([c for pair in zip(statistics.header_labels, values, strict=True) for c in pair])
    sheet.append(["活动项目", "活动进展情况"])
    for label, lines in statistics.items():
        first = sheet.max_row + 1
        if layout == "columns":
            sheet.append([label, statistics.render("\n".join(lines))])
            continue
        for line in lines:
            if layout == "merged":
                sheet.append([label if sheet.max_row + 1 == first else None,
                              statistics.render(line)])
                continue
            cells: list[int | str | None] = [label if sheet.max_row + 1 == first else None]
            for part in re.split(r"(\ue000[\d.]+\ue000)", line):
                if part.startswith("\ue000"):
                    written = statistics.render(part)
                    bracketed = re.fullmatch(r"([（(【]?\s*)(.*?)(\s*[）)】]?)", written)
                    assert bracketed is not None
                    opening, inner, closing = bracketed.groups()
                    cells[-1] = f"{cells[-1] or ''}{opening}"
                    cells.append(_numeric(inner) if inner else None)
                    cells.append(closing)
                elif part:
                    text = statistics.render(part)
                    if isinstance(cells[-1], str) and len(cells) > 1:
                        cells[-1] += text
                    else:
                        cells.append(text)
            sheet.append(cells)
        if sheet.max_row > first:
            sheet.merge_cells(start_row=first, start_column=1, end_row=sheet.max_row, end_column=1)
    if statistics.footer:
        sheet.append([statistics.footer])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- mail bodies

def statistics_body(statistics: Statistics, html: bool) -> tuple[str, str | None]:
    """The form copied into a mail: as prose lines, or as a pasted table (HTML and its text)."""
    items = [(label.replace("\n", ""), statistics.render("".join(lines)))
             for label, lines in statistics.items()]
    greeting = "\n".join(statistics.cover) or "郝科长：\n现将我局本周安全生产月活动进展情况报送如下："
    greeting += "\n"
    header = statistics.header_line()
    if not html:
        text = greeting + header + "\n" + "\n".join(f"{label}：{text}" for label, text in items)
        return text + "\n\n此致\n敬礼", None
    rows = "".join(f"<tr><td>{label}</td><td>{text}</td></tr>" for label, text in items)
    markup = (
        f"<html><body><div>{greeting.replace(chr(10), '<br>')}</div><div>{header}</div>"
        f"<table border=1><tr><th>活动项目</th><th>活动进展情况</th></tr>{rows}</table>"
        "<div>此致 敬礼</div></body></html>"
    )
    plain = greeting + header + "\n活动项目\t活动进展情况\n" + "\n".join(
        f"{label}\t{text}" for label, text in items
    )
    return plain, markup


_LEADING_WORDS = re.compile(r"^(组织开展|开展|发表评论文章或|参加线上|对|企业组织|在本级以上主流媒体公布|组织)")


def statistics_prose(statistics: Statistics, rng: random.Random) -> tuple[str, Statistics]:
    """Figures typed as prose into a mail ("宣讲活动3场，参与120人次；心得体会5篇…"): only the
    lines with every figure known, their leading words dropped, figures in plain digits. Returns
    the body and the truth as it stands in it (the lines left out are blanks)."""
    figures: dict[str, int | str | None] = dict.fromkeys(statistics.figures)
    sentences = []
    for _, lines in statistics.items()[:6]:
        for line in lines:
            keys = re.findall("\ue000([\\d.]+)\ue000", line)
            if not keys or any(statistics.figures[k] is None for k in keys) or "\n" in line:
                continue
            text = _LEADING_WORDS.sub("", line.strip("；;。,，"))
            if rng.random() < 0.5:
                text = text.replace("“", "").replace("”", "")
            for key in keys:
                figures[key] = statistics.figures[key]
                text = text.replace(f"\ue000{key}\ue000", str(statistics.figures[key]))
            sentences.append(text)
    body = (f"郝科长您好！{statistics.header['填报单位']}本周安全生产月活动情况：" + "；".join(sentences)
            + f"。\n{statistics.header['联系人']} {statistics.header['电话']}")
    truth = Statistics({}, figures, statistics.written, statistics.approximate, statistics.lines)
    return body, truth


# ---------------------------------------------------------------- 附件1 and 附件3

def random_contact(rng: random.Random, unit: str) -> dict[str, str | None]:
    name = _name(rng)
    return {
        "unit": f"{unit}工业和科技局",
        "name": name,
        "office_phone": f"0359-{rng.randint(2000000, 8999999)}",
        "mobile": f"1{rng.choice('3578')}{rng.randint(100000000, 999999999)}",
        "fax": rng.choice([None, f"0359-{rng.randint(2000000, 8999999)}"]),
        "wechat": rng.choice([None, f"wx_{rng.randint(1000, 99999)}"]),
        "email": f"{rng.choice(['ycgk', 'aqk', 'gxj'])}{rng.randint(10, 999)}@"
                 f"{rng.choice(['126.com', '163.com', 'qq.com'])}",
        "address": f"运城市{unit}{rng.choice(['解放路', '河东街', '人民路'])}{rng.randint(1, 300)}号",
    }


def liaison_docx(contact: dict[str, str | None]) -> bytes:
    """附件1 as printed: label cells each followed by its value cell, six columns wide."""
    document = docx.Document()
    document.add_paragraph("附件1")
    document.add_paragraph(LIAISON_TITLE)
    table = document.add_table(rows=4, cols=6)
    value = dict(zip(LIAISON_LABELS, (contact[key] or "" for key in LIAISON_KEYS), strict=True))
    for row, label in ((0, "单位名称"), (3, "通讯地址")):
        table.cell(row, 0).text = label
        table.cell(row, 1).merge(table.cell(row, 5)).text = value[label]
    for row, labels in ((1, ("姓  名", "办公电话", "手    机")), (2, ("传  真", "微信号", "电子邮箱"))):
        for column, label in zip((0, 2, 4), labels, strict=True):
            table.cell(row, column).text = label
            table.cell(row, column + 1).text = value[label]
    table.style = document.styles["Table Grid"]
    return _saved(document)


def liaison_xlsx(contacts: Sequence[dict[str, str | None]]) -> bytes:
    """Liaisons retyped as a list: the labels as column headings, one liaison per row."""
    book = openpyxl.Workbook()
    sheet = first_sheet(book)
    sheet.append([LIAISON_TITLE])
    sheet.append([label.replace(" ", "") for label in LIAISON_LABELS])
    for contact in contacts:
        sheet.append([contact[key] for key in LIAISON_KEYS])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def random_media_rows(rng: random.Random) -> list[dict[str, str | None]]:
    """The rows a unit fills: some printed rows completed, sometimes rows of its own added."""
    rows: list[dict[str, str | None]] = []
    for number, content in enumerate(MEDIA_PRINTED, 1):
        if rng.random() < 0.5:
            rows.append({"number": str(number), "content": content, "time": None, "media": None,
                         "link": None, "note": None})
            continue
        rows.append({
            "number": str(number),
            "content": content,
            "time": f"6月{rng.randint(1, 20)}日",
            "media": rng.choice(_MEDIA),
            "link": rng.choice([None, f"https://www.ycnews.cn/a/{rng.randint(10000, 99999)}.html"]),
            "note": rng.choice([None, None, "已转发"]),
        })
    for number in range(6, 6 + rng.randint(0, 2)):
        rows.append({
            "number": str(number),
            "content": rng.choice(_ACTIVITIES),
            "time": f"2023年6月{rng.randint(1, 20)}日",
            "media": rng.choice(_MEDIA),
            "link": f"https://mp.weixin.qq.com/s/{rng.randint(10**8, 10**9)}",
            "note": None,
        })
    return rows


def filled_media_rows(rows: Sequence[dict[str, str | None]]) -> list[dict[str, str | None]]:
    """The rows a reader should report: printed rows left as printed are not news."""
    return [r for r in rows if any(r[k] for k in ("time", "media", "link", "note"))
            or r["content"] not in MEDIA_PRINTED]


def media_docx(header: dict[str, str], rows: Sequence[dict[str, str | None]]) -> bytes:
    document = docx.Document()
    _media_part(document, header, rows)
    return _saved(document)


def _media_part(
    document: docx.document.Document, header: dict[str, str], rows: Sequence[dict[str, str | None]]
) -> None:
    document.add_paragraph("附件3")
    document.add_paragraph(MEDIA_TITLE)
    document.add_paragraph(header_line(header))
    table = document.add_table(rows=1 + len(rows), cols=6)
    for column, heading in enumerate(MEDIA_HEADINGS):
        table.cell(0, column).text = heading
    for row, values in enumerate(rows, 1):
        for column, key in enumerate(MEDIA_KEYS):
            table.cell(row, column).text = values[key] or ""
    table.style = document.styles["Table Grid"]


def media_xlsx(header: dict[str, str], rows: Sequence[dict[str, str | None]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = first_sheet(book)
    sheet.append([MEDIA_TITLE])
    sheet.append([header_line(header)])
    sheet.append(list(MEDIA_HEADINGS))
    for values in rows:
        number = values["number"]
        sheet.append([int(number) if number else None, *(values[k] for k in MEDIA_KEYS[1:])])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- LibreOffice

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
_FILTERS = {
    "docx": "docx:MS Word 2007 XML",
    "doc": "doc:MS Word 97",
    "xlsx": "xlsx:Calc MS Excel 2007 XML",
    "xls": "xls:MS Excel 97",
}


def convert_files(paths: Sequence[Path], target: str, outdir: Path) -> list[Path]:
    """Convert many files in one LibreOffice run (start-up is most of the cost)."""
    if SOFFICE is None:
        raise RuntimeError("LibreOffice is not installed")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", _FILTERS[target], "--outdir", str(outdir), *map(str, paths)],
            check=True, capture_output=True, timeout=60 + 10 * len(paths),
        )
    converted = [outdir / f"{path.stem}.{target}" for path in paths]
    missing = [str(path) for path in converted if not path.exists()]
    if missing:
        raise RuntimeError(f"LibreOffice did not write {', '.join(missing)}")
    return converted


def libreoffice_convert(data: bytes, target: str) -> bytes:
    """A `convert` for read_document: old Word/WPS/Excel bytes to "docx"/"xlsx" bytes."""
    source = {"docx": "doc", "xlsx": "xls"}[target]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input.{source}"
        path.write_bytes(data)
        (output,) = convert_files([path], target, Path(folder) / "out")
        return output.read_bytes()


# ---------------------------------------------------------------- the committed cases

def _expected_statistics(statistics: Statistics, where: str) -> dict[str, object]:
    """What a reading must say: the truth, and warnings that name each approximate figure and
    each blank left empty (every phrase of an entry in one warning)."""
    def place(key: str) -> list[str]:
        number, index = key.split(".")
        return [f"附件2 第{number}项 ", f"第{index}空"]

    # A blank left empty is "未填写"; a line the unit deleted is "找不到…这一句，第3、4空未计入".
    include = [[*place(key), f"按 {statistics.figures[key]} 计"] for key in statistics.approximate]
    include += [place(key) for key, value in statistics.figures.items()
                if value is None and key not in TEXT_KEYS]
    return {"form": "statistics", "where": where, "header": statistics.header,
            "figures": statistics.figures, "warnings_include": include}


def _case(folder: Path, name: str, files: dict[str, bytes], expected: dict[str, object]) -> None:
    case = folder / name
    case.mkdir(parents=True, exist_ok=True)
    for old in case.iterdir():
        old.unlink()
    for filename, data in files.items():
        (case / filename).write_bytes(data)
    (case / "expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


def encrypted_office_file(size: int = 4096) -> bytes:
    """An OLE2 compound file holding an "EncryptedPackage" stream: what Word, Excel and WPS
    write for a .docx/.xlsx with an opening password. Sector 0 is the FAT, 1 the directory,
    then the stream (at least 4096 bytes, so that it lives in ordinary sectors)."""
    sectors = -(-size // 512)
    end, free = 0xFFFFFFFE, 0xFFFFFFFF
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1") + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<I", 0) + struct.pack("<I", free) * 108
    )
    chain = [2 + k + 1 for k in range(sectors - 1)] + [end]
    fat = struct.pack(f"<{2 + sectors}I", 0xFFFFFFFD, end, *chain)
    fat += struct.pack("<I", free) * (128 - 2 - sectors)

    def entry(name: str, kind: int, child: int, start: int, length: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le") if name else b""
        return (
            encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<iii", -1, -1, child) + bytes(16 + 4 + 16)
            + struct.pack("<IQ", start, length)
        )

    directory = (
        entry("Root Entry", 5, 1, end, 0) + entry("EncryptedPackage", 2, -1, 2, size)
        + entry("", 0, -1, 0, 0) * 2
    )
    return header + fat + directory + bytes(range(256)) * (sectors * 2)


def _html_workbook(statistics: Statistics) -> bytes:
    """附件2 as exported by a web system: an HTML table saved with an .xls name, in GBK."""
    rows = "".join(
        f"<tr><td>{label}</td><td>{statistics.render('<br>'.join(lines))}</td></tr>"
        for label, lines in statistics.items()
    )
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk"></head>'
        f"<body><table><tr><td colspan=2>{STATISTICS_TITLE}</td></tr>"
        f"<tr><td colspan=2>{statistics.header_line()}</td></tr>"
        f"<tr><td>活动项目</td><td>活动进展情况</td></tr>{rows}</table></body></html>"
    )
    return page.encode("gb18030")


def build_cases(folder: Path) -> None:
    """The data-driven cases of tests/test_forms.py: small files, truth beside each.

    A case is a folder with one input file, or with body.txt (and body.html) for a mail body,
    and expected.json: {"file", "convert", "readings": [...]}."""
    rng = random.Random(20230607)
    plain = Habit()

    def statistics(habit: Habit) -> tuple[str, Statistics]:
        unit = rng.choice(UNITS)
        return unit, fill_statistics(rng, habit, unit)

    def statistics_case(name: str, habit: Habit, kind: str, layout: str) -> None:
        unit, truth = statistics(habit)
        filename = f"{unit}附件2.{kind}"
        data = (statistics_docx(truth, layout, rng) if kind == "docx"
                else statistics_xlsx(truth, layout))
        _case(folder, name, {filename: data},
              {"file": filename, "readings": [_expected_statistics(truth, filename)]})

    statistics_case("docx-printed-brackets", plain, "docx", "printed")
    statistics_case("docx-typed-over-brackets", Habit(brackets=("", "")), "docx", "printed")
    statistics_case("docx-wps-merged-labels", Habit(brackets=("(", ")"), blank="/"), "docx",
                    "merged")
    statistics_case("docx-nested-table", Habit(brackets=("【", "】"), zero="无"), "docx", "nested")
    statistics_case("docx-header-in-table", Habit(spaces=True, blank="—"), "docx",
                    "header-in-table")
    statistics_case("docx-tracked-changes", plain, "docx", "tracked")
    statistics_case("docx-chinese-numerals", Habit(number_styles=("chinese", "liang", "upper")),
                    "docx", "printed")
    statistics_case("docx-fullwidth", Habit(number_styles=("fullwidth",), zero="（无）"), "docx",
                    "printed")
    statistics_case("docx-approximate-and-remarks",
                    Habit(approximate=0.4, remark=0.15, unit_inside=0.2), "docx", "printed")
    statistics_case("docx-retyped-with-cover-letter", Habit(edits=0.5, cover=True), "docx",
                    "printed")
    unit, truth = statistics(plain)
    rows = random_media_rows(rng)
    filename = f"{unit}附件2和附件3.docx"
    _case(folder, "docx-with-media-table",
          {filename: statistics_docx(with_footer(truth, rng), "with-media", rng, rows)},
          {"file": filename, "readings": [
              _expected_statistics(truth, filename),
              {"form": "media", "header": truth.header, "rows": filled_media_rows(rows)}]})
    statistics_case("docx-mostly-empty", Habit(unfilled=0.7), "docx", "printed")
    statistics_case("xlsx-text-in-column-b", plain, "xlsx", "columns")
    statistics_case("xlsx-merged-label-rows", Habit(brackets=("", "")), "xlsx", "merged")
    statistics_case("xlsx-cell-per-piece", plain, "xlsx", "cells")
    statistics_case("xlsx-chinese-and-blanks", Habit(number_styles=("chinese",), blank="/"),
                    "xlsx", "columns")
    unit, truth = statistics(plain)
    _case(folder, "xls-that-is-html", {f"{unit}附件2.xls": _html_workbook(truth)},
          {"file": f"{unit}附件2.xls",
           "readings": [_expected_statistics(truth, f"{unit}附件2.xls")]})

    converted = [
        ("doc-from-word", "docx", "printed", "doc"),
        ("doc-wps-merged", "docx", "merged", "doc"),
        ("docx-resaved-by-libreoffice", "docx", "nested", "docx"),
        ("xls-cell-per-piece", "xlsx", "cells", "xls"),
        ("xls-merged-label-rows", "xlsx", "merged", "xls"),
        ("xlsx-resaved-by-libreoffice", "xlsx", "columns", "xlsx"),
    ]
    with tempfile.TemporaryDirectory() as work:
        for name, kind, layout, target in converted:
            unit, truth = statistics(random_habit(rng))
            source = Path(work) / name / f"{unit}附件2.{kind}"
            source.parent.mkdir()
            source.write_bytes(statistics_docx(truth, layout, rng) if kind == "docx"
                               else statistics_xlsx(truth, layout))
            (result,) = convert_files([source], target, Path(work) / name / "out")
            _case(folder, name, {result.name: result.read_bytes()},
                  {"file": result.name, "convert": True,
                   "readings": [_expected_statistics(truth, result.name)]})

    for name, html in (("body-form-as-text", False), ("body-form-as-html-table", True)):
        unit, truth = statistics(random_habit(rng))
        text, markup = statistics_body(truth, html)
        files = {"body.txt": text.encode()} | ({"body.html": markup.encode()} if markup else {})
        _case(folder, name, files, {"readings": [_expected_statistics(truth, "邮件正文")]})
    unit, truth = statistics(plain)
    prose, truth = statistics_prose(truth, rng)
    expected = _expected_statistics(truth, "邮件正文")
    expected["warnings_include"] = []
    _case(folder, "body-prose", {"body.txt": prose.encode()}, {"readings": [expected]})

    unit = rng.choice(UNITS)
    contact = random_contact(rng, unit)
    _case(folder, "liaison-docx-printed", {f"{unit}联络员表.docx": liaison_docx(contact)},
          {"file": f"{unit}联络员表.docx", "readings": [{"form": "liaison", "contacts": [contact]}]})
    contacts = [random_contact(rng, unit), random_contact(rng, unit)]
    _case(folder, "liaison-xlsx-list", {f"{unit}联络员.xlsx": liaison_xlsx(contacts)},
          {"file": f"{unit}联络员.xlsx", "readings": [{"form": "liaison", "contacts": contacts}]})
    header = fill_statistics(rng, plain, unit).header
    for name, build in (("media-docx", media_docx), ("media-xlsx", media_xlsx)):
        rows = random_media_rows(rng)
        filename = f"{unit}附件3.{name.split('-')[1]}"
        _case(folder, name, {filename: build(header, rows)},
              {"file": filename,
               "readings": [{"form": "media", "header": header, "rows": filled_media_rows(rows)}]})

    damaged = statistics_docx(statistics(plain)[1], "printed", rng)
    _case(folder, "corrupt-docx", {"坏文件.docx": damaged[: len(damaged) // 2]},
          {"file": "坏文件.docx",
           "readings": [{"form": None, "warnings_include": [["“坏文件.docx”", "损坏"]]}]})
    _case(folder, "encrypted-xlsx", {"加密.xlsx": encrypted_office_file()},
          {"file": "加密.xlsx",
           "readings": [{"form": None, "warnings_include": [["“加密.xlsx”", "密码"]]}]})
    _case(folder, "not-a-form", {"活动方案.docx": _plan_docx()},
          {"file": "活动方案.docx", "readings": []})


def _plan_docx() -> bytes:
    """A unit's 活动方案: prose that mentions the forms but is none of them."""
    document = docx.Document()
    document.add_paragraph("盐湖区工科局2023年“安全生产月”活动方案")
    document.add_paragraph("各科室要于每周三前报送活动进展情况统计表，组织开展宣讲活动不少于2场。")
    return _saved(document)


def case_folders(root: Path) -> Iterator[Path]:
    return (path for path in sorted(root.iterdir()) if (path / "expected.json").exists())


if __name__ == "__main__":
    build_cases(Path(sys.argv[1]))
