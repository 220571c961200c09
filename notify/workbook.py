"""The 汇总表: the workbook the clerk prints and sends up as it is.

`build_workbook` is pure: the status in, the .xlsx bytes out (openpyxl, in memory). Sheets:
- one per deadline with figures, in the layout of 附件2: the items and their blanks down, the
  units and 合计 across, exactly the figures of `status --json` (a blank stays an empty cell);
- 累计: the campaign to date, weekly or cumulative as the config says (notify.figures);
- 报送情况: units × deadlines, 按时/逾期 with the receipt time, 未报, coloured;
- 附件3: the published activities with clickable links;
- 提示事项: the warnings, one per row.
Every sheet prints on A4 landscape, one page wide, with its title rows repeated on each page.
Totals are values, not formulas: a reader opening the file without recalculating sees them too.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import openpyxl
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.pagebreak import Break

from notify.figures import (
    Blank,
    FormLabels,
    Tally,
    UnitFigures,
    Value,
    published,
    short_name,
    short_when,
    total,
    web_link,
)
from notify.mail import Letterhead
from store.model import Campaign, Deadline, State, Unit
from store.status import DeadlineStatus, Status

SUMMARY_SHEET = "累计"
STANDING_SHEET = "报送情况"
MEDIA_SHEET = "附件3"
WARNINGS_SHEET = "提示事项"
TOTAL = "合计"

_FONT = "宋体"
_TITLE_FONT = "黑体"
_SIZE = 10
_LINE_POINTS = 14  # one line of 10 pt text, with leading
_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEAD_FILL = PatternFill("solid", fgColor="D9E1F2")
_ITEM_FILL = PatternFill("solid", fgColor="F2F2F2")
_STATE_FILLS = {
    State.ON_TIME: PatternFill("solid", fgColor="E2EFDA"),
    State.LATE: PatternFill("solid", fgColor="FCE4D6"),
    State.MISSING: PatternFill("solid", fgColor="F8CBAD"),
    State.NOT_DUE: PatternFill("solid", fgColor="EDEDED"),
}
_STATE_FONTS = {State.MISSING: "C00000", State.LATE: "833C0B"}
# A4 landscape inside the margins of _print_setup, in points.
_PAGE_WIDTH = (297 / 25.4 - 2 * 0.4) * 72
_PAGE_HEIGHT = (210 / 25.4 - 2 * 0.5) * 72
_LINK_FONT = Font(name=_FONT, size=_SIZE, color="0563C1", underline="single")
_SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# openpyxl ships no type stubs here: its worksheets and cells are untyped.
Sheet = Any
Cell = Any


def build_workbook(
    status: Status,
    campaign: Campaign,
    labels: FormLabels,
    tally: Tally,
    through: Deadline,
    letterhead: Letterhead,
) -> bytes:
    """The 汇总表 for the deadlines of the campaign up to and including `through`."""
    covered = [d for d in status.deadlines if d.deadline.due <= through.due]
    made = f"制表时间：{letterhead.when(status.now)}"
    book = openpyxl.Workbook()
    for default in book.worksheets:  # the empty sheet a new workbook starts with
        book.remove(default)
    for entry in covered:
        filed = tally.filed(entry.deadline.id)
        if not tally.counts(entry.deadline.id) and not any(filed.values()):
            continue
        note = "" if tally.counts(entry.deadline.id) else "（本表不计入累计）"
        info = (
            f"汇总单位：{letterhead.name}　截止时间：{letterhead.when(entry.deadline.due)}　{made}　"
            f"{_counts(entry)}{note}"
        )
        _figures_sheet(book, entry.deadline.label, f"{labels.title}（{entry.deadline.label}）", info,
                       campaign.units, labels, filed, entry)
    counted = [d for d in covered if tally.counts(d.deadline.id)]
    if counted:
        first, last = counted[0].deadline.label, counted[-1].deadline.label
        span = first if first == last else f"{first}至{last}"
        info = f"汇总单位：{letterhead.name}　统计范围：{span}　{made}　{_mode_note(tally)}"
        _figures_sheet(book, SUMMARY_SHEET, f"{labels.title}（累计）", info, campaign.units, labels,
                       tally.to_date(through.id), None)
    _standing_sheet(book, campaign.units, covered, letterhead, made)
    _media_sheet(book, covered, labels, made)
    _warnings_sheet(book, covered, made)
    book.properties.title = f"{campaign.name}汇总表"
    book.properties.creator = letterhead.name
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _counts(entry: DeadlineStatus) -> str:
    if not entry.passed:
        reported = entry.count(State.ON_TIME) + entry.count(State.LATE)
        return f"已报 {reported}/{len(entry.units)}（未到截止时间）"
    return f"按时 {entry.count(State.ON_TIME)}，逾期 {entry.count(State.LATE)}，未报 {entry.count(State.MISSING)}"


def _mode_note(tally: Tally) -> str:
    modes = {tally.mode_of(b.key) for b in tally.blanks if not b.text}
    if modes == {"weekly"}:
        return "累计＝各周填报数相加"
    if modes == {"cumulative"}:
        return "累计＝各单位最近一次填报的累计数"
    return "累计：按周填报的项目各周相加，按累计填报的项目取最近一次填报数"


# --- the sheets -------------------------------------------------------------------------------


def _figures_sheet(
    book: openpyxl.Workbook,
    name: str,
    title: str,
    info: str,
    units: Sequence[Unit],
    labels: FormLabels,
    values: UnitFigures,
    entry: DeadlineStatus | None,
) -> None:
    """附件2's layout: items and blanks down, units and 合计 across; the standing row last."""
    sheet = book.create_sheet(_sheet_name(book, name))
    headings = ["活动项目", "统计内容", "计量单位", *(short_name(u) for u in units), TOTAL]
    widths = [18, 34, 8, *([7.5] * len(units)), 8]
    _heading(sheet, title, info, headings, widths)
    row = 4
    groups = []
    for number, item_label in labels.items:
        blanks = labels.blanks_of(number)
        first = row
        for blank in blanks:
            cells = [None, blank.label, blank.measure,
                     *(_shown(values.get(u.name, {}).get(blank.key)) for u in units), _row_total(blank, values)]
            _write_row(sheet, row, cells, widths)
            sheet.cell(row, 2).alignment = _align(horizontal="left", indent=2 if blank.follows else 1)
            row += 1
        if len(blanks) > 1:
            sheet.merge_cells(start_row=first, end_row=row - 1, start_column=1, end_column=1)
        # The item's text spans its rows (merged): it is fitted over all of them, not the first.
        heading = sheet.cell(first, 1, f"{number}. {item_label}")
        heading.alignment = _align(horizontal="left", indent=1)
        heading.fill = _ITEM_FILL
        _fit_merged(sheet, first, row - 1, heading.value, widths[0])
        groups.append((first, row - 1))
    if entry is not None:
        states = [u.state for u in entry.units]
        reported = sum(1 for s in states if s in (State.ON_TIME, State.LATE))
        cells = ["报送情况", "", "", *(s.label for s in states), f"已报 {reported}/{len(states)}"]
        _write_row(sheet, row, cells, widths)
        sheet.merge_cells(start_row=row, end_row=row, start_column=1, end_column=3)
        for column, state in enumerate(states, start=4):
            _paint(sheet.cell(row, column), state)
        groups.append((row, row))
    sheet.freeze_panes = "D4"
    _print_setup(sheet, "1:3")
    _keep_together(sheet, groups, widths)


def _shown(value: Value) -> Value:
    """A filed figure as a cell: numbers stay numbers, blanks stay empty."""
    return value if value is None or isinstance(value, int) else str(value)


def _row_total(blank: Blank, values: UnitFigures) -> int | None:
    return None if blank.text else total(v.get(blank.key) for v in values.values())


def _standing_sheet(
    book: openpyxl.Workbook, units: Sequence[Unit], covered: Sequence[DeadlineStatus], letterhead: Letterhead,
    made: str,
) -> None:
    sheet = book.create_sheet(STANDING_SHEET)
    headings = ["单位", *(d.deadline.label for d in covered)]
    widths = [22, *([20] * len(covered))]
    info = f"汇总单位：{letterhead.name}　{made}　按时、逾期后为收到时间；未报＝截止时间已过仍未收到"
    _heading(sheet, f"{STANDING_SHEET}（截至{covered[-1].deadline.label}）" if covered else STANDING_SHEET,
             info, headings, widths)
    for index, unit in enumerate(units):
        row = 4 + index
        standings = [d.units[index] for d in covered]
        cells = [unit.name, *(_standing_text(s.state, s.received_at, letterhead) for s in standings)]
        _write_row(sheet, row, cells, widths)
        sheet.cell(row, 1).alignment = _align(horizontal="left")
        for column, standing in enumerate(standings, start=2):
            _paint(sheet.cell(row, column), standing.state)
    row = 4 + len(units)
    _write_row(sheet, row, [TOTAL, *(_counts(d) for d in covered)], widths)
    sheet.freeze_panes = "B4"
    _print_setup(sheet, "1:3")


def _standing_text(state: State, received: datetime | None, letterhead: Letterhead) -> str:
    if received is None or state not in (State.ON_TIME, State.LATE):
        return state.label
    return f"{state.label} {short_when(received, letterhead.zone)}"


def _media_sheet(book: openpyxl.Workbook, covered: Sequence[DeadlineStatus], labels: FormLabels, made: str) -> None:
    sheet = book.create_sheet(MEDIA_SHEET)
    columns = labels.media_columns
    headings = ["报送节点", "单位", *(name for _, name in columns)]
    # The link column is wide because LibreOffice draws a hyperlinked cell on one line.
    width_of = {"content": 30, "time": 10, "media": 14, "link": 56, "note": 12}
    widths = [12, 16, *(width_of.get(key, 14) for key, _ in columns)]
    _heading(sheet, "相关活动情况（附件3）", f"{made}　媒体链接可直接点击打开", headings, widths)
    row = 4
    for entry in covered:
        for unit, activity in published(entry):
            cells = [entry.deadline.label, unit, *(getattr(activity, key) for key, _ in columns)]
            _write_row(sheet, row, cells, widths)
            for column, (key, _) in enumerate(columns, start=3):
                sheet.cell(row, column).alignment = _align(horizontal="left")
                url = web_link(getattr(activity, key)) if key == "link" else None
                if url:
                    sheet.cell(row, column).hyperlink = url
                    sheet.cell(row, column).font = _LINK_FONT
            row += 1
    if row == 4:
        _write_row(sheet, row, ["（暂无）", *([""] * (len(headings) - 1))], widths)
    sheet.freeze_panes = "A4"
    _print_setup(sheet, "1:3")


def _warnings_sheet(book: openpyxl.Workbook, covered: Sequence[DeadlineStatus], made: str) -> None:
    sheet = book.create_sheet(WARNINGS_SHEET)
    headings = ["报送节点", "单位", "报送情况", "提示"]
    widths = [12, 22, 8, 90]
    _heading(sheet, "提示事项", f"{made}　读取报送材料时发现、需要核实的问题", headings, widths)
    row = 4
    for entry in covered:
        for standing in entry.units:
            for warning in standing.warnings:
                _write_row(sheet, row, [entry.deadline.label, standing.unit, standing.state.label, warning], widths)
                sheet.cell(row, 4).alignment = _align(horizontal="left")
                row += 1
    if row == 4:
        _write_row(sheet, row, ["（暂无）", "", "", ""], widths)
    sheet.freeze_panes = "A4"
    _print_setup(sheet, "1:3")


# --- cells, sizes and printing ----------------------------------------------------------------


def _heading(sheet: Sheet, title: str, info: str, headings: Sequence[str], widths: Sequence[float]) -> None:
    """Row 1 the title, row 2 the line under it, row 3 the column headings."""
    last = len(headings)
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width
    for row, text, font, height in ((1, title, Font(name=_TITLE_FONT, size=16, bold=True), 30),
                                    (2, info, Font(name=_FONT, size=_SIZE), None)):
        cell = sheet.cell(row, 1, text)
        cell.font = font
        cell.alignment = _align(horizontal="center" if row == 1 else "left")
        sheet.merge_cells(start_row=row, end_row=row, start_column=1, end_column=last)
        sheet.row_dimensions[row].height = height or _height([(info, sum(widths))])
    _write_row(sheet, 3, list(headings), widths)
    for column in range(1, last + 1):
        cell = sheet.cell(3, column)
        cell.font = Font(name=_FONT, size=_SIZE, bold=True)
        cell.fill = _HEAD_FILL


def _write_row(sheet: Sheet, row: int, values: Sequence[object], widths: Sequence[float]) -> None:
    """One bordered, wrapped row, as tall as its longest text needs."""
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row, column, value)
        cell.font = Font(name=_FONT, size=_SIZE)
        cell.border = _BORDER
        cell.alignment = _align()
    sheet.row_dimensions[row].height = _height(
        [(str(v), w) for v, w in zip(values, widths, strict=True) if v is not None]
    )


def _fit_merged(sheet: Sheet, first: int, last: int, text: str, width: float) -> None:
    rows = range(first, last + 1)
    have = sum(sheet.row_dimensions[r].height for r in rows)
    need = _height([(text, width)])
    if need > have:
        extra = (need - have) / len(rows)
        for r in rows:
            sheet.row_dimensions[r].height += extra


def _keep_together(sheet: Sheet, groups: Sequence[tuple[int, int]], widths: Sequence[float]) -> None:
    """Page breaks between items, never inside one: a merged item label cut by a page break
    loses its text on one of the pages. Row heights are in points at 100 %; the page holds
    more of them by the fit-to-width scale, estimated from the column widths as Excel sizes
    them (7 px a unit plus 5 px padding), with a margin for the spreadsheet's own rounding."""
    width_points = sum(w * 7 + 5 for w in widths) * 0.75
    scale = min(1.0, _PAGE_WIDTH / width_points)
    titles = sum(sheet.row_dimensions[r].height for r in (1, 2, 3))
    room = _PAGE_HEIGHT / scale * 0.92 - titles
    used = 0.0
    for first, last in groups:
        height = sum(sheet.row_dimensions[r].height for r in range(first, last + 1))
        if used and used + height > room:
            sheet.row_breaks.append(Break(id=first - 1))
            used = 0.0
        used += height


def _align(horizontal: str = "center", indent: int = 0) -> Alignment:
    return Alignment(horizontal=horizontal, vertical="center", wrap_text=True, indent=indent)


def _paint(cell: Cell, state: State) -> None:
    cell.fill = _STATE_FILLS[state]
    if state in _STATE_FONTS:
        cell.font = Font(name=_FONT, size=_SIZE, color=_STATE_FONTS[state], bold=state is State.MISSING)


def _text_width(text: str) -> int:
    """Column-width units a text takes: a Chinese character is two, like two digits."""
    return sum(2 if unicodedata.east_asian_width(c) in "WFA" else 1 for c in text)


def _height(cells: Sequence[tuple[str, float]]) -> float:
    """Points for a row whose cells hold these texts in columns of these widths (wrapped)."""
    lines = 1
    for text, width in cells:
        usable = max(width - 1, 1)  # cell padding
        lines = max(lines, sum(max(1, math.ceil(_text_width(part) / usable)) for part in text.split("\n")))
    return lines * _LINE_POINTS + 4


def _sheet_name(book: openpyxl.Workbook, wanted: str) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique in the book."""
    base = _SHEET_NAME_FORBIDDEN.sub("", wanted)[:31] or "Sheet"
    name, n = base, 2
    while name in book.sheetnames:
        suffix = f"({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    return name


def _print_setup(sheet: Sheet, title_rows: str) -> None:
    """A4 landscape, one page wide, title rows on every page, page numbers in the footer."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.5
    sheet.print_title_rows = title_rows
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
