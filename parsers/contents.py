"""What a message carries: its files (archives opened), the forms in them or in the body, the
photos and the cloud-drive links. Pure: the message in, a Contents out; the one piece of I/O a
legacy file needs (LibreOffice) comes in as the `convert` callable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from parsers.archives import ArchiveLimits, check_ooxml, expand
from parsers.cloudlinks import CloudLink, find_cloud_attachments
from parsers.concerns import Concern
from parsers.filetypes import IMAGES, Format, sniff
from parsers.formreading import FormReading
from parsers.forms import Contact, FormDefinition, MediaRow
from parsers.images import read_image
from parsers.message import Attachment, Message
from parsers.reading import Converter, read_body, read_document
from store.model import ProblemKind

_FORM_FORMATS = frozenset(
    {Format.DOCX, Format.XLSX, Format.DOC, Format.XLS, Format.WPS, Format.ET, Format.RTF,
     Format.ODT, Format.ODS, Format.TEXT, Format.HTML, Format.MHT, Format.XML}
)
_OOXML = frozenset({Format.DOCX, Format.XLSX})


@dataclass(frozen=True)
class Photo:
    name: str
    taken: datetime | None
    phash: str | None
    thumbnail: bytes | None


@dataclass(frozen=True)
class Contents:
    files: tuple[Attachment, ...]  # what to file: archive members instead of the archive when it opened
    readings: tuple[FormReading, ...]
    photos: tuple[Photo, ...]
    cloud_links: tuple[CloudLink, ...]
    warnings: tuple[Concern, ...]

    def forms(self, form_id: str) -> tuple[FormReading, ...]:
        return tuple(r for r in self.readings if r.form == form_id)

    @property
    def statistics(self) -> FormReading | None:
        """The 附件2 to take figures from: the last one read (a mail with two is corrected)."""
        found = self.forms("statistics")
        return found[-1] if found else None

    @property
    def contacts(self) -> tuple[Contact, ...]:
        return tuple(c for r in self.forms("liaison") for c in r.contacts)

    @property
    def media_rows(self) -> tuple[MediaRow, ...]:
        return tuple(row for r in self.forms("media") for row in r.rows)


def read_contents(
    message: Message,
    definitions: Sequence[FormDefinition],
    convert: Converter | None,
    zone: tzinfo,
    limits: ArchiveLimits | None = None,
) -> Contents:
    files: list[Attachment] = []
    warnings: list[Concern] = []
    for attachment in message.attachments:
        expansion = expand(attachment.filename, attachment.data, limits)
        warnings.extend(expansion.warnings)
        opened = [leaf for leaf in expansion.leaves if leaf.archive_path]
        if opened and expansion.complete:
            files.extend(Attachment(leaf.name, "application/octet-stream", leaf.data) for leaf in opened)
        else:
            files.append(attachment)  # kept as sent: a person may still open it
            files.extend(Attachment(leaf.name, "application/octet-stream", leaf.data) for leaf in opened)
    readings: list[FormReading] = []
    photos: list[Photo] = []
    for item in files:
        kind = sniff(item.data, item.filename)
        warnings.extend(kind.notes)
        if kind.encrypted:  # only ever an Office file (sniff)
            locked = f"“{item.filename}”设有密码，无法打开，请单位发送不加密的文件"
            warnings.append(Concern(ProblemKind.UNREADABLE, locked))
        elif kind.format in IMAGES:
            facts = read_image(item.data, zone=zone)
            warnings.extend(facts.warnings)
            photos.append(Photo(item.filename, facts.taken, facts.phash, facts.thumbnail))
        elif kind.format in _FORM_FORMATS:
            bomb = check_ooxml(item.data, limits) if kind.format in _OOXML else None
            if bomb is not None:
                warnings.append(bomb)
                continue
            readings.extend(read_document(item.filename, item.data, definitions, convert))
    if not any(r.form == "statistics" for r in readings):
        readings.extend(read_body(message.text, message.html, definitions))
    warnings.extend(w for r in readings for w in r.warnings)
    links = find_cloud_attachments(message.text, message.html, zone=zone)
    return Contents(tuple(files), tuple(readings), tuple(photos), links, tuple(warnings))
