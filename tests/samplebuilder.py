"""Builds the demo's sample mailbox: county mails over the 2023 campaign, as units send them.

    .venv/bin/python -m tests.samplebuilder          # rewrites ingest/sample/

Deterministic apart from the timestamps python-docx and openpyxl put inside the files: the
same seed gives the same mails, senders, times, figures and file names. Alongside the Maildir
it writes tests/cases/sample_truth.json: every figure each unit reported, for the demo's test.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import docx
import yaml
from PIL import Image, ImageDraw

from tests import formfactory as forms
from tests.mailfactory import STYLES, File, auto_reply, county_mail, dsn_bounce

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "ingest" / "sample"
TRUTH = ROOT / "tests" / "cases" / "sample_truth.json"
BEIJING = ZoneInfo("Asia/Shanghai")
SEED = 2023

# (unit, short name used in subjects and forms, mailbox local part)
UNITS = (
    ("盐湖区工科局", "盐湖区", "yanhu"),
    ("永济市工科局", "永济市", "yongji"),
    ("河津市工科局", "河津市", "hejin"),
    ("临猗县工科局", "临猗县", "linyi"),
    ("万荣县工科局", "万荣县", "wanrong"),
    ("闻喜县工科局", "闻喜县", "wenxi"),
    ("稷山县工科局", "稷山县", "jishan"),
    ("新绛县工科局", "新绛县", "xinjiang"),
    ("绛县工科局", "绛县", "jiangxian"),
    ("垣曲县工科局", "垣曲县", "yuanqu"),
    ("夏县工科局", "夏县", "xiaxian"),
    ("平陆县工科局", "平陆县", "pinglu"),
    ("芮城县工科局", "芮城县", "ruicheng"),
    ("运城开发区产业发展部", "运城开发区", "kaifaqu"),
)
REGISTERED_IN_CONFIG = 6  # the first six are known from last year; the rest learn via 附件1
WORD = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EXCEL = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WEEK_DUES = ("2023-06-07", "2023-06-14", "2023-06-21", "2023-06-28")


@dataclass
class Mail:
    received: datetime
    raw: bytes


def address(local: str) -> str:
    return f"{local}@county.test"


def photo(rng: random.Random, taken: datetime, label: str) -> bytes:
    """A small JPEG 'site photo' with its EXIF date, as a phone would send it (but tiny)."""
    image = Image.new("RGB", (320, 240), tuple(rng.randint(60, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randint(0, 280), rng.randint(0, 200)
        draw.rectangle((x, y, x + rng.randint(20, 80), y + rng.randint(20, 60)),
                       fill=tuple(rng.randint(0, 255) for _ in range(3)))
    draw.text((10, 10), label.encode("ascii", "replace").decode(), fill=(255, 255, 255))
    exif = Image.Exif()
    exif[0x8769] = {0x9003: taken.strftime("%Y:%m:%d %H:%M:%S")}  # DateTimeOriginal
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=60, exif=exif)
    return buffer.getvalue()


def plan_docx(short: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(f"{short}2023年“安全生产月”活动方案")
    document.add_paragraph("一、活动主题：人人讲安全、个个会应急。")
    document.add_paragraph("二、活动安排：6月每周三前报送活动进展情况统计表，6月16日参加“安全宣传咨询日”。")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def summary_docx(short: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(f"{short}2023年“安全生产月”活动总结")
    document.add_paragraph("今年安全生产月期间，我局围绕“人人讲安全、个个会应急”主题，组织开展了多项活动。")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def at(day: str, clock: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=BEIJING)


def build(rng: random.Random) -> tuple[list[Mail], dict[str, Any]]:
    mails: list[Mail] = []
    truth: dict[str, Any] = {}

    def send(unit_index: int, subject: str, body: str, when: datetime, files: list[File]) -> Mail:
        _, short, local = UNITS[unit_index]
        raw = county_mail(
            sender=address(local), sender_name=f"{short}工科局", subject=subject, body=body, date=when,
            files=files, style=STYLES[unit_index % len(STYLES)],
        )
        mails.append(Mail(when + timedelta(seconds=7), raw))
        return mails[-1]

    # Setup: liaison form and plan by 05-31. 夏县 never sends; 平陆县 sends a day late.
    for i, (name, short, local) in enumerate(UNITS):
        if short == "夏县":
            continue
        contact = forms.random_contact(rng, short)
        contact["unit"] = name
        contact["email"] = address(local)
        day = "2023-06-01" if short == "平陆县" else rng.choice(["2023-05-30", "2023-05-31"])
        when = at(day, f"{rng.randint(8, 17):02d}:{rng.randint(0, 59):02d}")
        send(i, f"{short}安全生产月联络员表及活动方案", "您好！附件是我单位联络员表和活动方案，请查收。", when, [
            (f"附件1：“安全生产月”活动联络员表（{short}）.docx", forms.liaison_docx(contact), WORD),
            (f"{short}2023年安全生产月活动方案.docx", plan_docx(short), WORD),
        ])

    # Four weekly reports: 附件2 in Word or Excel, photos; some late, some missing.
    missing = {0: {"垣曲县"}, 1: {"夏县", "芮城县"}, 2: {"夏县"}, 3: {"夏县", "稷山县"}}
    late = {0: {"闻喜县"}, 1: {"平陆县"}, 2: {"闻喜县", "新绛县"}, 3: set()}
    resend: Mail | None = None
    for week, due in enumerate(WEEK_DUES):
        due_day = datetime.fromisoformat(due)
        for i, (name, short, _) in enumerate(UNITS):
            if short in missing[week]:
                continue
            if short in late[week]:
                when = at(due, f"{rng.randint(14, 17):02d}:{rng.randint(0, 59):02d}")
            else:
                day = (due_day - timedelta(days=rng.choice([0, 1, 1, 2]))).date().isoformat()
                clock = f"{rng.randint(8, 11):02d}:{rng.randint(0, 59):02d}"
                when = at(day, clock)
            habit = forms.random_habit(rng)
            statistics = forms.fill_statistics(rng, habit, short.removesuffix("工科局"))
            statistics.header["填报单位"] = name
            if rng.random() < 0.6:
                layout = rng.choice(forms.STATISTICS_WORD_LAYOUTS)
                form: File = (f"附件2：“安全生产月”活动进展情况统计表（{short}第{week + 1}周）.docx",
                              forms.statistics_docx(statistics, layout, rng), WORD)
            else:
                layout = rng.choice(forms.STATISTICS_SHEET_LAYOUTS)
                form = (f"{short}第{week + 1}周统计表.xlsx", forms.statistics_xlsx(statistics, layout), EXCEL)
            photos: list[File] = [
                (f"现场照片{n + 1}.jpg", photo(rng, when - timedelta(days=n + 1), f"week {week + 1}"),
                 "image/jpeg")
                for n in range(rng.randint(1, 2))
            ]
            subject = rng.choice([
                f"{short}第{week + 1}周安全生产月进展情况",
                f"{short}安全生产月活动进展（第{week + 1}周）",
                f"报送：{short}第{week + 1}周统计表",
            ])
            sent = send(i, subject, "附件是本周活动进展情况统计表和现场照片，请查收。", when, [form, *photos])
            resend = resend or sent
            truth.setdefault(f"week-{week + 1}", {})[name] = statistics.figures

    # The 安全宣传咨询日 (06-16): feature-activity mails on the day, with photos.
    for i in (0, 3, 7, 12):
        name, short, _ = UNITS[i]
        when = at("2023-06-16", f"{rng.randint(15, 18):02d}:{rng.randint(0, 59):02d}")
        send(i, f"{short}特色活动：安全宣传咨询日", "今天我局在广场开展了安全宣传咨询日活动，照片见附件。", when, [
            ("咨询日现场.jpg", photo(rng, when - timedelta(hours=3), "zixunri"), "image/jpeg"),
        ])

    # Summaries by 06-30; 芮城县 a day late, 夏县 never.
    for i, (_, short, _) in enumerate(UNITS):
        if short == "夏县":
            continue
        day = "2023-07-01" if short == "芮城县" else rng.choice(["2023-06-29", "2023-06-30"])
        when = at(day, f"{rng.randint(9, 17):02d}:{rng.randint(0, 59):02d}")
        send(i, f"{short}安全生产月活动总结", "附件是我单位安全生产月活动总结。", when, [
            (f"{short}安全生产月活动总结.docx", summary_docx(short), WORD),
        ])

    # What else lands in the bureau's everyday mailbox.
    for n in range(8):
        when = at(f"2023-06-{n * 3 + 2:02d}", "08:30")
        mails.append(Mail(when, county_mail(
            sender=f"office{n}@city.test", sender_name="市政府办公室", subject=f"关于召开第{n + 1}次工作例会的通知",
            body="请各科室负责人准时参加。", date=when, style="webmail_utf8")))
    bounced = mails[-1].raw
    when = at("2023-06-06", "10:02")
    mails.append(Mail(when, auto_reply(sender=address("yongji"), sender_name="永济市工科局", date=when,
                                       original_subject="第1周进展提醒")))
    mails.append(Mail(when, dsn_bounce(original=bounced, failed_recipient="old-liaison@county.test", date=when)))
    when = at("2023-06-13", "16:20")
    mails.append(Mail(when, county_mail(sender="zhang.san@qq.test", sender_name="张三", subject="安全生产月材料",
                                        body="材料见附件", date=when,
                                        files=[("材料.docx", plan_docx("某单位"), "application/octet-stream")],
                                        style="webmail_utf8")))
    assert resend is not None  # a county presses send twice
    mails.append(Mail(resend.received + timedelta(minutes=3), resend.raw))
    mails.sort(key=lambda m: m.received)
    return mails, truth


def sample_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    emails = {name: [address(local)] for name, _, local in UNITS[:REGISTERED_IN_CONFIG]}
    for unit in config["units"]:
        unit["emails"] = emails.get(unit["name"], [])
    config["smtp"]["sender"] = "运城市工信局运行监测科 <ycjjyxk@126.com>"
    config["leadership"] = ["leader@city.test"]
    return config


def write(target: Path, mails: list[Mail], truth: dict[str, Any]) -> None:
    maildir = target / "maildir"
    if maildir.exists():
        shutil.rmtree(maildir)
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
        (maildir / sub / ".keep").touch()
    for n, mail in enumerate(mails):
        stamp = int(mail.received.timestamp())
        (maildir / "cur" / f"{stamp}.{n:04d}.sample:2,S").write_bytes(mail.raw)
    (target / "config.yaml").write_text(
        "# The demo's campaign: config.yaml of the project with the sample units' addresses.\n"
        + yaml.safe_dump(sample_config(), allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    TRUTH.parent.mkdir(parents=True, exist_ok=True)
    TRUTH.write_text(json.dumps(truth, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")


def main() -> None:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    mails, truth = build(random.Random(SEED))
    write(target, mails, truth)
    print(f"{len(mails)} mails written to {target / 'maildir'}")


if __name__ == "__main__":
    main()
