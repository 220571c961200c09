"""The first week and a half of the campaign replayed through Dovecot and aiosmtpd, the way
`baosong run` acts: at each moment its poll job, then its due job, on a stepped clock.

The expected acknowledgments and reminders are worked out here from the sample mails alone
(who sent what when), independently of the program's own decisions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from ingest.daemon import Daemon
from parsers import parse_message
from store.config import load_settings
from tests import samplebuilder
from tests.baosong_cli import IMAP_PASSWORD_ENV, SMTP_PASSWORD_ENV, run
from tests.servers import Account, SmtpSink

BEIJING = ZoneInfo("Asia/Shanghai")
END = datetime(2023, 6, 8, 9, 30, tzinfo=BEIJING)
SETUP_DUE = datetime(2023, 5, 31, 23, 59, 59, tzinfo=BEIJING)
WEEK1_DUE = datetime(2023, 6, 7, 12, 0, tzinfo=BEIJING)
# The default stages (config.yaml's notify block): the day before 10:00, 2 h before, 10 min after,
# the next morning 09:00.
STAGES = {
    "setup": [datetime(2023, 5, 30, 10, 0, tzinfo=BEIJING), SETUP_DUE - timedelta(hours=2),
              SETUP_DUE + timedelta(minutes=10), datetime(2023, 6, 1, 9, 0, tzinfo=BEIJING)],
    "week-1": [datetime(2023, 6, 6, 10, 0, tzinfo=BEIJING), WEEK1_DUE - timedelta(hours=2),
               WEEK1_DUE + timedelta(minutes=10), datetime(2023, 6, 8, 9, 0, tzinfo=BEIJING)],
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2023, 5, 29, 9, 0, tzinfo=BEIJING)

    def __call__(self) -> datetime:
        return self.now


def sample_mails() -> list[tuple[datetime, bytes]]:
    mails = []
    for path in sorted((samplebuilder.SAMPLE / "maildir" / "cur").glob("[!.]*")):
        raw = path.read_bytes()
        received = parse_message(raw).envelope.received_at
        assert received is not None
        if received <= END:
            mails.append((received, raw))
    return mails


def county(raw: bytes) -> tuple[str, str] | None:
    """(sender, subject) of a mail a county office wrote itself, else None."""
    envelope = parse_message(raw).envelope
    if not envelope.sender.endswith("@county.test") or envelope.header("auto-submitted"):
        return None
    return envelope.sender, envelope.subject


@dataclass(frozen=True)
class Replay:
    mails: list[tuple[datetime, bytes]]
    sent_at: dict[datetime, list[str]]  # moment -> "Auto-Submitted|recipient" of each mail sent then
    config: Path


@pytest.fixture
def replay(imap_account: Account, smtp_sink: SmtpSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Replay:
    mails = sample_mails()
    for received, raw in mails:
        imap_account.append(raw, received)
    config = yaml.safe_load((samplebuilder.SAMPLE / "config.yaml").read_text(encoding="utf-8"))
    config["mailbox"] = {
        "host": imap_account.server.host, "port": imap_account.server.port, "tls": "implicit",
        "ca_file": str(imap_account.server.ca_file), "username": imap_account.username,
        "password_env": IMAP_PASSWORD_ENV,
    }
    config["smtp"] = {
        "host": smtp_sink.host, "port": smtp_sink.port, "tls": "implicit", "ca_file": str(smtp_sink.ca_file),
        "username": smtp_sink.username, "password_env": SMTP_PASSWORD_ENV,
        "sender": "运城市工信局运行监测科 <bureau@city.test>",
    }
    config["notify"] = {"throttle_per_minute": 60_000}
    config["data_dir"] = str(tmp_path / "data")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv(IMAP_PASSWORD_ENV, imap_account.password)
    monkeypatch.setenv(SMTP_PASSWORD_ENV, smtp_sink.password)

    clock = Clock()
    daemon = Daemon(load_settings(tmp_path / "config.yaml"), clock)
    moments = {datetime.combine(clock.now.date() + timedelta(days=d), t, tzinfo=BEIJING)
               for d in range(11) for t in (time(9, 0), time(17, 30))}
    moments |= {m + timedelta(minutes=1) for stages in STAGES.values() for m in stages}
    sent_at: dict[datetime, list[str]] = {}
    seen = 0
    for moment in sorted(m for m in moments if m <= END):
        clock.now = moment
        daemon.poll_job()
        daemon.due_job()
        captured = smtp_sink.messages
        sent_at[moment] = [f"{c.message()['Auto-Submitted']}|{c.rcpt_tos[0]}" for c in captured[seen:]]
        seen = len(captured)
    return Replay(mails, sent_at, tmp_path / "config.yaml")


REGISTERED = {f"{local}@county.test" for _, _, local in samplebuilder.UNITS[: samplebuilder.REGISTERED_IN_CONFIG]}


def known_by(mails: list[tuple[datetime, bytes]], at: datetime) -> set[str]:
    """Addresses that speak for a unit at `at`: registered, or on a 附件1 received by then."""
    learned = {c[0] for when, raw in mails if when <= at and (c := county(raw)) and "联络员表" in c[1]}
    return REGISTERED | learned


def test_every_report_from_a_known_address_is_acknowledged_once_and_nothing_else_is(replay: Replay) -> None:
    mails, sent_at = replay.mails, replay.sent_at
    reports = {(when, c) for when, raw in mails if (c := county(raw)) is not None}
    first = {c: min(w for w, other in reports if other == c) for _, c in reports}  # a resend counts once
    expected = sorted(sender for (sender, subject), when in first.items() if sender in known_by(mails, when))
    acks = sorted(r.split("|")[1] for sent in sent_at.values() for r in sent if r.startswith("auto-replied"))
    assert acks == expected
    # 夏县 never sent a 附件1 and is not registered: its report is filed unverified, unanswered.
    assert "xiaxian@county.test" not in acks and any(s == "xiaxian@county.test" for s, _ in first)


def test_reminders_go_to_exactly_the_units_missing_at_each_stage(replay: Replay) -> None:
    mails, sent_at = replay.mails, replay.sent_at
    county_mail = [(when, c) for when, raw in mails if (c := county(raw)) is not None]

    def answered(deadline: str, at: datetime) -> set[str]:
        marker = "联络员表" if deadline == "setup" else "第1周"
        return {s for when, (s, subject) in county_mail if when <= at and marker in subject}

    for deadline, stages in STAGES.items():
        for stage in stages:
            # The replay visits the stage's own minute when it is a daily poll, else one after.
            moments = [m for m in sent_at if stage <= m <= stage + timedelta(minutes=1)]
            expected = sorted(known_by(mails, moments[0]) - answered(deadline, moments[0]))
            reminded = sorted(
                r.split("|")[1] for m in moments for r in sent_at[m]
                if r.startswith("auto-generated") and not r.endswith("|leader@city.test")
            )
            assert reminded == expected, (deadline, stage)
    digests = [m for m, sent in sent_at.items() for r in sent if r.endswith("|leader@city.test")]
    assert [d.date().isoformat() for d in digests] == ["2023-06-01", "2023-06-07"]


def test_the_week_1_figures_in_status_are_what_the_units_filled_in(replay: Replay) -> None:
    truth = json.loads(samplebuilder.TRUTH.read_text(encoding="utf-8"))["week-1"]
    status = json.loads(run(replay.config, "status", "--json", "--deadline", "week-1", "--now", END.isoformat()).stdout)
    figures = {u["unit"]: u["figures"] for u in status["deadlines"][0]["units"]}
    assert truth and {unit: figures[unit] for unit in truth} == truth
