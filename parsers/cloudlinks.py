"""超大附件: files too large to attach, sent as download links in the body instead.

126/163 webmail, NetEase's 邮箱大师 and QQ Mail put a block in the body with the file's name,
its size and when the link expires ("虚拟.wav (80.96M, 2026年8月17日 0:49 到期)") next to the
link. The file is not in the message; the operator must download it before it expires, so each
link is recorded with what the body says about it. The HTML part and the plain-text part are
both read, as lines of text: in HTML an anchor's address is written out after its text.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from html.parser import HTMLParser
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


class CloudService(enum.StrEnum):
    NETEASE = "netease"  # 126/163 webmail's 超大附件
    MAIL_MASTER = "mail_master"  # 网易邮箱大师's 云附件
    QQ = "qq"  # QQ Mail's 超大附件 (文件中转站)


@dataclass(frozen=True)
class CloudLink:
    """One file sent as a link; a field is None when the body does not say."""

    service: CloudService
    url: str
    filename: str | None
    size_text: str | None  # as written, e.g. "80.96M"
    size_bytes: int | None  # from size_text, 1024-based as the webmails count
    expires: datetime | None  # aware; None also for "无限期"


def find_cloud_attachments(
    text: str, html: str | None, *, zone: tzinfo = BEIJING
) -> tuple[CloudLink, ...]:
    """Every cloud-attachment link in a body, once each, in order of appearance.

    `zone` is the time zone the webmail writes expiry times in (Beijing time for all three).
    """
    found: dict[str, CloudLink] = {}
    sources = ([_html_lines(html)] if html else []) + [text.splitlines()]
    for lines in sources:
        for link in _scan(lines, zone):
            known = found.get(link.url)
            found[link.url] = link if known is None else _merge(known, link)
    return tuple(found.values())


def _merge(first: CloudLink, second: CloudLink) -> CloudLink:
    return replace(
        first,
        filename=first.filename or second.filename,
        size_text=first.size_text or second.size_text,
        size_bytes=first.size_bytes if first.size_text else second.size_bytes,
        expires=first.expires or second.expires,
    )


_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%]+")
_SIZE = r"\d+(?:\.\d+)?\s*(?:[KMGT]i?B?|[KMGT]?字节|B)"
# "name (80.96M, 2026年8月17日 0:49 到期)": the shape all three webmails use next to the link.
_INFO = re.compile(rf"[(（]\s*(?P<size>{_SIZE})\s*[,，]\s*(?P<expiry>[^()（）\n]{{0,40}}?)\s*[)）]", re.I)
_NAME_LABEL = re.compile(r"文件名(?:称)?\s*[:：]\s*(?P<name>\S[^\n]*)")
_SIZE_LABEL = re.compile(rf"(?:文件)?大小\s*[:：]\s*(?P<size>{_SIZE})", re.I)
_EXPIRY_LABEL = re.compile(r"(?:到期时间|过期时间|有效期至)\s*[:：]\s*(?P<expiry>[^\n]{0,40})")
_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日(?:\s*(\d{1,2})[:：](\d{2}))?")
# Words that stand around a link in these blocks and are never a file's name.
_NOT_A_NAME = re.compile(r"^(?:下载|进入下载页面|点击下载|预览|查看)\s*[:：]?\s*")


@dataclass
class _Facts:
    """What one line (or the lines around a link) say about a file."""

    name: str | None = None
    size: str | None = None
    expiry: str | None = None

    def absorb(self, other: _Facts) -> None:
        self.name = self.name or other.name
        self.size = self.size or other.size
        self.expiry = self.expiry or other.expiry

    @property
    def empty(self) -> bool:
        return self.name is None and self.size is None and self.expiry is None

    @property
    def complete(self) -> bool:
        return self.size is not None and self.expiry is not None


def _scan(lines: list[str], zone: tzinfo) -> list[CloudLink]:
    """Pair each link with the facts on its line, or on the lines just before or after it.

    Facts on a line without a link wait for the next link (name first, link after, as in
    QQ's text); a link whose line says nothing takes the next facts that come (link first).
    """
    facts: dict[str, _Facts] = {}
    services: dict[str, CloudService] = {}
    pending = _Facts()
    waiting: str | None = None  # a link still without facts
    for line in lines:
        urls = []
        for match in _URL.finditer(line):
            url = match.group().rstrip(".,;:!?")
            service = _service(url)
            if service is not None:
                urls.append(url)
                services.setdefault(url, service)
                facts.setdefault(url, _Facts())
        said = _facts(_URL.sub(" ", line))
        if urls:
            if said.empty:
                said, pending = pending, _Facts()
            for url in urls:
                facts[url].absorb(said)
            waiting = None if facts[urls[-1]].complete else urls[-1]
        elif not said.empty:
            if waiting is not None:
                facts[waiting].absorb(said)
                if facts[waiting].complete:
                    waiting = None
            else:
                pending.absorb(said)
    return [
        CloudLink(
            services[url],
            url,
            said.name,
            said.size,
            _size_bytes(said.size),
            _expiry(said.expiry, zone),
        )
        for url, said in facts.items()
    ]


def _facts(line: str) -> _Facts:
    info = _INFO.search(line)
    if info is not None:
        name = _NOT_A_NAME.sub("", line[: info.start()].strip()).strip() or None
        return _Facts(name, _compact(info.group("size")), info.group("expiry"))
    label = _NAME_LABEL.search(line)
    size = _SIZE_LABEL.search(line)
    expiry = _EXPIRY_LABEL.search(line)
    return _Facts(
        label.group("name").strip() if label else None,
        _compact(size.group("size")) if size else None,
        expiry.group("expiry") if expiry else None,
    )


def _compact(size: str) -> str:
    return re.sub(r"\s+", "", size)


def _service(url: str) -> CloudService | None:
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path
    if host in ("mail.163.com", "mail.126.com", "mail.yeah.net") and path.startswith(
        "/large-attachment-download"
    ):
        return CloudService.NETEASE
    if host == "dashi.163.com" and path.startswith("/html/cloud-attachment-download"):
        return CloudService.MAIL_MASTER
    if host == "wx.mail.qq.com" and path.startswith("/ftn/download"):
        return CloudService.QQ
    if host.endswith(("mail.qq.com", "exmail.qq.com")) and path == "/cgi-bin/ftnExs_download":
        return CloudService.QQ
    return None


_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _size_bytes(size: str | None) -> int | None:
    if size is None:
        return None
    match = re.match(r"(\d+(?:\.\d+)?)([KMGT]?)", size.upper())
    if match is None:
        return None
    return round(float(match.group(1)) * _UNITS[match.group(2)])


def _expiry(text: str | None, zone: tzinfo) -> datetime | None:
    match = _DATE.search(text or "")
    if match is None:
        return None  # not stated, or "无限期"
    year, month, day = (int(part) for part in match.groups()[:3])
    # A date without a time lasts to the end of that day.
    hour, minute = (int(match.group(4)), int(match.group(5))) if match.group(4) else (23, 59)
    try:
        return datetime(year, month, day, hour, minute, tzinfo=zone)
    except ValueError:
        return None


_BLOCKS = frozenset(
    {"br", "div", "p", "tr", "li", "table", "tbody", "h1", "h2", "h3", "h4", "blockquote", "hr"}
)


class _Renderer(HTMLParser):
    """HTML as lines of text, each anchor's address written after the anchor's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hrefs: list[str | None] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "a":
            self.hrefs.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "a" and self.hrefs:
            href = self.hrefs.pop()
            if href:
                self.parts.append(f" {href} ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def _html_lines(html: str) -> list[str]:
    renderer = _Renderer()
    renderer.feed(html)
    renderer.close()
    return "".join(renderer.parts).splitlines()
