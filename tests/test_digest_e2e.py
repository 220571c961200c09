"""`baosong digest` and `baosong export` end to end: a replayed campaign in a real store, the real
command, aiosmtpd receiving what leaders would get."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from ingest.context import Context
from ingest.reports import send_due_digest
from store.config import Settings, load_settings
from store.db import Store
from tests.baosong_cli import SMTP_PASSWORD_ENV, project_config, run, status, write_config
from tests.campaign_data import FIGURE_KEYS, UNITS, Sent, at, expected_figures, expected_state, replay, sum_of
from tests.servers import Captured, SmtpSink

LEADERS = ["mayor@city.test", "deputy@city.test"]
FIRST_ROW = 4  # the figures start under the title, the line under it and the headings


def campaign_in(
    tmp_path: Path, through: str, sink: SmtpSink | None = None, **overrides: Any
) -> tuple[Path, list[Sent]]:
    """A data folder holding what the units sent up to `through`, and the config that uses it."""
    overrides.setdefault("leadership", LEADERS)
    config = write_config(tmp_path, smtp=sink, notify__throttle_per_minute=6000, **overrides)
    settings = load_settings(config)
    store = Store(settings.data_dir, settings.db_url, lambda: at("2023-06-30T00:00"))
    return config, replay(store, through)


def scheduler_tick(settings: Settings, now: str) -> bool:
    """What a tick of `baosong run` does about digests, at `now`."""
    ctx = Context.build(settings, lambda: at(now))
    try:
        return send_due_digest(ctx)
    finally:
        ctx.close()


def attached_workbook(captured: Captured) -> tuple[str | None, Any]:
    [attachment] = list(captured.message().iter_attachments())
    return attachment.get_filename(), openpyxl.load_workbook(io.BytesIO(attachment.get_content()))


def unit_columns(sheet: Any) -> dict[str, int]:
    """Unit -> its column, found by its heading (the unit's first alias in config.yaml)."""
    short = {u["name"]: u["aliases"][0] for u in project_config()["units"]}
    headings = {sheet.cell(3, c).value: c for c in range(1, sheet.max_column + 1)}
    return {unit: headings[short[unit]] for unit in UNITS}


def test_the_digest_reaches_each_leader_once_with_the_weeks_workbook(smtp_sink: SmtpSink, tmp_path: Path) -> None:
    config, sent = campaign_in(tmp_path, "week-2", smtp_sink)
    first = run(config, "digest", "--now", "2023-06-14T14:05", smtp=smtp_sink)
    assert "第2周进展汇总已排队 2 封" in first.stdout
    arrived = smtp_sink.wait_for(2)
    for again in ("2023-06-14T14:06", "2023-06-14T18:00"):
        repeat = run(config, "digest", "--now", again, smtp=smtp_sink)
        assert "不再重复发送" in repeat.stdout
    run(config, "digest", "--deadline", "week-2", "--now", "2023-06-15T09:00", smtp=smtp_sink)
    arrived = smtp_sink.messages
    assert sorted(r for m in arrived for r in m.rcpt_tos) == sorted(LEADERS)

    mail = arrived[0].message()
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "第2周进展汇总" in str(mail["Subject"])
    name, book = attached_workbook(arrived[0])
    assert name == "汇总表-第2周进展.xlsx"
    sheet = book["第2周进展"]
    truth = expected_figures(sent, "week-2")
    columns = unit_columns(sheet)
    # Every row's total is the sum of what the units filed, worked out here.
    row = FIRST_ROW
    while sheet.cell(row, 1).value != "报送情况":
        key_values = [sheet.cell(row, columns[u]).value for u in UNITS]
        if sheet.cell(row, 2).value != "活动名称":
            assert sheet.cell(row, sheet.max_column).value == sum_of(key_values), row
        row += 1
    # Every unit's state is right in the standing row and on the 报送情况 sheet.
    for unit in UNITS:
        label, _ = expected_state(sent, unit, "week-2")
        assert sheet.cell(row, columns[unit]).value == label, unit
    standing = book["报送情况"]
    for index, unit in enumerate(UNITS):
        for column, deadline_id in enumerate(("setup", "week-1", "week-2"), start=2):
            label, _ = expected_state(sent, unit, deadline_id)
            assert standing.cell(FIRST_ROW + index, column).value.startswith(label), (unit, deadline_id)
    # The figures of the form, row by row, are those filed (a blank stays blank).
    total_column = sheet.max_column
    first_numbers = [sheet.cell(FIRST_ROW, columns[u]).value for u in UNITS]
    assert first_numbers == [truth[u].get("1.1") for u in UNITS]
    assert sheet.cell(FIRST_ROW, total_column).value == sum_of([truth[u].get("1.1") for u in UNITS])


def test_the_workbook_has_the_figures_of_status_json(tmp_path: Path) -> None:
    config, _ = campaign_in(tmp_path, "week-3")
    target = tmp_path / "汇总表.xlsx"
    printed = run(config, "export", "-o", str(target), "--now", "2023-06-21T15:00").stdout
    assert str(target) in printed
    book = openpyxl.load_workbook(target)
    data = status(config, "2023-06-21T15:00")
    for deadline in data["deadlines"]:
        if not deadline["id"].startswith("week-") or deadline["label"] not in book.sheetnames:
            continue
        sheet = book[deadline["label"]]
        columns = unit_columns(sheet)
        for unit in deadline["units"]:
            for index, key in enumerate(FIGURE_KEYS):
                cell = sheet.cell(FIRST_ROW + index, columns[unit["unit"]]).value
                assert cell == unit["figures"].get(key), (deadline["id"], unit["unit"], key)
        row = FIRST_ROW + len(FIGURE_KEYS)
        assert sheet.cell(row, 1).value == "报送情况"
        assert [sheet.cell(row, columns[u]).value for u in UNITS] == [
            {"on_time": "按时", "late": "逾期", "missing": "未报", "not_due": "未到期"}[u["state"]]
            for u in deadline["units"]
        ]
    assert book.sheetnames[-4:] == ["累计", "报送情况", "附件3", "提示事项"]
    assert "第4周进展" not in book.sheetnames  # not due and nothing sent yet


def test_a_dry_run_writes_the_files_and_sends_nothing(smtp_sink: SmtpSink, tmp_path: Path) -> None:
    config, _ = campaign_in(tmp_path, "week-1", smtp_sink)
    out = tmp_path / "look"
    printed = run(config, "digest", "--dry-run", "--out-dir", str(out), "--now", "2023-06-07T14:00",
                  smtp=smtp_sink).stdout
    paths = [Path(line) for line in printed.splitlines() if line.startswith(str(out))]
    assert [p.name for p in paths] == ["digest-week-1.html", "digest-week-1.txt", "汇总表-第1周进展.xlsx"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert "<html" in paths[0].read_text(encoding="utf-8")
    assert smtp_sink.messages == []
    # A dry run does not count as sent.
    run(config, "digest", "--now", "2023-06-07T14:01", smtp=smtp_sink)
    assert len(smtp_sink.wait_for(2)) == 2


def test_the_scheduler_sends_each_digest_once_and_a_missed_one_late(
    smtp_sink: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = campaign_in(tmp_path, "week-3", smtp_sink)
    monkeypatch.setenv(SMTP_PASSWORD_ENV, smtp_sink.password)
    settings = load_settings(config)
    # Down until after week 1's digest time: setup's digest is superseded, week 1's goes late.
    assert scheduler_tick(settings, "2023-06-08T09:00")
    assert not scheduler_tick(settings, "2023-06-08T09:01")
    assert not scheduler_tick(settings, "2023-06-14T13:59")
    assert scheduler_tick(settings, "2023-06-14T14:00")
    assert not scheduler_tick(settings, "2023-06-14T14:01")
    subjects = [str(m.message()["Subject"]) for m in smtp_sink.wait_for(4)]
    assert len(subjects) == 4
    assert sum("第1周进展汇总" in s for s in subjects) == 2 and sum("第2周进展汇总" in s for s in subjects) == 2
    assert not any("联络员表" in s for s in subjects)
    log = (settings.data_dir / "operator.log").read_text(encoding="utf-8")
    assert "第2周进展汇总已排队" in log


def test_without_leaders_the_command_names_the_key_and_the_scheduler_says_so_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = campaign_in(tmp_path, "week-1", leadership=[])
    result = run(config, "digest", "--now", "2023-06-07T14:00", check=False)
    assert result.returncode == 2
    assert "leadership" in result.stderr
    settings = load_settings(config)
    assert not scheduler_tick(settings, "2023-06-07T14:00")
    assert not scheduler_tick(settings, "2023-06-07T14:01")
    log = (settings.data_dir / "operator.log").read_text(encoding="utf-8")
    assert log.count("汇总无法发送") == 1
    problems = status(config, "2023-06-07T14:02")["outbox"]["problems"]
    assert [p["key"] for p in problems] == ["digest:week-1"]


def test_a_digest_cannot_be_sent_before_its_deadline(smtp_sink: SmtpSink, tmp_path: Path) -> None:
    config, _ = campaign_in(tmp_path, "week-1", smtp_sink)
    early = run(config, "digest", "--deadline", "week-2", "--now", "2023-06-10T09:00", smtp=smtp_sink, check=False)
    assert early.returncode == 1 and "尚未截止" in early.stderr
    run(config, "digest", "--deadline", "week-2", "--dry-run", "--now", "2023-06-10T09:00")
    assert smtp_sink.messages == []


def test_status_still_reads_after_digests(smtp_sink: SmtpSink, tmp_path: Path) -> None:
    config, _ = campaign_in(tmp_path, "week-1", smtp_sink)
    run(config, "digest", "--now", "2023-06-07T14:00", smtp=smtp_sink)
    outbox = json.loads(run(config, "status", "--json", "--now", "2023-06-07T14:10").stdout)["outbox"]
    assert outbox["sent"] == 2 and outbox["queued"] == 0
