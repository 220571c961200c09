"""Each warning carries the kind of problem its reader found, and the acknowledgment gives the
advice for that kind: a blank, a document that will not open, a photo that will not, a form
not sent. Read from real files, through a poll of a folder of .eml files."""

from __future__ import annotations

import email
import pickle
import random
from dataclasses import replace
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.context import Context
from ingest.cycle import poll
from ingest.progress import Silent
from parsers import parse_message
from parsers.concerns import Concern
from parsers.contents import read_contents
from parsers.forms import builtin_definitions
from store.config import load_settings
from store.model import ProblemKind
from tests.baosong_cli import REGISTERED, write_config
from tests.formfactory import fill_statistics, random_habit, statistics_docx
from tests.mailfactory import county_mail

BEIJING = ZoneInfo("Asia/Shanghai")
SENT = datetime(2023, 6, 6, 9, 30, tzinfo=BEIJING)
FILES = Path(__file__).parent / "cases" / "files"
BROKEN_PHOTO = b"\xff\xd8\xff\xe0" + bytes(200)  # a JPEG cut off after its first bytes


def form_with_blanks() -> bytes:
    rng = random.Random(11)
    habit = replace(random_habit(rng), unfilled=0.3)
    return statistics_docx(fill_statistics(rng, habit, "盐湖区"), "printed", rng)


def weekly(unit: str, files: list[tuple[str, bytes, str]]) -> bytes:
    return county_mail(
        sender=REGISTERED[unit], sender_name="联络员", subject=f"{unit}第1周进展", body="请查收。",
        date=SENT, files=files, style="webmail_utf8",
    )


def kinds_of(raw: bytes) -> dict[ProblemKind, list[str]]:
    contents = read_contents(parse_message(raw), builtin_definitions(), None, BEIJING)
    found: dict[ProblemKind, list[str]] = {}
    for warning in contents.warnings:
        assert isinstance(warning, Concern)
        found.setdefault(warning.kind, []).append(warning)
    return found


def test_the_reader_that_finds_a_problem_says_its_kind() -> None:
    blanks = kinds_of(weekly("盐湖区工科局", [("附件2.docx", form_with_blanks(), "application/octet-stream")]))
    assert blanks[ProblemKind.BLANK] and all(w.endswith("未填写") for w in blanks[ProblemKind.BLANK])
    locked = (FILES / "word2007-encrypted.docx").read_bytes()
    unread = kinds_of(weekly("永济市工科局", [("附件2.docx", locked, "application/octet-stream")]))
    assert unread[ProblemKind.UNREADABLE] and all("密码" in w for w in unread[ProblemKind.UNREADABLE])
    photo = kinds_of(weekly("河津市工科局", [("现场.jpg", BROKEN_PHOTO, "image/jpeg")]))
    assert list(photo) == [ProblemKind.OTHER] and "图片" in photo[ProblemKind.OTHER][0]


def test_a_warning_keeps_its_kind_on_its_way_from_the_reading_worker() -> None:
    warning = Concern(ProblemKind.SUSPICIOUS, "附件2 第1项 第2空 填报 9999，请核实")
    back = pickle.loads(pickle.dumps(warning))
    assert (back, back.kind, type(back)) == (warning, ProblemKind.SUSPICIOUS, Concern)


def ack_texts(outbox: Path) -> dict[str, str]:
    """Recipient -> the plain text of the acknowledgment written to the outbox folder."""
    found = {}
    for path in outbox.glob("ack_*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(("plain",))
        assert body is not None
        [recipient] = message["To"].addresses
        found[recipient.addr_spec] = str(body.get_content())
    return found


def test_each_acknowledgment_gives_the_advice_for_the_kind_of_problem(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    locked = (FILES / "word2007-encrypted.docx").read_bytes()
    sent = {
        "盐湖区工科局": [("附件2.docx", form_with_blanks(), "application/octet-stream")],
        "永济市工科局": [("附件2.docx", locked, "application/octet-stream")],
        "河津市工科局": [("现场.jpg", BROKEN_PHOTO, "image/jpeg")],
    }
    for n, (unit, files) in enumerate(sent.items()):
        (mail / f"{n}.eml").write_bytes(weekly(unit, files))
    config = write_config(tmp_path, mailbox={"eml_dir": str(mail)})
    context = Context.build(load_settings(config), lambda: SENT.replace(hour=11))
    try:
        report = poll(context, Silent())
    finally:
        context.close()

    assert report.filed == 3
    acks = ack_texts(tmp_path / "outbox")
    blank, word, resend = "请补填后将整张表重新发送", "另存为 .docx", "请核对后按要求重新发送"
    assert blank in acks[REGISTERED["盐湖区工科局"]]
    assert word in acks[REGISTERED["永济市工科局"]]
    # A photo that will not open is no Word document to save again.
    assert resend in acks[REGISTERED["河津市工科局"]] and word not in acks[REGISTERED["河津市工科局"]]
    # And 河津's weekly mail has no 附件2 at all.
    assert "请补发该表" in acks[REGISTERED["河津市工科局"]]
