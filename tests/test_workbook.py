"""The 汇总表, opened with openpyxl the way a reader would: every cell against the figures filed.

Totals are worked out here from the replayed submissions (tests/campaign_data.py), not with
baosong's own adding up.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import openpyxl
import pytest

from notify.figures import FormLabels, Tally
from notify.mail import Letterhead
from notify.workbook import STANDING_SHEET, SUMMARY_SHEET, build_workbook
from parsers.forms import builtin_definitions, definition_for
from store.config import FigureMode, Settings, load_settings
from store.model import Campaign, Kind
from tests.baosong_cli import ROOT
from tests.campaign_data import (
    FIGURE_KEYS,
    UNITS,
    Sent,
    at,
    expected_figures,
    expected_state,
    plan,
    status_of,
    sum_of,
)

STATISTICS = definition_for(builtin_definitions(), "statistics")
NOW = at("2023-06-14T14:00")


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(ROOT / "config.yaml")


def workbook(settings: Settings, sent: list[Sent], through: str, modes: dict[str, FigureMode] | None = None,
             now: datetime = NOW) -> Any:
    campaign = settings.campaign_model()
    status = status_of(campaign, sent, now)
    labels = FormLabels.from_definitions(builtin_definitions())
    overrides = modes or {}
    tally = Tally(status, labels.blanks, lambda key: overrides.get(key, "weekly"))
    letterhead = Letterhead.from_settings(settings)
    data = build_workbook(status, campaign, labels, tally, campaign.deadline(through), letterhead)
    return openpyxl.load_workbook(io.BytesIO(data))


# Figure key -> its row: the form's blanks in the form's order, from row 4 down.
ROWS = {key: 4 + index for index, key in enumerate(FIGURE_KEYS)}


def unit_columns(sheet: Any, campaign: Campaign) -> dict[str, int]:
    """Unit -> its column, found by the heading (each unit's first alias) in row 3."""
    headings = {sheet.cell(3, c).value: c for c in range(1, sheet.max_column + 1)}
    return {u.name: headings[u.aliases[0]] for u in campaign.units}


def test_each_week_sheet_holds_the_filed_figures_blanks_blank_and_totals_added_up(settings: Settings) -> None:
    sent = plan("week-2")
    book = workbook(settings, sent, "week-2")
    campaign = settings.campaign_model()
    assert book.sheetnames == ["第1周进展", "第2周进展", SUMMARY_SHEET, STANDING_SHEET, "附件3", "提示事项"]
    for deadline_id, name in (("week-1", "第1周进展"), ("week-2", "第2周进展")):
        sheet = book[name]
        truth = expected_figures(sent, deadline_id)
        columns = unit_columns(sheet, campaign)
        total_column = sheet.max_column
        assert sheet.cell(3, total_column).value == "合计"
        for key, row in ROWS.items():
            for unit in UNITS:
                assert sheet.cell(row, columns[unit]).value == truth[unit].get(key), (name, key, unit)
            expected_total = None if key == "7.1" else sum_of([truth[u].get(key) for u in UNITS])
            assert sheet.cell(row, total_column).value == expected_total, (name, key)
    # 临猗县 reported week 1 without a readable form: its column is empty, not zeros.
    week1 = book["第1周进展"]
    column = unit_columns(week1, campaign)["临猗县工科局"]
    assert all(week1.cell(r, column).value is None for r in ROWS.values())


def test_rows_carry_the_labels_of_the_form_definition(settings: Settings) -> None:
    sheet = workbook(settings, plan("week-1"), "week-1")["第1周进展"]
    assert sheet.cell(1, 1).value == f"{STATISTICS.title}（第1周进展）"
    blanks = {b.key: (item, b) for item in STATISTICS.items for b in item.blanks}
    for key, row in ROWS.items():
        item, blank = blanks[key]
        printed = "".join(piece for clause in item.clauses for piece in clause.pieces)
        assert sheet.cell(row, 2).value and sheet.cell(row, 2).value in printed, key
        assert sheet.cell(row, 3).value in (blank.unit or None,), key
    merged = {str(r) for r in sheet.merged_cells.ranges}
    first_rows = {item.number: 4 + FIGURE_KEYS.index(item.blanks[0].key) for item in STATISTICS.items}
    for item in STATISTICS.items:
        row = first_rows[item.number]
        assert sheet.cell(row, 1).value == f"{item.number}. {item.label}"
        if len(item.blanks) > 1:
            assert f"A{row}:A{row + len(item.blanks) - 1}" in merged


def test_the_campaign_sheet_adds_the_weeks_up_by_default(settings: Settings) -> None:
    sent = plan("week-3")
    sheet = workbook(settings, sent, "week-3")[SUMMARY_SHEET]
    weeks = [expected_figures(sent, d) for d in ("week-1", "week-2", "week-3")]
    columns = unit_columns(sheet, settings.campaign_model())
    for key, row in ROWS.items():
        if key == "7.1":
            continue
        for unit in UNITS:
            assert sheet.cell(row, columns[unit]).value == sum_of([w[unit].get(key) for w in weeks]), (key, unit)
        everything = [w[u].get(key) for w in weeks for u in UNITS]
        assert sheet.cell(row, sheet.max_column).value == sum_of(everything), key


def test_a_figure_reported_to_date_takes_the_latest_filled_value(settings: Settings) -> None:
    sent = plan("week-2")
    sheet = workbook(settings, sent, "week-2", modes={"2.1": "cumulative"})[SUMMARY_SHEET]
    weeks = [expected_figures(sent, d) for d in ("week-1", "week-2")]
    row = ROWS["2.1"]
    columns = unit_columns(sheet, settings.campaign_model())
    latest = {}
    for unit in UNITS:
        filled = [w[unit]["2.1"] for w in weeks if isinstance(w[unit].get("2.1"), int)]
        latest[unit] = filled[-1] if filled else None
        assert sheet.cell(row, columns[unit]).value == latest[unit], unit
    assert sheet.cell(row, sheet.max_column).value == sum_of(list(latest.values()))
    # Other figures still add the weeks up.
    row = ROWS["1.1"]
    assert sheet.cell(row, sheet.max_column).value == sum_of([w[u].get("1.1") for w in weeks for u in UNITS])


def test_the_standing_sheet_says_on_time_late_or_missing_for_every_unit_and_deadline(settings: Settings) -> None:
    sent = plan("week-2")
    sheet = workbook(settings, sent, "week-2")[STANDING_SHEET]
    headings = [sheet.cell(3, c).value for c in range(1, sheet.max_column + 1)]
    assert headings == ["单位", "联络员表及活动方案", "第1周进展", "第2周进展"]
    fills: dict[str, set[object]] = {}
    for index, unit in enumerate(UNITS):
        row = 4 + index
        assert sheet.cell(row, 1).value == unit
        for column, deadline_id in enumerate(("setup", "week-1", "week-2"), start=2):
            label, first = expected_state(sent, unit, deadline_id)
            cell = sheet.cell(row, column).value
            assert cell.startswith(label), (unit, deadline_id, cell)
            if first is not None:
                local = first.astimezone(at("2023-06-01T00:00").tzinfo)
                assert f"{local.month}月{local.day}日 {local:%H:%M}" in cell
            fills.setdefault(label, set()).add(sheet.cell(row, column).fill.fgColor.rgb)
    assert all(len(colours) == 1 for colours in fills.values())
    assert len({next(iter(c)) for c in fills.values()}) == 3  # three states, three colours
    assert sheet.cell(4 + len(UNITS), 4).value == "按时 12，逾期 1，未报 1"


def test_published_activities_are_listed_once_with_clickable_links(settings: Settings) -> None:
    sent = plan("week-2")
    sheet = workbook(settings, sent, "week-2")["附件3"]
    rows = [[sheet.cell(r, c) for c in range(1, sheet.max_column + 1)] for r in range(4, sheet.max_row + 1)]
    expected = {(s.deadline_id, s.unit, a) for s in sent for a in s.activities}
    assert len(rows) == len(expected)  # the corrected report's repeated rows appear once
    headings = [sheet.cell(3, c).value for c in range(1, sheet.max_column + 1)]
    link_column = headings.index("媒体链接")
    for row in rows:
        link = row[link_column]
        if str(link.value).startswith("https://"):
            assert link.hyperlink is not None and link.hyperlink.target == link.value
        else:
            assert link.hyperlink is None


def test_warnings_are_listed_per_unit_and_deadline(settings: Settings) -> None:
    sent = plan("week-2")
    sheet = workbook(settings, sent, "week-2")["提示事项"]
    listed = {(sheet.cell(r, 1).value, sheet.cell(r, 2).value, sheet.cell(r, 4).value)
              for r in range(4, sheet.max_row + 1)}
    labels = {"week-1": "第1周进展", "week-2": "第2周进展"}
    # The warnings that stand are those of each unit's latest report (a correction replaces them).
    latest = {(s.deadline_id, s.unit): s for s in sorted(sent, key=lambda s: s.received_at)
              if s.deadline_id in labels and Kind.FEATURE not in s.kinds}
    wanted = {(labels[d], unit, w) for (d, unit), s in latest.items() for w in s.warnings}
    assert wanted and listed == wanted


def test_every_sheet_is_ready_to_print(settings: Settings) -> None:
    book = workbook(settings, plan("week-2"), "week-2")
    for sheet in book.worksheets:
        assert sheet.page_setup.orientation == "landscape", sheet.title
        assert str(sheet.page_setup.paperSize) == sheet.PAPERSIZE_A4
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and int(sheet.page_setup.fitToWidth) == 1
        assert sheet.print_title_rows == "$1:$3"
        assert sheet.freeze_panes is not None
        for column in range(1, sheet.max_column + 1):
            letter = openpyxl.utils.get_column_letter(column)
            assert sheet.column_dimensions[letter].width >= 6, (sheet.title, letter)
    # A page break never cuts an item of 附件2 (its merged label would be lost on one page).
    week = book["第1周进展"]
    breaks = [b.id for b in week.row_breaks.brk]
    assert breaks, "附件2 does not fit one landscape page"
    for merged in week.merged_cells.ranges:
        assert not any(merged.min_row <= b < merged.max_row for b in breaks), str(merged)


def test_a_deadline_not_yet_due_shows_what_has_arrived(settings: Settings) -> None:
    sent = [s for s in plan("week-3") if s.deadline_id != "week-3" or s.unit == "盐湖区工科局"]
    now = at("2023-06-20T10:00")
    book = workbook(settings, sent, "week-3", now=now)
    sheet = book["第3周进展"]
    assert "已报 1/14" in sheet.cell(2, 1).value
    standing_row = 4 + len(FIGURE_KEYS)
    assert sheet.cell(standing_row, 4).value == "按时" and sheet.cell(standing_row, 5).value == "未到期"
