"""`baosong demo`: the whole product on the bundled sample mailbox, no network, no credentials.

The sample (ingest/sample/, made by tests/samplebuilder.py) is a Maildir of county mails over
the 2023 campaign. The demo copies it into a folder, writes a config that reads it and writes
outgoing mail as .eml files, then replays the campaign by stepping the clock over the moments
that matter (daily polls, every reminder stage, every digest) exactly as `baosong run` would
act at those moments.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ingest.context import Context
from ingest.cycle import poll
from ingest.due import send_due
from ingest.progress import Progress, Silent
from ingest.reports import export_workbook
from ingest.sources import open_source
from ingest.views import status_table
from notify.remind import stage_time
from store.config import Settings, load_settings
from store.model import Campaign
from store.status import load_status

SAMPLE = resources.files("ingest") / "sample"
DAILY_POLLS = (time(9, 0), time(17, 30))


@dataclass(frozen=True)
class DemoResult:
    folder: Path
    config: Path
    settings: Settings
    end: datetime
    workbook: Path  # the 汇总表 at the end of the campaign


def prepare(folder: Path) -> Path:
    """Copy the sample mailbox into `folder` and write a config.yaml that uses it."""
    folder.mkdir(parents=True, exist_ok=True)
    mailbox = folder / "mailbox"
    if mailbox.exists():
        shutil.rmtree(mailbox)
    with resources.as_file(SAMPLE / "maildir") as sample:
        shutil.copytree(sample, mailbox)
    config: dict[str, Any] = yaml.safe_load((SAMPLE / "config.yaml").read_text(encoding="utf-8"))
    config["mailbox"] = {"maildir": "mailbox"}
    config["smtp"] = {"outbox_dir": "outbox", "sender": config["smtp"]["sender"]}
    config["data_dir"] = "data"
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def moments(campaign: Campaign, settings: Settings) -> list[datetime]:
    """Every moment the replay visits: two polls a day, each reminder stage, each digest time."""
    zone = campaign.timezone
    last = campaign.deadlines[-1].due + timedelta(days=1)
    found = set(_days(campaign.start, last, zone))
    for deadline in campaign.deadlines:
        for stage in settings.notify.reminders:
            found.add(stage_time(stage, deadline.due, zone) + timedelta(minutes=1))
        found.add(deadline.due + settings.notify.digest_after + timedelta(minutes=1))
    return sorted(m for m in found if campaign.start <= m <= last + timedelta(days=1))


def _days(start: datetime, end: datetime, zone: Any) -> Iterator[datetime]:
    day = start.date()
    while day <= end.date():
        for clock in DAILY_POLLS:
            yield datetime.combine(day, clock, tzinfo=zone)
        day += timedelta(days=1)


def _fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def replay(config: Path, progress: Progress) -> DemoResult:
    """Step the clock over the campaign: at each moment, poll and send what is due."""
    settings = load_settings(config)
    campaign = settings.campaign_model()
    steps = moments(campaign, settings)
    progress.start("回放 2023 年报送周期", len(steps))
    for moment in steps:
        ctx = Context.build(settings, _fixed(moment))
        try:
            poll(ctx, Silent())
            send_due(ctx)
        finally:
            ctx.close()
        progress.advance()
    progress.finish()
    ctx = Context.build(settings, _fixed(steps[-1]))
    try:
        workbook = export_workbook(ctx, None, config.parent / "汇总表.xlsx")
    finally:
        ctx.close()
    return DemoResult(config.parent, config, settings, steps[-1], workbook)


def describe_demo(ctx: Context, result: DemoResult) -> str:
    """Where everything went, what was sent, and the status table at the end of the campaign."""
    folder = result.folder
    data = ctx.settings.data_dir
    sent = sorted((folder / "outbox").glob("*.eml")) if (folder / "outbox").exists() else []
    kinds = {kind: sum(1 for p in sent if p.name.startswith(kind + "_")) for kind in ("ack", "remind", "digest")}
    digests = sorted((p for p in sent if p.name.startswith("digest_")), key=lambda p: p.stat().st_mtime)
    counts = ctx.store.outcome_counts()
    status = load_status(ctx.store, ctx.campaign, result.end, open_source(ctx.settings.mailbox).key)
    lines = [
        "",
        f"演示完成：2023 年“安全生产月”的报送周期已按时间顺序回放。所有文件在 {folder}",
        f"  样例邮箱（Maildir）      {folder / 'mailbox'}",
        f"  归档（按单位/报送节点）  {data / 'archive'}",
        f"  操作日志                 {ctx.oplog.path}（{len(ctx.oplog.lines())} 行）",
        f"  发出的邮件（.eml）       {folder / 'outbox'}（回执 {kinds['ack']} 封，提醒 {kinds['remind']} 封，"
        f"汇总 {kinds['digest']} 封）",
        f"  汇总表                   {result.workbook}",
        f"  给领导的汇总（最后一封） {digests[-1] if digests else '（无）'}",
        f"  数据库                   {data / 'baosong.sqlite3'}",
        "  邮件处理结果             "
        + "，".join(f"{outcome.label} {n}" for outcome, n in sorted(counts.items())),
        "",
        status_table(status, ctx.campaign.timezone),
        "",
        f"再看一次：baosong status --config {result.config} --now {result.end.isoformat()}",
    ]
    return "\n".join(lines)
