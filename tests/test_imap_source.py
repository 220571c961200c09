"""The IMAP source on a real Dovecot: a dropped connection is reopened and the work goes on."""

from __future__ import annotations

import socket
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ingest.sources import ImapSource
from store.config import MailboxConfig
from tests.baosong_cli import IMAP_PASSWORD_ENV
from tests.servers import Account

BEIJING = ZoneInfo("Asia/Shanghai")


def test_a_dropped_connection_is_reopened_and_the_same_folder_read(
    imap_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = datetime(2023, 6, 5, 9, 0, tzinfo=BEIJING)
    for n in range(3):
        imap_account.append(f"From: a@county.test\r\nSubject: {n}\r\n\r\nbody {n}\r\n".encode(), t)
    monkeypatch.setenv(IMAP_PASSWORD_ENV, imap_account.password)
    config = MailboxConfig(
        host=imap_account.server.host, port=imap_account.server.port, ca_file=imap_account.server.ca_file,
        username=imap_account.username, password_env=IMAP_PASSWORD_ENV,
    )
    with ImapSource(config) as source:
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
    logins = imap_account.server.wait_logged_out(imap_account.username).count(
        f"Login: user=<{imap_account.username}>"
    )
    assert logins == 2
