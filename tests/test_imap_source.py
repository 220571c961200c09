"""The IMAP source on a real Dovecot: a dropped connection is reopened and the work goes on."""

from __future__ import annotations

import base64
import random
import socket
from collections.abc import Generator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ingest.sources import ImapSource, MailboxLoginError, connected_ahead
from store.config import MailboxConfig
from tests.baosong_cli import IMAP_PASSWORD_ENV
from tests.servers import Account, wait_until

BEIJING = ZoneInfo("Asia/Shanghai")


def test_a_dropped_connection_is_reopened_and_the_same_folder_read(
    imap_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = datetime(2023, 6, 5, 9, 0, tzinfo=BEIJING)
    for n in range(3):
        imap_account.append(f"From: a@county.test\r\nSubject: {n}\r\n\r\nbody {n}\r\n".encode(), t)
    monkeypatch.setenv(IMAP_PASSWORD_ENV, imap_account.password)
    with ImapSource(_config(imap_account)) as source:
        validity = source.uidvalidity
        assert source.candidates(0, t, set()) == ["1", "2", "3"]
        # The network drops the connection under the client (as a NAT timeout or a server restart would).
        client = source._client
        assert client is not None
        client._imap.sock.shutdown(socket.SHUT_RDWR)
        assert source.candidates(1, t, set()) == ["2", "3"]
        assert source.uidvalidity == validity
        [(uid, pieces)] = list(source.bodies([("3", None)]))
        assert uid == "3" and b"".join(pieces).endswith(b"body 2\r\n")
    assert logins(imap_account) == 2


def logins(account: Account) -> int:
    """How often our source logged in, counted once it has logged out."""
    return account.server.wait_logged_out(account.username).count(f"Login: user=<{account.username}>")


T = datetime(2023, 6, 5, 9, 0, tzinfo=BEIJING)


@pytest.fixture
def big_mails(imap_account: Account, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Five mails of 400 kB each, more than any buffer between the server and a FETCH holds."""
    monkeypatch.setenv(IMAP_PASSWORD_ENV, imap_account.password)
    rng = random.Random(5)
    for n in range(5):
        body = base64.encodebytes(rng.randbytes(300_000))
        imap_account.append(f"From: a@county.test\r\nSubject: {n}\r\n\r\n".encode() + body, T)
    with imap_account.client() as client:
        client.select_folder("INBOX", readonly=True)
        found = client.fetch(client.search(["ALL"]), [b"BODY.PEEK[]"])
    return {str(uid): bytes(data[b"BODY[]"]) for uid, data in found.items()}


def test_a_connection_dropped_in_the_middle_of_a_fetch_goes_on_with_the_bodies_not_yet_taken(
    imap_account: Account, big_mails: dict[str, bytes]
) -> None:
    with ImapSource(_config(imap_account)) as source:
        bodies = source.bodies([(uid, len(raw)) for uid, raw in big_mails.items()])
        uid, pieces = next(bodies)
        got = [(uid, b"".join(pieces))]
        client = source._client
        assert client is not None
        client._imap.sock.shutdown(socket.SHUT_RDWR)  # the answer is still coming
        got += [(uid, b"".join(pieces)) for uid, pieces in bodies]
    assert got == list(big_mails.items())  # each once, in order
    assert logins(imap_account) == 2


def test_a_fetch_left_in_the_middle_costs_the_connection_and_the_next_command_gets_a_new_one(
    imap_account: Account, big_mails: dict[str, bytes]
) -> None:
    with ImapSource(_config(imap_account)) as source:
        bodies = source.bodies([(uid, len(raw)) for uid, raw in big_mails.items()])
        assert isinstance(bodies, Generator)
        uid, pieces = next(bodies)
        assert b"".join(pieces) == big_mails[uid]
        bodies.close()  # e.g. the daemon is told to stop
        assert source._client is None
        assert source.candidates(0, T, set()) == list(big_mails)
    assert logins(imap_account) == 2


def _config(account: Account) -> MailboxConfig:
    return MailboxConfig(
        host=account.server.host, port=account.server.port, ca_file=account.server.ca_file,
        username=account.username, password_env=IMAP_PASSWORD_ENV,
    )


def test_connected_ahead_the_source_is_logged_in_before_it_is_entered(
    imap_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = datetime(2023, 6, 5, 9, 0, tzinfo=BEIJING)
    imap_account.append(b"From: a@county.test\r\nSubject: 1\r\n\r\nbody\r\n", t)
    monkeypatch.setenv(IMAP_PASSWORD_ENV, imap_account.password)
    server = imap_account.server
    with connected_ahead(ImapSource(_config(imap_account))) as source:
        # Dovecot sees the login while this thread has not entered the source yet.
        assert wait_until(lambda: f"Login: user=<{imap_account.username}>" in server.log_text(), 5.0)
        with source:
            assert source.candidates(0, t, set()) == ["1"]
    assert server.id_commands(imap_account.username)  # ID went before EXAMINE, as on entering
    server.wait_logged_out(imap_account.username)


def test_what_connecting_ahead_met_is_raised_on_entering(
    imap_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAP_PASSWORD_ENV, "not-the-authorization-code")
    ahead = connected_ahead(ImapSource(_config(imap_account)))
    with pytest.raises(MailboxLoginError, match="授权码"), ahead as source, source:
        pass


def test_a_source_connected_ahead_and_never_entered_is_logged_out(
    imap_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IMAP_PASSWORD_ENV, imap_account.password)
    server = imap_account.server
    with connected_ahead(ImapSource(_config(imap_account))):
        pass  # e.g. another poll holds the lock
    log = server.wait_logged_out(imap_account.username)
    assert f"Login: user=<{imap_account.username}>" in log

