"""Real servers for tests: a private Dovecot IMAP instance and an aiosmtpd SMTP sink.

The facts these rely on (and why the set-up looks the way it does) are in
design/TESTING.md. Both servers listen on 127.0.0.1 only, on free ports chosen at start, and
use a self-signed certificate that clients verify normally with `ssl_context(cafile=...)`.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from imapclient import IMAPClient
from imapclient.imap_utf7 import encode as encode_utf7

HOST = "127.0.0.1"
# Dovecot's sockets live under base_dir and must fit in 108 bytes, and the `dovecot` auth user
# must be able to traverse every folder above its files: a short 0755 folder under /tmp does
# both (TMPDIR and pytest's tmp_path may be long or 0700).
_INSTANCES = Path("/tmp")
_PREFIX = "bsdc-"
# Accounts live in this domain; the harness logs in to the same mailbox as <local>@HARNESS_DOMAIN
# (the userdb maps both to one home) so its own sessions never count in id_commands/bytes_sent.
ACCOUNT_DOMAIN = "126.test"
HARNESS_DOMAIN = "harness.test"
_START_TIMEOUT = 10.0
_IMAP_TIMEOUT = 10.0

_CERT_CONFIG = """\
[req]
distinguished_name = dn
x509_extensions = v3
prompt = no
[dn]
CN = localhost
[v3]
basicConstraints = critical, CA:TRUE
keyUsage = critical, digitalSignature, keyCertSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = IP:127.0.0.1, DNS:localhost
"""

# `ssl = yes` on both listeners: 993-style implicit TLS on `imaps`, STARTTLS on `imap`.
# The 126.com folder set (with SPECIAL-USE) so code can find the junk folder as it would there.
_DOVECOT_CONFIG = """\
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
info_log_path = {folder}/dovecot.log
protocols = imap
listen = {host}
ssl = yes
ssl_cert = <{folder}/cert.pem
ssl_key = <{folder}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# Tests of wrong passwords would otherwise wait 2 s each.
auth_failure_delay = 0
imap_id_log = *
mail_max_userip_connections = 100
mail_location = maildir:~/Maildir:LAYOUT=fs
namespace inbox {{
  inbox = yes
  separator = /
  mailbox 草稿箱 {{
    auto = subscribe
    special_use = \\Drafts
  }}
  mailbox 已发送 {{
    auto = subscribe
    special_use = \\Sent
  }}
  mailbox 已删除 {{
    auto = subscribe
    special_use = \\Trash
  }}
  mailbox 垃圾邮件 {{
    auto = subscribe
    special_use = \\Junk
  }}
}}
passdb {{
  driver = passwd-file
  # One file per mailbox: Dovecot 2.3.19 rereads a changed passwd-file only if its mtime
  # second changed, so accounts appended within a second were unknown to it.
  args = {folder}/passwd/%n
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={folder}/home/%n
}}
# No growing delay (up to 15 s) for every login from 127.0.0.1 after a failed one.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {starttls_port}
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
"""


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed cert.pem and key.pem for 127.0.0.1 and localhost into `folder`.

    It is its own CA, so `ssl.create_default_context(cafile=cert)` verifies it with hostname
    checks on: tests never need to turn verification off.
    """
    config = folder / "openssl.cnf"
    config.write_text(_CERT_CONFIG)
    cert, key = folder / "cert.pem", folder / "key.pem"
    openssl = shutil.which("openssl") or "/usr/bin/openssl"
    key_options = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    paths = ["-config", str(config), "-keyout", str(key), "-out", str(cert)]
    command = [openssl, "req", "-x509", "-days", "30", *key_options, *paths]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl could not make the test certificate:\n{done.stderr}")
    return cert, key


def find_dovecot() -> str | None:
    """The dovecot binary; /usr/sbin is searched too because it is not on every user's PATH."""
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/sbin")


def client_context(ca_file: Path) -> ssl.SSLContext:
    """A normal verifying client context that trusts the test certificate."""
    return ssl.create_default_context(cafile=str(ca_file))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _greets(port: int, context: ssl.SSLContext | None) -> bool:
    """Whether `port` answers with an IMAP greeting (over TLS if `context`).

    Accepting alone is not enough: the kernel accepts before imap-login is ready, and a Dovecot
    stopped in that state takes 6 s to exit.
    """
    try:
        with socket.create_connection((HOST, port), timeout=1) as raw:
            if context is None:
                return raw.recv(64).startswith(b"* OK")
            with context.wrap_socket(raw, server_hostname=HOST) as tls:
                return tls.recv(64).startswith(b"* OK")
    except OSError:
        return False


def _start_time(pid: int) -> int | None:
    """The kernel's start time of `pid`, so a recycled PID is never mistaken for ours."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _running(pid: int, start: int | None) -> bool:
    return start is not None and _start_time(pid) == start


def _group_running(pgid: int) -> bool:
    """Whether a live (not zombie) process is left in the group.

    Dovecot's children outlive the master for a moment; zombies are skipped because orphans may
    never be reaped in a container.
    """
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _stop_group(pgid: int) -> None:
    """SIGTERM the master of a process group we created, then wait for all of it to exit."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pgid, signal.SIGTERM)
    if not wait_until(lambda: not _group_running(pgid), 10.0):
        os.killpg(pgid, signal.SIGKILL)


def _reap_orphans() -> None:
    """Stop instances left by a test session that was killed before its cleanup ran."""
    for owner_file in _INSTANCES.glob(f"{_PREFIX}*/owner.json"):
        try:
            owner = json.loads(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if _running(owner["pid"], owner["start"]):
            continue
        if owner.get("master") and _running(owner["master"], owner["master_start"]):
            _stop_group(owner["master"])
        shutil.rmtree(owner_file.parent, ignore_errors=True)


class Dovecot:
    """A private Dovecot (never the system's) with implicit-TLS and STARTTLS IMAP ports.

    Every `new_account()` is a new empty mailbox, so tests share one instance per session.
    Start-up happens in the constructor; `stop()` (or leaving the `with` block) ends it, and an
    atexit hook ends it if a test session forgets to.
    """

    host = HOST

    def __init__(self, cert: Path, key: Path) -> None:
        binary = find_dovecot()
        if binary is None:
            raise RuntimeError("dovecot is not installed: run scripts/test, which installs it")
        if os.geteuid() != 0:
            raise RuntimeError("a private Dovecot needs root (its mail user is nobody)")
        _reap_orphans()
        self.folder = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=_INSTANCES))
        self.folder.chmod(0o755)
        self.ca_file = self.folder / "cert.pem"
        self.port = _free_port()
        self.starttls_port = _free_port()
        self._log = self.folder / "dovecot.log"
        self._passwd = self.folder / "passwd"
        self._accounts = 0
        self._lock = threading.Lock()
        self._write_owner(master=None)
        self._set_up_folder(cert, key)
        # Its own process group: Ctrl-C in a terminal reaches only pytest (whose cleanup stops
        # Dovecot in order), and stop() can find every child of the master.
        with (self.folder / "master.out").open("wb") as output:
            self._process = subprocess.Popen(
                [binary, "-F", "-c", str(self.folder / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._write_owner(master=self._process.pid)
        atexit.register(self.stop)
        self._wait_until_listening()

    def _write_owner(self, master: int | None) -> None:
        owner = {
            "pid": os.getpid(),
            "start": _start_time(os.getpid()),
            "master": master,
            "master_start": None if master is None else _start_time(master),
        }
        (self.folder / "owner.json").write_text(json.dumps(owner))

    def _set_up_folder(self, cert: Path, key: Path) -> None:
        for sub in ("run", "state", "home", "passwd"):
            (self.folder / sub).mkdir()
        shutil.chown(self.folder / "home", "nobody", "nogroup")
        shutil.copyfile(cert, self.ca_file)
        shutil.copyfile(key, self.folder / "key.pem")
        (self.folder / "key.pem").chmod(0o600)
        config = _DOVECOT_CONFIG.format(
            folder=self.folder, host=HOST, port=self.port, starttls_port=self.starttls_port
        )
        (self.folder / "dovecot.conf").write_text(config)

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        waiting = [(self.port, self.ssl_context()), (self.starttls_port, None)]
        while waiting:
            if self._process.poll() is not None or time.monotonic() > deadline:
                details = self._diagnostics()
                self.stop()
                ports = [port for port, _ in waiting]
                raise RuntimeError(f"Dovecot did not come up on {HOST}:{ports}\n{details}")
            if _greets(*waiting[0]):
                waiting.pop(0)
            else:
                time.sleep(0.02)

    def _diagnostics(self) -> str:
        output = (self.folder / "master.out").read_text(errors="replace")
        return f"--- dovecot output ---\n{output}\n--- dovecot.log ---\n{self.log_text()}"

    def stop(self) -> None:
        """End the master and every child, and remove the instance's folder. Idempotent."""
        atexit.unregister(self.stop)
        if self._process.poll() is None:
            _stop_group(self._process.pid)
        self._process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def ssl_context(self) -> ssl.SSLContext:
        return client_context(self.ca_file)

    def new_account(self) -> Account:
        """A new, empty mailbox; Dovecot reads its password file at its first login."""
        with self._lock:
            self._accounts += 1
            local = f"user{self._accounts}"
            password = secrets.token_urlsafe(12)
            # {PLAIN.B64}: a password may contain ':', which would break the line.
            encoded = base64.b64encode(password.encode()).decode()
            lines = "".join(
                f"{local}@{domain}:{{PLAIN.B64}}{encoded}::::::\n"
                for domain in (ACCOUNT_DOMAIN, HARNESS_DOMAIN)
            )
            (self._passwd / local).write_text(lines)
        return Account(
            server=self,
            username=f"{local}@{ACCOUNT_DOMAIN}",
            password=password,
            maildir=self.folder / "home" / local / "Maildir",
        )

    def log_text(self) -> str:
        try:
            return self._log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_logged_out(self, username: str, timeout: float = 5.0) -> str:
        """Wait until every session of `username` has its Disconnected line; return the log.

        Dovecot writes a session's last lines after the client has its LOGOUT reply, through a
        separate log process, so reading the log straight away could miss them.
        """
        user = re.escape(username)
        logins = re.compile(rf"imap-login: Info: Login: user=<{user}>,")
        logouts = re.compile(rf"imap\({user}\)[^:]*: Info: Disconnected")
        text = ""

        def settled() -> bool:
            nonlocal text
            text = self.log_text()
            return len(logins.findall(text)) == len(logouts.findall(text))

        if not wait_until(settled, timeout):
            raise TimeoutError(f"{username} still has an open IMAP session:\n{text}")
        return text

    def id_commands(self, username: str) -> list[str]:
        """What `username` sent in IMAP ID after LOGIN, e.g. ['name=baosong, version=1.0'].

        Only IDs sent after login are listed: that is when 126.com requires it. Waits for the
        user's sessions to end, so call it after the client has logged out.
        """
        text = self.wait_logged_out(username)
        return re.findall(rf"imap\({re.escape(username)}\)[^:]*: Info: ID sent: (.*)", text)

    def bytes_sent(self, username: str) -> int:
        """Bytes Dovecot sent to `username` in all its ended sessions (the `out=` counts).

        A measure of a poll's work that does not depend on the machine's speed.
        """
        text = self.wait_logged_out(username)
        pattern = rf"imap\({re.escape(username)}\)[^:]*: Info: Disconnected.* out=(\d+)"
        return sum(int(count) for count in re.findall(pattern, text))


@dataclass(frozen=True)
class Account:
    """A mailbox on a `Dovecot` instance, plus the server-side operations tests need.

    The helpers log in as <local>@HARNESS_DOMAIN (same mailbox), so they never show up in
    `id_commands(username)` or `bytes_sent(username)`. `maildir` exists after the first login.
    """

    server: Dovecot
    username: str
    password: str
    maildir: Path

    def client(self) -> IMAPClient:
        """A harness session over verified implicit TLS; INTERNALDATEs come back tz-aware."""
        alias = f"{self.username.split('@')[0]}@{HARNESS_DOMAIN}"
        client = IMAPClient(
            self.server.host,
            self.server.port,
            ssl=True,
            ssl_context=self.server.ssl_context(),
            timeout=_IMAP_TIMEOUT,
        )
        client.normalise_times = False
        client.login(alias, self.password)
        return client

    def append(
        self,
        raw: bytes,
        internaldate: datetime,
        flags: Sequence[bytes | str] = (),
        folder: str = "INBOX",
    ) -> int:
        """Deliver `raw` as if received at `internaldate`; return its UID (from APPENDUID)."""
        if internaldate.tzinfo is None:
            # imapclient would read a naive time in this machine's zone: deadlines would shift.
            raise ValueError("internaldate must be timezone-aware")
        with self.client() as client:
            reply: bytes = client.append(folder, raw, flags, internaldate)
        match = re.search(rb"\[APPENDUID \d+ (\d+)\]", reply)
        if match is None:
            raise RuntimeError(f"APPEND reply without APPENDUID: {reply!r}")
        return int(match.group(1))

    def flags(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """Stored flags by UID; \\Recent is left out because it belongs to a session."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            fetched: dict[int, dict[bytes, Any]] = client.fetch(client.search("ALL"), ["FLAGS"])
        return {
            uid: tuple(flag for flag in data[b"FLAGS"] if flag != b"\\Recent")
            for uid, data in fetched.items()
        }

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            status: dict[bytes, int] = client.folder_status(folder, [b"UIDVALIDITY"])
        return status[b"UIDVALIDITY"]

    def recreate_mailbox(self, folder: str = "INBOX") -> None:
        """Make `folder` come back with a new UIDVALIDITY, as after a server-side rebuild.

        The message files stay (same bytes, INTERNALDATEs and flags); Dovecot's UID list and
        indexes go, so it numbers the messages again from UID 1 under a larger UIDVALIDITY.
        IMAP cannot do this for INBOX (Dovecot refuses to rename or delete it). Call it while
        no session has the folder selected.
        """
        box = self.maildir if folder == "INBOX" else self.maildir / encode_utf7(folder).decode()
        if not (box / "cur").is_dir():
            raise FileNotFoundError(f"{folder} has no maildir at {box}")
        stale = [
            box / "dovecot-uidlist",
            *box.glob("dovecot.index*"),
            *self.maildir.glob("dovecot.list.index*"),  # caches every folder's STATUS
        ]
        for path in stale:
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Captured:
    """One message as the SMTP sink received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)


Command = Literal["MAIL", "RCPT", "DATA"]


class SmtpSink:
    """An SMTP server (aiosmtpd) with TLS and required AUTH that keeps what it receives.

    Implicit TLS like smtp.126.com:465 by default, or STARTTLS. It can answer chosen commands
    with errors (`fail`), and be stopped and started again on the same port to play a server
    that is down for a while. The `handle_*` methods are aiosmtpd's hooks.
    """

    host = HOST

    def __init__(
        self,
        cert: Path,
        key: Path,
        *,
        starttls: bool = False,
        username: str = f"reports@{ACCOUNT_DOMAIN}",
        password: str | None = None,
    ) -> None:
        self.ca_file = cert
        self.starttls = starttls
        self.username = username
        self.password = password or secrets.token_urlsafe(12)
        self.port = _free_port()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(cert, key)
        self._messages: list[Captured] = []
        self._failures: dict[Command, tuple[str, int | None]] = {}
        self._changed = threading.Condition()
        self._controller: Controller | None = None
        self.start()

    def start(self) -> None:
        """Serve on `self.port` (the same port after a `stop()`)."""
        if self._controller is not None:
            return
        if self.starttls:
            tls: dict[str, Any] = {
                "tls_context": self._tls,
                "require_starttls": True,
                "auth_require_tls": True,
            }
        else:
            # aiosmtpd counts only STARTTLS as TLS: with auth_require_tls it would refuse AUTH
            # on a connection that is encrypted from the first byte.
            tls = {"ssl_context": self._tls, "auth_require_tls": False}
        controller = Controller(
            self,
            hostname=HOST,
            port=self.port,
            server_hostname="smtp.126.test",
            authenticator=self._authenticate,
            auth_required=True,
            **tls,
        )
        controller.start()
        self._controller = controller
        atexit.register(self.stop)

    def stop(self) -> None:
        """Close the port and drop open connections; received messages are kept."""
        atexit.unregister(self.stop)
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def ssl_context(self) -> ssl.SSLContext:
        return client_context(self.ca_file)

    @property
    def messages(self) -> list[Captured]:
        with self._changed:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Captured]:
        """Wait until at least `count` messages have arrived; return all of them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} of {count} messages in {timeout} s")
            return list(self._messages)

    def fail(self, command: Command, code: int, text: str, times: int | None = 1) -> None:
        """Answer the next `times` (None: every) `command` with `code text`, e.g. 451 MI:SFQ."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for every time")
        with self._changed:
            self._failures[command] = (f"{code} {text}", times)

    def clear_failures(self) -> None:
        with self._changed:
            self._failures.clear()

    def _failure(self, command: Command) -> str | None:
        with self._changed:
            if command not in self._failures:
                return None
            reply, times = self._failures[command]
            if times == 1:
                del self._failures[command]
            elif times is not None:
                self._failures[command] = (reply, times - 1)
            return reply

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        valid = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.username.encode(),
            self.password.encode(),
        )
        # handled=False: aiosmtpd then sends 535 itself; with True the client hears nothing.
        return AuthResult(success=valid, handled=False)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if reply := self._failure("MAIL"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if reply := self._failure("RCPT"):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if reply := self._failure("DATA"):
            return reply
        data = envelope.original_content
        assert isinstance(data, bytes), "aiosmtpd keeps the raw bytes when decode_data is off"
        captured = Captured(str(envelope.mail_from), list(envelope.rcpt_tos), data)
        with self._changed:
            self._messages.append(captured)
            self._changed.notify_all()
        return "250 OK: queued"
