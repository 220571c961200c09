"""Where mail comes from: an IMAP folder (126.com), a Maildir, or a folder of .eml files.

Every source answers the same three questions: which messages might be new, what do their
headers and attachment names say (cheaply, without the body), and what are a message's bytes.
The poll cycle decides what to do with the answers.
"""

from __future__ import annotations

import abc
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence, Set
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imapclient import SocketTimeout, join_message_ids
from imapclient.response_parser import parse_fetch_response

from parsers import attachment_names, parse_envelope, parse_message
from parsers.errors import ParseError
from store.config import MailboxConfig, secret
from store.model import BaosongError

log = logging.getLogger(__name__)

# Static on purpose: NetEase wants an ID before SELECT; nothing personal or secret goes in it.
IMAP_ID = {"name": "baosong", "version": "0.1", "vendor": "baosong", "support-email": "-"}
# Just the fields the "could this be a report?" decision needs: small next to a full header.
HEADER_FIELDS = b"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE MESSAGE-ID)]"


class MailboxError(BaosongError):
    """The mailbox could not be reached or read; the poll ends and is tried again later."""


class MailboxLoginError(MailboxError):
    """The server refused the login or the ID/SELECT after it: a configuration problem."""


@dataclass(frozen=True)
class Listing:
    """What a source tells about one message without its body."""

    uid: str
    size: int
    received_at: datetime  # server receipt time (INTERNALDATE), timezone-aware
    header: bytes
    attachment_names: tuple[str, ...]


class MailSource(Protocol):
    key: str  # stable identity of the folder, used for checkpoints and locks
    uidvalidity: int
    numeric_uids: bool  # True where "after this UID" is meaningful (IMAP)

    def __enter__(self) -> MailSource: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def candidates(self, after_uid: int, since: datetime, known: Set[str]) -> list[str]:
        """UIDs (oldest first) received since `since`, not in `known` and, where numeric, above
        `after_uid`."""
        ...

    def listings(self, uids: Sequence[str]) -> list[Listing]: ...

    def bodies(self, wanted: Sequence[tuple[str, int | None]]) -> Iterator[tuple[str, Iterable[bytes]]]:
        """The raw bytes of each (uid, size if known), in order, each as a stream of pieces.

        Each stream must be read to its end before the next body is asked for. Memory stays
        bounded: however large a message, no more than BODY_BUDGET bytes are held at a time.
        """
        ...


# A FETCH asks for several bodies at once, up to BODY_BUDGET bytes (see `fetch_groups`); a message
# over BODY_PIECE bytes is fetched alone, in partial FETCHes of BODY_PIECE bytes that go to the
# spool one by one.
BODY_BUDGET = 16 * 1024 * 1024
BODY_PIECE = 4 * 1024 * 1024


def fetch_groups(wanted: Sequence[tuple[str, int | None]]) -> list[tuple[list[str], bool]]:
    """How to fetch the bodies of `wanted` (uid, size if known), in order: groups of UIDs for
    one FETCH each (False), or one large or unknown-sized body to fetch in pieces (True).

    Each body of a group is handed on as soon as it has arrived (`ImapSource._group`), so a
    group may be large: every FETCH costs a round trip before its first byte, and the bound only
    limits what a server that answers out of order makes us hold.
    """
    groups: list[tuple[list[str], bool]] = []
    group: list[str] = []
    total = 0
    for uid, size in wanted:
        if size is None or size > BODY_PIECE:
            if group:
                groups.append((group, False))
            groups.append(([uid], True))
            group, total = [], 0
            continue
        if group and total + size > BODY_BUDGET:
            groups.append((group, False))
            group, total = [], 0
        group.append(uid)
        total += size
    if group:
        groups.append((group, False))
    return groups


@contextmanager
def connected_ahead(source: MailSource) -> Iterator[MailSource]:
    """`source`, already connecting while the caller gets ready where that takes round trips
    (IMAP); closed on the way out, whether or not it was entered."""
    if isinstance(source, ImapSource):
        source.connect_ahead()
    with ExitStack() as closing:
        closing.push(source)  # its __exit__ only: entering is the caller's
        yield source


def open_source(config: MailboxConfig) -> MailSource:
    if config.maildir is not None:
        return MaildirSource(config.maildir)
    if config.eml_dir is not None:
        return EmlDirSource(config.eml_dir)
    return ImapSource(config)


# --- IMAP -------------------------------------------------------------------------------------

T = TypeVar("T")


class ImapSource:
    """A folder on an IMAP server, opened read-only; bodies fetched with BODY.PEEK."""

    numeric_uids = True
    RETRIES = 3

    def __init__(self, config: MailboxConfig) -> None:
        self.config = config
        self.key = f"imap://{config.username}@{config.host}:{config.port}/{config.folder}"
        self.uidvalidity = 0
        self._client: IMAPClient | None = None
        self._ahead: threading.Thread | None = None
        self._ahead_error: BaseException | None = None

    def __enter__(self) -> ImapSource:
        if self._ahead is None:
            self._connect()
            return self
        self._ahead.join()
        self._ahead = None
        error, self._ahead_error = self._ahead_error, None
        if error is not None:
            raise error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ahead is not None:  # connected ahead, never entered
            self._ahead.join()
            self._ahead = None
        self._disconnect()

    def connect_ahead(self) -> None:
        """Connect, log in and open the folder in a thread of its own while the caller gets
        ready (a handshake is several round trips); entering waits for it and raises what it met."""
        self._ahead = threading.Thread(target=self._connect_ahead, name="baosong-connect", daemon=True)
        self._ahead.start()

    def _connect_ahead(self) -> None:
        try:
            self._connect()
        except BaseException as exc:  # raised in the caller's thread, on entering
            self._ahead_error = exc

    def _connect(self) -> None:
        cfg = self.config
        assert cfg.host is not None and cfg.username is not None  # checked by the config
        password = secret(cfg.password_env)
        context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        timeout = SocketTimeout(connect=min(30.0, cfg.timeout_seconds), read=cfg.timeout_seconds)
        try:
            client = IMAPClient(
                cfg.host,
                port=cfg.port,
                ssl=cfg.tls == "implicit",
                ssl_context=context,
                timeout=timeout,
            )
        except (OSError, IMAPClientError) as exc:
            raise MailboxError(f"无法连接邮箱服务器 {cfg.host}:{cfg.port}：{exc}") from exc
        client.normalise_times = False  # keep INTERNALDATE's own offset
        try:
            if cfg.tls == "starttls":
                client.starttls(context)
            client.login(cfg.username, password)
        except LoginError as exc:
            _quietly_logout(client)
            raise MailboxLoginError(
                f"邮箱 {cfg.username} 登录被拒绝：请确认 {cfg.password_env} 中是网易邮箱的"
                f"授权码（不是网页登录密码），且已在网页邮箱设置中开启 IMAP 服务。服务器答复：{_words(exc)}"
            ) from exc
        except (OSError, IMAPClientError) as exc:
            _quietly_logout(client)
            raise MailboxError(f"连接邮箱服务器 {cfg.host} 时出错：{exc}") from exc
        try:
            if client.has_capability("ID"):
                client.id_(IMAP_ID)
            selected = client.select_folder(cfg.folder, readonly=True)
        except IMAPClientError as exc:
            _quietly_logout(client)
            words = _words(exc)
            if "Unsafe Login" in words:
                raise MailboxLoginError(
                    "网易邮箱拒绝了访问（Unsafe Login）：客户端须在选择文件夹前发送 IMAP ID。"
                    f"请把此问题报告给维护人员。服务器答复：{words}"
                ) from exc
            raise MailboxLoginError(
                f"无法打开邮箱文件夹 {cfg.folder}：{words}。请检查 mailbox.folder 设置"
            ) from exc
        validity = int(selected[b"UIDVALIDITY"])
        if self.uidvalidity and validity != self.uidvalidity:
            _quietly_logout(client)
            raise MailboxError(
                f"邮箱文件夹 {cfg.folder} 的 UIDVALIDITY 在收取过程中变化，下次收取时重新核对"
            )
        self.uidvalidity = validity
        self._client = client
        log.debug("connected to %s, UIDVALIDITY %s", self.key, validity)

    def _disconnect(self) -> None:
        if self._client is not None:
            _quietly_logout(self._client)
            self._client = None

    def _with_retry(self, what: Callable[[IMAPClient], T]) -> T:
        """Run an IMAP exchange, reconnecting with backoff when the connection drops."""
        for attempt in range(self.RETRIES + 1):
            try:
                return what(self._connected())
            except (OSError, IMAPClient.AbortError, ssl.SSLError) as exc:
                self._lost(exc, attempt)
            except IMAPClientError as exc:
                raise MailboxError(f"邮箱服务器返回错误：{_words(exc)}") from exc
        raise AssertionError("unreachable")

    def _connected(self) -> IMAPClient:
        if self._client is None:
            self._connect()
        assert self._client is not None
        return self._client

    def _lost(self, exc: BaseException, attempt: int) -> None:
        """The connection dropped on `attempt` (from 0): wait before the next, or give up."""
        log.debug("IMAP connection lost (%s), attempt %d", exc, attempt + 1)
        self._disconnect()
        if attempt == self.RETRIES:
            raise MailboxError(f"与邮箱服务器的连接多次中断：{exc}") from exc
        time.sleep(min(2**attempt, 30))

    def candidates(self, after_uid: int, since: datetime, known: Set[str]) -> list[str]:
        criteria: list[Any] = ["UID", f"{after_uid + 1}:*", "SINCE", since.date()]
        uids = self._with_retry(lambda c: c.search(criteria))
        # `n+1:*` returns the last message even when none is newer: drop what is not above n.
        return [str(u) for u in sorted(int(u) for u in uids) if u > after_uid and str(u) not in known]

    def listings(self, uids: Sequence[str]) -> list[Listing]:
        wanted = [int(u) for u in uids]
        items = [HEADER_FIELDS, b"BODYSTRUCTURE", b"RFC822.SIZE", b"INTERNALDATE"]
        data = self._with_retry(lambda c: c.fetch(wanted, items))
        found = []
        for uid in wanted:
            entry = data.get(uid)
            if entry is None:  # expunged between SEARCH and FETCH
                continue
            header = next(
                (v for k, v in entry.items() if k.startswith(b"BODY[HEADER")), b""
            )
            found.append(
                Listing(
                    uid=str(uid),
                    size=int(entry[b"RFC822.SIZE"]),
                    received_at=_aware(entry[b"INTERNALDATE"]),
                    header=bytes(header or b""),
                    attachment_names=attachment_names(entry.get(b"BODYSTRUCTURE")),
                )
            )
        return found

    def bodies(self, wanted: Sequence[tuple[str, int | None]]) -> Iterator[tuple[str, Iterable[bytes]]]:
        for uids, in_pieces in fetch_groups(wanted):
            if in_pieces:
                yield uids[0], self._pieces(int(uids[0]))
            else:
                yield from self._group([int(uid) for uid in uids])

    def _group(self, numbers: list[int]) -> Iterator[tuple[str, Iterable[bytes]]]:
        """Several bodies in one FETCH (one round trip, not one per message), each handed on as
        soon as it has arrived, in the order asked. After a dropped connection the FETCH is
        sent again for the bodies not handed on yet."""
        left = deque(numbers)
        early: dict[int, bytes] = {}  # bodies a server sent before their turn
        streaming = False
        try:
            for attempt in range(self.RETRIES + 1):
                try:
                    streaming = True
                    asked = [n for n in left if n not in early]
                    for number, body in _streamed_bodies(self._connected(), asked):
                        early[number] = body
                        while left and left[0] in early:
                            done = left.popleft()
                            yield str(done), (early.pop(done),)
                    streaming = False
                    if left:
                        raise MailboxError(f"邮件 UID {left[0]} 在收取时已不在邮箱中")
                    return
                except (OSError, IMAPClient.AbortError, ssl.SSLError) as exc:
                    streaming = False
                    self._lost(exc, attempt)
                except IMAPClientError as exc:
                    raise MailboxError(f"邮箱服务器返回错误：{_words(exc)}") from exc
        finally:
            if streaming and self._client is not None:
                # Left in the middle of a FETCH (the poll stops): the rest of the answer is
                # still coming; a new connection is cheaper than reading it to no use.
                self._client.shutdown()
                self._client = None

    def _pieces(self, number: int) -> Iterator[bytes]:
        """A body in partial FETCHes (BODY.PEEK[]<offset.length>), so it is never held whole."""
        offset = 0
        while True:
            data = self._with_retry(partial(_fetch_piece, number=number, offset=offset))
            if number not in data:
                raise MailboxError(f"邮件 UID {number} 在收取时已不在邮箱中")
            piece = next((v for k, v in data.pop(number).items() if k.startswith(b"BODY[]")), b"")
            piece = bytes(piece or b"")
            if piece:
                yield piece
            if len(piece) < BODY_PIECE:
                return
            offset += len(piece)


def _fetch_piece(client: IMAPClient, number: int, offset: int) -> Any:
    return client.fetch([number], [f"BODY.PEEK[]<{offset}.{BODY_PIECE}>".encode()])


def _streamed_bodies(client: IMAPClient, numbers: Sequence[int]) -> Iterator[tuple[int, bytes]]:
    """(uid, body) of each of `numbers` as soon as its FETCH response has arrived.

    `IMAPClient.fetch` returns only once the whole answer is in. This sends the same command
    and reads the answer one response at a time, through the imaplib calls `IMAPClient.fetch`
    itself makes (`_command`, then `_get_response` until the tagged reply); the parsing is
    IMAPClient's own. Responses the server adds unasked (flag changes) are passed over.
    """
    imap = client._imap
    wanted = set(numbers)
    tag = imap._command("UID", "FETCH", join_message_ids(numbers), "(BODY.PEEK[])")
    while (reply := imap.tagged_commands[tag]) is None:
        imap._check_bye()
        imap._get_response()
        responses = imap.untagged_responses.pop("FETCH", None)
        if responses:
            for number, entry in parse_fetch_response(responses, client.normalise_times, True).items():
                body = entry.get(b"BODY[]")
                if number in wanted and body is not None:
                    wanted.discard(number)
                    yield number, bytes(body)
    del imap.tagged_commands[tag]
    imap._check_bye()
    status, detail = reply
    if status != "OK":
        words = b" ".join(d for d in detail if isinstance(d, bytes)).decode("utf-8", "replace")
        raise IMAPClientError(f"FETCH {status} {words}")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _words(exc: BaseException) -> str:
    text = str(exc)
    return text[2:-1] if text.startswith(("b'", 'b"')) else text


def _quietly_logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except (TimeoutError, OSError, IMAPClientError):
        log.debug("logout failed; connection dropped", exc_info=True)


# --- local folders ----------------------------------------------------------------------------


class _LocalFolder(abc.ABC):
    """Mail kept as one file per message: its identity is its path inside the folder."""

    numeric_uids = False
    uidvalidity = 0

    def __init__(self, root: Path, kind: str) -> None:
        self.root = root
        self.key = f"{kind}:{root.resolve()}"
        self._listed: dict[str, Listing] = {}

    def __enter__(self) -> _LocalFolder:
        if not self.root.is_dir():
            raise MailboxError(f"邮件文件夹 {self.root} 不存在，请检查 mailbox 设置")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._listed.clear()

    @abc.abstractmethod
    def _files(self) -> list[Path]:
        """Every message file in the folder."""

    def _uid(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def candidates(self, after_uid: int, since: datetime, known: Set[str]) -> list[str]:
        found = []
        for path in self._files():
            if self._uid(path) in known:
                continue  # recorded already: not worth reading again
            raw = path.read_bytes()
            listing = Listing(
                uid=self._uid(path),
                size=len(raw),
                received_at=_receipt_time(raw, path),
                header=raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0],
                attachment_names=_names_in(raw),
            )
            if listing.received_at >= since:
                self._listed[listing.uid] = listing
                found.append(listing)
        found.sort(key=lambda item: (item.received_at, item.uid))
        return [item.uid for item in found]

    def listings(self, uids: Sequence[str]) -> list[Listing]:
        return [self._listed[u] for u in uids if u in self._listed]

    def bodies(self, wanted: Sequence[tuple[str, int | None]]) -> Iterator[tuple[str, Iterable[bytes]]]:
        for uid, _ in wanted:
            yield uid, self._pieces(self._path(uid))

    def _pieces(self, path: Path) -> Iterator[bytes]:
        try:
            with path.open("rb") as handle:
                while piece := handle.read(BODY_PIECE):
                    yield piece
        except OSError as exc:
            raise MailboxError(f"无法读取邮件文件 {path}：{exc}") from exc

    def _path(self, uid: str) -> Path:
        return self.root / uid


class MaildirSource(_LocalFolder):
    """A Maildir (new/ and cur/); a message keeps its identity when it moves from new to cur."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "maildir")
        self._paths: dict[str, Path] = {}

    def _files(self) -> list[Path]:
        # Names starting with a dot are not messages (Maildir convention).
        paths = [p for sub in ("new", "cur") for p in sorted((self.root / sub).glob("[!.]*"))]
        self._paths = {self._uid(p): p for p in paths if p.is_file()}
        return list(self._paths.values())

    def _uid(self, path: Path) -> str:
        return path.name.split(":2,", 1)[0]

    def _path(self, uid: str) -> Path:
        if uid not in self._paths:
            self._files()
        if uid not in self._paths:
            raise MailboxError(f"Maildir 中已没有邮件 {uid}")
        return self._paths[uid]


class EmlDirSource(_LocalFolder):
    """A folder (and its subfolders) of .eml files, as saved from a mail client."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "eml")

    def _files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*.eml") if p.is_file())


def _receipt_time(raw: bytes, path: Path) -> datetime:
    """INTERFACE.md: the topmost Received header, then Date, then the file's mtime."""
    try:
        envelope = parse_envelope(raw)
    except ParseError:
        envelope = None
    if envelope is not None:
        for moment in (envelope.received_at, envelope.date):
            if moment is not None:
                return moment
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _names_in(raw: bytes) -> tuple[str, ...]:
    try:
        return tuple(a.filename for a in parse_message(raw).attachments)
    except ParseError:
        return ()


__all__ = [
    "EmlDirSource",
    "ImapSource",
    "Listing",
    "MailSource",
    "MailboxError",
    "MailboxLoginError",
    "MaildirSource",
    "open_source",
]
