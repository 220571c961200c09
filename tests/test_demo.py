"""`baosong demo` on the bundled sample mailbox, and the sample itself."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from parsers import parse_message
from tests import samplebuilder
from tests.baosong_cli import baosong_command

EXPECTED_STATES = {  # from the scenario written in tests/samplebuilder.py
    ("垣曲县工科局", "week-1"): "missing",
    ("闻喜县工科局", "week-1"): "late",
    ("新绛县工科局", "week-3"): "late",
    ("夏县工科局", "setup"): "missing",
    ("平陆县工科局", "setup"): "late",
    ("芮城县工科局", "summary"): "late",
    ("盐湖区工科局", "week-4"): "on_time",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo")
    result = subprocess.run(
        [*baosong_command(), "demo", "--into", str(folder)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def demo_status(folder: Path, stdout: str) -> dict[str, Any]:
    now = stdout.rsplit("--now ", 1)[1].split()[0]
    result = subprocess.run(
        [*baosong_command(), "--config", str(folder / "config.yaml"), "status", "--json", "--now", now],
        capture_output=True, text=True, timeout=60, check=True,
    )
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_the_demo_files_every_report_and_prints_where_things_went(demo: tuple[Path, str]) -> None:
    folder, stdout = demo
    assert f"所有文件在 {folder}" in stdout
    assert "已归档 80" in stdout and "非报送邮件 10" in stdout and "待分拣 1" in stdout and "重复邮件 1" in stdout
    assert (folder / "data" / "operator.log").stat().st_size > 0
    assert (folder / "data" / "archive" / "盐湖区工科局" / "week-1").is_dir()
    status = demo_status(folder, stdout)
    states = {(u["unit"], d["id"]): u["state"] for d in status["deadlines"] for u in d["units"]}
    for key, state in EXPECTED_STATES.items():
        assert states[key] == state, key


def test_the_demo_answers_and_chases(demo: tuple[Path, str]) -> None:
    folder, _ = demo
    sent = [p.name for p in (folder / "outbox").glob("*.eml")]
    acks = [n for n in sent if n.startswith("ack_")]
    reminders = [n for n in sent if n.startswith("remind_")]
    assert acks and reminders
    # 闻喜县 (registered) was late for week 1: reminded before the deadline, and after it.
    assert any(n.startswith("remind_闻喜县工科局_week-1_two-hours") for n in reminders)
    assert any(n.startswith("remind_闻喜县工科局_week-1_overdue") for n in reminders)
    # 夏县 sent no address anybody knows: never acknowledged, never mailed.
    assert not any("xiaxian" in n for n in sent)
    # Each (unit, deadline, stage) at most once.
    assert len(set(reminders)) == len(reminders)
    # One digest per deadline to the one leader, and the 汇总表 beside it.
    digests = sorted(n for n in sent if n.startswith("digest_"))
    assert [n.split("~")[0] for n in digests] == [
        f"digest_{d}" for d in sorted(["setup", "week-1", "week-2", "week-3", "week-4", "summary"])
    ]
    assert (folder / "汇总表.xlsx").stat().st_size > 0


def test_the_bundled_sample_is_what_the_builder_makes(tmp_path: Path) -> None:
    mails, _ = samplebuilder.build(random.Random(samplebuilder.SEED))
    bundled = sorted((samplebuilder.SAMPLE / "maildir" / "cur").glob("[!.]*"))
    assert len(bundled) == len(mails)

    def outline(raw: bytes) -> tuple[object, ...]:
        message = parse_message(raw)
        return (message.envelope.sender, message.envelope.subject, message.envelope.received_at,
                tuple(a.filename for a in message.attachments))

    assert [outline(p.read_bytes()) for p in bundled] == [outline(m.raw) for m in mails]


def test_the_figures_read_from_the_sample_equal_what_the_units_filled_in(demo: tuple[Path, str]) -> None:
    folder, stdout = demo
    truth: dict[str, dict[str, dict[str, object]]] = json.loads(samplebuilder.TRUTH.read_text(encoding="utf-8"))
    status = demo_status(folder, stdout)
    read = {(d["id"], u["unit"]): u["figures"] for d in status["deadlines"] for u in d["units"]}
    compared = exact = invented = 0
    for deadline, units in truth.items():
        for unit, figures in units.items():
            for key, value in figures.items():
                got = read[(deadline, unit)].get(key)
                compared += 1
                exact += got == value
                invented += got is not None and got != value
    assert compared > 1500
    assert invented == 0
    assert exact / compared >= 0.995, f"{exact}/{compared}"


def test_reprocess_rebuilds_the_same_submissions_and_sends_nothing_again(
    demo: tuple[Path, str], tmp_path: Path
) -> None:
    folder, stdout = demo
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    before = demo_status(copy, stdout)
    sent_before = sorted(p.name for p in (copy / "outbox").glob("*.eml"))
    result = subprocess.run(
        [*baosong_command(), "--config", str(copy / "config.yaml"), "reprocess", "--now", "2023-07-02T09:00"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    assert "重新处理完成" in result.stdout and "归档 80" in result.stdout
    after = demo_status(copy, stdout)
    assert after["deadlines"] == before["deadlines"]
    assert sorted(p.name for p in (copy / "outbox").glob("*.eml")) == sent_before
