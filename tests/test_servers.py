"""The real-server harness itself: if these fail, every test built on it is suspect."""

import json
import os
import smtplib
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers import Account, Dovecot, SmtpSink

CHINA = timezone(timedelta(hours=8))
REPO = Path(__file__).resolve().parents[1]


def raw_message(subject: str, body: str = "正文") -> bytes:
    message = EmailMessage()
    message["From"] = "county@126.test"
    message["To"] = "office@126.test"
    message["Subject"] = subject
    message.set_content(body)
    return message.as_bytes(policy=policy.SMTP)  # CRLF, as Dovecot hands messages back


def login(server: Dovecot, account: Account) -> IMAPClient:
    """Log in the way the code under test does: as the account itself, over implicit TLS."""
    client = IMAPClient(server.host, server.port, ssl=True, ssl_context=server.ssl_context())
    client.normalise_times = False
    client.login(account.username, account.password)
    return client


def snapshot(account: Account, folder: str) -> list[tuple[bytes, datetime, frozenset[bytes]]]:
    """Everything that must survive a UIDVALIDITY change, in UID order."""
    with account.client() as client:
        client.select_folder(folder, readonly=True)
        fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[]", "INTERNALDATE", "FLAGS"])
    return [
        (data[b"BODY[]"], data[b"INTERNALDATE"], frozenset(data[b"FLAGS"]) - {b"\\Recent"})
        for _, data in sorted(fetched.items())
    ]


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan's zombie may never be reaped in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# --- Dovecot -----------------------------------------------------------------------------------


def test_implicit_tls_is_verified_with_the_ca_file(
    dovecot_server: Dovecot, imap_account: Account
) -> None:
    with login(dovecot_server, imap_account) as client:
        assert client.socket().version() in {"TLSv1.2", "TLSv1.3"}
    untrusting = ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(dovecot_server.host, dovecot_server.port, ssl_context=untrusting)


def test_starttls_port_upgrades_and_verifies(
    dovecot_server: Dovecot, imap_account: Account
) -> None:
    host, port = dovecot_server.host, dovecot_server.starttls_port
    with IMAPClient(host, port, ssl=False) as client:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(dovecot_server.ssl_context())
        assert isinstance(client.socket(), ssl.SSLSocket)
        client.login(imap_account.username, imap_account.password)
    untrusted = IMAPClient(host, port, ssl=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        untrusted.starttls(ssl.create_default_context())


def test_only_the_right_password_logs_in(dovecot_server: Dovecot) -> None:
    first, second = dovecot_server.new_account(), dovecot_server.new_account()
    wrong = Account(dovecot_server, first.username, second.password, first.maildir)
    with pytest.raises(LoginError):
        login(dovecot_server, wrong)
    unknown = Account(dovecot_server, "nobody@126.test", first.password, first.maildir)
    with pytest.raises(LoginError):
        login(dovecot_server, unknown)


def test_each_account_is_a_separate_empty_mailbox(dovecot_server: Dovecot) -> None:
    first, second = dovecot_server.new_account(), dovecot_server.new_account()
    first.append(raw_message("只在第一个"), datetime(2025, 3, 1, tzinfo=CHINA))
    assert len(first.flags()) == 1
    assert second.flags() == {}
    assert first.maildir.is_dir()
    assert first.maildir != second.maildir


def test_append_sets_internaldate_and_returns_the_uid(
    dovecot_server: Dovecot, imap_account: Account
) -> None:
    sent = {
        imap_account.append(raw_message("一月"), datetime(2025, 1, 31, 23, 59, 59, tzinfo=CHINA)),
        imap_account.append(raw_message("二月"), datetime(2025, 2, 1, 8, 0, tzinfo=UTC)),
    }
    assert len(sent) == 2
    with login(dovecot_server, imap_account) as client:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search("ALL"), ["INTERNALDATE", "BODY.PEEK[]"])
    assert set(fetched) == sent
    dates = {data[b"BODY[]"]: data[b"INTERNALDATE"] for data in fetched.values()}
    assert dates == {
        raw_message("一月"): datetime(2025, 1, 31, 23, 59, 59, tzinfo=CHINA),
        raw_message("二月"): datetime(2025, 2, 1, 8, 0, tzinfo=UTC),
    }


def test_append_refuses_a_naive_internaldate(imap_account: Account) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        imap_account.append(raw_message("无时区"), datetime(2025, 1, 1))


def test_flags_are_stored_as_given(imap_account: Account) -> None:
    when = datetime(2025, 4, 1, tzinfo=CHINA)
    given = {
        imap_account.append(raw_message("a"), when, [b"\\Seen", "$Forwarded"]): {
            b"\\Seen",
            b"$Forwarded",
        },
        imap_account.append(raw_message("b"), when, ["\\Flagged", "\\Answered"]): {
            b"\\Flagged",
            b"\\Answered",
        },
        imap_account.append(raw_message("c"), when): set(),
    }
    assert {uid: set(flags) for uid, flags in imap_account.flags().items()} == given


def test_folders_are_those_of_126_with_special_use(imap_account: Account) -> None:
    with imap_account.client() as client:
        assert client.find_special_folder(b"\\Junk") == "垃圾邮件"
        assert client.find_special_folder(b"\\Sent") == "已发送"
    imap_account.append(raw_message("广告"), datetime(2025, 4, 1, tzinfo=CHINA), folder="垃圾邮件")
    assert (imap_account.maildir / "&V4NXPpCuTvY-" / "cur").is_dir()


@pytest.mark.parametrize("folder", ["INBOX", "垃圾邮件"])
def test_recreate_mailbox_changes_uidvalidity_and_keeps_messages(
    imap_account: Account, folder: str
) -> None:
    for day, flags in [(1, ["\\Seen"]), (2, ["\\Flagged", "$Forwarded"]), (3, [])]:
        when = datetime(2025, 5, day, 9, 30, tzinfo=CHINA)
        imap_account.append(raw_message(f"报表{day}"), when, flags, folder=folder)
    with imap_account.client() as client:  # leave UIDs 2 and 3, so renumbering shows
        client.select_folder(folder)
        client.delete_messages(client.search("ALL")[0])
        client.expunge()
    before = snapshot(imap_account, folder)
    old_uidvalidity = imap_account.uidvalidity(folder)
    assert sorted(imap_account.flags(folder)) == [2, 3]

    imap_account.recreate_mailbox(folder)

    assert imap_account.uidvalidity(folder) > old_uidvalidity
    assert snapshot(imap_account, folder) == before
    assert sorted(imap_account.flags(folder)) == [1, 2]


def test_id_commands_lists_ids_sent_after_login(
    dovecot_server: Dovecot, imap_account: Account
) -> None:
    with IMAPClient(
        dovecot_server.host, dovecot_server.port, ssl_context=dovecot_server.ssl_context()
    ) as client:
        client.id_({"name": "before-login"})
        client.login(imap_account.username, imap_account.password)
        client.id_({"name": "baosong", "version": "0.1"})
    imap_account.flags()  # the harness's own session must not show up
    assert dovecot_server.id_commands(imap_account.username) == ["name=baosong, version=0.1"]


def test_bytes_sent_counts_what_the_account_fetched(
    dovecot_server: Dovecot, imap_account: Account
) -> None:
    big = raw_message("大附件", "数据" * 70_000)  # about 200 KB once encoded
    assert len(big) > 200_000
    uid = imap_account.append(big, datetime(2025, 6, 1, tzinfo=CHINA))
    assert dovecot_server.bytes_sent(imap_account.username) == 0
    with login(dovecot_server, imap_account) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"] == big
    after_fetch = dovecot_server.bytes_sent(imap_account.username)
    assert after_fetch > len(big)
    imap_account.flags()
    assert dovecot_server.bytes_sent(imap_account.username) == after_fetch


def test_log_readers_wait_for_open_sessions(dovecot_server: Dovecot, imap_account: Account) -> None:
    with login(dovecot_server, imap_account), pytest.raises(TimeoutError, match="open IMAP"):
        dovecot_server.wait_logged_out(imap_account.username, timeout=0.2)


def test_stop_ends_everything_and_a_killed_session_is_cleaned_up_later(
    certificate: tuple[Path, Path],
) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from tests.servers import Dovecot\n"
        "server = Dovecot(Path(sys.argv[1]), Path(sys.argv[2]))\n"
        "print(server.folder, server.port, flush=True)\n"
        "time.sleep(60)\n"
    )
    cert, key = certificate
    session = subprocess.Popen(
        [sys.executable, "-c", script, str(cert), str(key)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert session.stdout is not None
    folder_text, port_text = session.stdout.readline().split()
    orphan_folder, orphan_port = Path(folder_text), int(port_text)
    orphan_master = json.loads((orphan_folder / "owner.json").read_text())["master"]
    session.kill()  # like an OOM kill: no cleanup runs
    session.wait()
    session.stdout.close()
    assert running(orphan_master)

    server = Dovecot(cert, key)
    assert not running(orphan_master)
    assert not orphan_folder.exists()
    assert refuses(orphan_port)

    owner = json.loads((server.folder / "owner.json").read_text())
    assert owner["pid"] == os.getpid()
    server.stop()
    assert not running(owner["master"])
    assert not server.folder.exists()
    assert refuses(server.port)
    assert refuses(server.starttls_port)


# --- SmtpSink ----------------------------------------------------------------------------------


def report_email(subject: str = "城关镇六月报表") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "reports@126.test"
    message["To"] = "county@126.test"
    message["Subject"] = subject
    message.set_content("请查收。")
    return message


def connect(sink: SmtpSink) -> smtplib.SMTP_SSL:
    return smtplib.SMTP_SSL(sink.host, sink.port, context=sink.ssl_context(), timeout=5)


def test_smtp_sink_captures_mail_sent_over_implicit_tls(smtp_sink: SmtpSink) -> None:
    with connect(smtp_sink) as smtp:
        smtp.login(smtp_sink.username, smtp_sink.password)
        smtp.send_message(report_email())
    [captured] = smtp_sink.wait_for(1)
    assert captured.mail_from == "reports@126.test"
    assert captured.rcpt_tos == ["county@126.test"]
    assert captured.message()["Subject"] == "城关镇六月报表"
    assert captured.message().get_content().strip() == "请查收。"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_sink_accepts_plain_and_login(smtp_sink: SmtpSink, mechanism: str) -> None:
    with connect(smtp_sink) as smtp:
        smtp.ehlo()
        smtp.user, smtp.password = smtp_sink.username, smtp_sink.password
        authenticate: Any = getattr(smtp, f"auth_{mechanism.lower()}")
        code, _ = smtp.auth(mechanism, authenticate, initial_response_ok=False)
    assert code == 235


def test_smtp_sink_requires_the_right_login(smtp_sink: SmtpSink) -> None:
    with connect(smtp_sink) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login(smtp_sink.username, "wrong")
        assert refused.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused) as unauthenticated:
            smtp.send_message(report_email())
        assert unauthenticated.value.smtp_code == 530
    assert smtp_sink.messages == []


def test_smtp_sink_answers_with_configured_failures(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail("DATA", 451, "MI:SFQ Sender over quota")
    smtp_sink.fail("RCPT", 554, "DT:SPM spam", times=None)
    with connect(smtp_sink) as smtp:
        smtp.login(smtp_sink.username, smtp_sink.password)
        for _ in range(2):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as spam:
                smtp.send_message(report_email())
            assert spam.value.recipients["county@126.test"] == (554, b"DT:SPM spam")
        smtp_sink.clear_failures()
        smtp_sink.fail("DATA", 451, "MI:SFQ Sender over quota")
        with pytest.raises(smtplib.SMTPDataError) as quota:
            smtp.send_message(report_email())
        assert (quota.value.smtp_code, quota.value.smtp_error) == (451, b"MI:SFQ Sender over quota")
        smtp_sink.fail("MAIL", 451, "MI:SFQ Sender over quota", times=2)
        for _ in range(2):
            with pytest.raises(smtplib.SMTPSenderRefused):
                smtp.send_message(report_email())
        smtp.send_message(report_email())
    assert len(smtp_sink.wait_for(1)) == 1


def test_smtp_sink_stops_and_starts_on_the_same_port(smtp_sink: SmtpSink) -> None:
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(ConnectionRefusedError):
        connect(smtp_sink)
    smtp_sink.start()
    assert smtp_sink.port == port
    with connect(smtp_sink) as smtp:
        smtp.login(smtp_sink.username, smtp_sink.password)
        smtp.send_message(report_email())
    assert len(smtp_sink.wait_for(1)) == 1


def test_smtp_sink_wait_for_times_out(smtp_sink: SmtpSink) -> None:
    with pytest.raises(TimeoutError, match="0 of 1"):
        smtp_sink.wait_for(1, timeout=0.05)


def test_smtp_sink_with_starttls(certificate: tuple[Path, Path]) -> None:
    with SmtpSink(*certificate, starttls=True) as sink, smtplib.SMTP(sink.host, sink.port) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        smtp.starttls(context=sink.ssl_context())
        smtp.login(sink.username, sink.password)
        smtp.send_message(report_email())
        assert len(sink.wait_for(1)) == 1
