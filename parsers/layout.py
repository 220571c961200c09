"""What a document says, as lines of cells: the common ground of Word, Excel, HTML and plain text.

Every reader turns its format into `Section`s (a Word body, or one sheet) of `Line`s (a paragraph
or a table row). Merged cells appear once, at their first column, so text is never doubled;
nested tables become lines of their own. A `Stream` is a section as one string, with a folded
copy for comparisons (full-width, quotes, brackets and whitespace made uniform).

The readers raise the libraries' own errors on damaged files; the caller turns them into words.
"""

from __future__ import annotations

import bisect
import functools
import io
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, time
from html.parser import HTMLParser
from typing import Any

# python-docx, openpyxl and xlrd are imported where a file of theirs is read: a poll that meets
# no such file does not pay for importing them.
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def qn(tag: str) -> str:
    """docx.oxml.ns.qn for the w: prefix (the only one read here), without importing docx."""
    prefix, _, name = tag.partition(":")
    assert prefix == "w", tag
    return _W + name


@dataclass(frozen=True)
class Line:
    """A paragraph (one cell, `table` None) or a table row; rows of one table share `table`."""

    cells: tuple[str, ...]
    table: int | None = None


@dataclass(frozen=True)
class Section:
    """A Word document's body, one sheet of a workbook, or a mail body."""

    name: str
    lines: tuple[Line, ...]


# ---------------------------------------------------------------- folding and streams

_FOLD_MAP = str.maketrans(
    {
        "“": '"', "”": '"', "„": '"', "‟": '"', "〝": '"', "〞": '"', "＂": '"',
        "‘": "'", "’": "'", "「": '"', "」": '"', "『": '"', "』": '"',
        "【": "(", "】": ")", "〔": "(", "〕": ")", "［": "(", "］": ")", "[": "(", "]": ")",
        "〖": "(", "〗": ")", "{": "(", "}": ")", "《": '"', "》": '"',
        "—": "-", "–": "-", "―": "-", "－": "-", "、": ",", "。": ".", "．": ".",
    }
)


@functools.lru_cache(maxsize=4096)  # printed words are folded for every form read
def fold(text: str) -> str:
    """The comparison form of `text`: NFKC, uniform quotes and brackets, lower case, no spaces."""
    return "".join(fold_char(c) for c in text)


def fold_char(char: str) -> str:
    """One character's comparison form: "" for whitespace, else one or more characters."""
    if char.isspace():
        return ""
    return unicodedata.normalize("NFKC", char.translate(_FOLD_MAP)).translate(_FOLD_MAP).lower()


@dataclass(frozen=True)
class Stream:
    """A section as one string: cells joined by tabs, lines by newlines.

    `folded` is the comparison form with whitespace dropped; `origin[k]` is the offset in `text`
    of the character that gave `folded[k]`. Searching happens in `folded`, quoting in `text`.
    """

    text: str
    line_starts: tuple[int, ...]
    folded: str
    origin: tuple[int, ...]

    @classmethod
    def of(cls, lines: Sequence[Line]) -> Stream:
        texts = ["\t".join(line.cells) for line in lines]
        starts, offset = [], 0
        for text in texts:
            starts.append(offset)
            offset += len(text) + 1
        joined = "\n".join(texts)
        folded, origin = [], []
        for index, char in enumerate(joined):
            for piece in fold_char(char):
                folded.append(piece)
                origin.append(index)
        return cls(joined, tuple(starts), "".join(folded), tuple(origin))

    def raw(self, folded_index: int) -> int:
        """Offset in `text` of folded position `folded_index` (the end maps to the text's end)."""
        return self.origin[folded_index] if folded_index < len(self.origin) else len(self.text)

    def folded_at(self, raw_offset: int) -> int:
        """The first folded position at or after `raw_offset` in `text`."""
        return bisect.bisect_left(self.origin, raw_offset)

    def line_start(self, line: int) -> int:
        """Folded position where line number `line` begins (the end for a line past the last)."""
        if line >= len(self.line_starts):
            return len(self.folded)
        return self.folded_at(self.line_starts[line])

    def lines_between(self, start: int, end: int) -> range:
        """Numbers of the lines that folded positions [start, end) touch."""
        if start >= end:
            return range(0)
        first = bisect.bisect_right(self.line_starts, self.raw(start)) - 1
        last = bisect.bisect_right(self.line_starts, self.raw(end - 1))
        return range(max(first, 0), last)


# ---------------------------------------------------------------- Word (.docx)

_SKIPPED = {qn("w:del"), qn("w:moveFrom"), qn("w:instrText"), qn("w:delInstrText")}
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


class _WordWalker:
    """Walks the XML of a Word body itself: python-docx's `.text` misses runs inside content
    controls and tracked insertions, which is where WPS and Word with 修订 put typed figures."""

    def __init__(self, links: dict[str, str]) -> None:
        self.links = links
        self.lines: list[Line] = []
        self.tables = 0

    def block(self, parent: Any) -> None:
        for child in parent:
            if child.tag == qn("w:p"):
                text = self.paragraph(child)
                if text.strip():
                    self.lines.append(Line((text,)))
            elif child.tag == qn("w:tbl"):
                self.table(child)
            elif child.tag in (qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")):
                self.block(child)

    def table(self, table: Any) -> None:
        self.tables += 1
        number = self.tables
        for row in _children(table, qn("w:tr")):
            cells: list[str] = [""] * _grid_before(row)
            nested: list[Any] = []
            for cell in _children(row, qn("w:tc")):
                parts = []
                for child in _children(cell, qn("w:p"), qn("w:tbl")):
                    if child.tag == qn("w:tbl"):
                        nested.append(child)
                    else:
                        parts.append(self.paragraph(child))
                cells.append("\n".join(p for p in parts if p.strip()))
                cells.extend([""] * (_grid_span(cell) - 1))
            self.lines.append(Line(tuple(cells), number))
            for inner in nested:
                self.table(inner)

    def paragraph(self, paragraph: Any) -> str:
        text = "".join(self._text(paragraph))
        for link in paragraph.iter(qn("w:hyperlink")):
            address = self.links.get(link.get(_RELATIONSHIP_ID, ""))
            if address and address not in text:
                text = f"{text} {address}"
        return text

    def _text(self, element: Any) -> Iterator[str]:
        for child in element:
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIPPED or tag == _FALLBACK:
                continue
            if tag == qn("w:t"):
                yield child.text or ""
            elif tag in (qn("w:tab"), qn("w:ptab")):
                yield " "
            elif tag in (qn("w:br"), qn("w:cr")):
                yield "\n"
            elif tag == qn("w:noBreakHyphen"):
                yield "-"
            else:
                yield from self._text(child)


def _children(parent: Any, *tags: str) -> Iterator[Any]:
    """Children with one of `tags`, looking through content controls and custom XML wrappers."""
    for child in parent:
        if child.tag in tags:
            yield child
        elif child.tag in (qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")):
            yield from _children(child, *tags)


def _int_property(element: Any, path: str) -> int:
    found = element.find(path)
    value = found.get(qn("w:val")) if found is not None else None
    return int(value) if value and value.isdigit() else 0


def _grid_span(cell: Any) -> int:
    return max(1, _int_property(cell, f"{qn('w:tcPr')}/{qn('w:gridSpan')}"))


def _grid_before(row: Any) -> int:
    return _int_property(row, f"{qn('w:trPr')}/{qn('w:gridBefore')}")


def word_sections(data: bytes) -> tuple[Section, ...]:
    import docx

    document = docx.Document(io.BytesIO(data))
    links = {
        rel_id: rel.target_ref for rel_id, rel in document.part.rels.items() if rel.is_external
    }
    walker = _WordWalker(links)
    walker.block(document.element.body)
    return (Section("正文", tuple(walker.lines)),)


# ---------------------------------------------------------------- spreadsheets

def cell_text(value: object) -> str:
    """A spreadsheet value as the clerk would read it: 12.0 is "12", a date is "2023-06-07"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _sheet_lines(rows: Iterator[list[str]], table: int) -> tuple[Line, ...]:
    lines = []
    for cells in rows:
        while cells and not cells[-1].strip():
            cells.pop()
        if any(c.strip() for c in cells):
            lines.append(Line(tuple(cells), table))
    return tuple(lines)


def _xlsx_rows(sheet: Any) -> Iterator[list[str]]:
    for row in sheet.iter_rows():
        cells = []
        for cell in row:
            text = cell_text(cell.value)
            link = getattr(cell, "hyperlink", None)  # merged cells have none
            target = link.target if link is not None else None
            cells.append(f"{text} {target}".strip() if target and target not in text else text)
        yield cells


def xlsx_sections(data: bytes) -> tuple[Section, ...]:
    import openpyxl

    # data_only: a unit's =SUM() shows the value Excel or WPS last computed.
    book = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    return tuple(
        Section(sheet.title, _sheet_lines(_xlsx_rows(sheet), number))
        for number, sheet in enumerate(book.worksheets, 1)
        if sheet.sheet_state == "visible"
    )


def _xls_rows(sheet: Any, datemode: int) -> Iterator[list[str]]:
    import xlrd

    for index in range(sheet.nrows):
        cells = []
        for cell in sheet.row(index):
            if cell.ctype == xlrd.XL_CELL_DATE:
                cells.append(cell_text(xlrd.xldate_as_datetime(cell.value, datemode)))
            elif cell.ctype in (xlrd.XL_CELL_TEXT, xlrd.XL_CELL_NUMBER):
                cells.append(cell_text(cell.value))
            else:
                cells.append("")
        yield cells


def xls_sections(data: bytes) -> tuple[Section, ...]:
    import xlrd

    # xlrd reports oddities on stdout by default; they mean nothing to the clerk.
    book = xlrd.open_workbook(file_contents=data, logfile=io.StringIO())
    sheets = (book.sheet_by_index(n) for n in range(book.nsheets))
    return tuple(
        Section(sheet.name, _sheet_lines(_xls_rows(sheet, book.datemode), number))
        for number, sheet in enumerate(sheets, 1)
        if sheet.visibility == 0
    )


def ole_streams(data: bytes) -> tuple[str, ...]:
    """Names of the streams inside an OLE2 compound file (.doc, .xls, .wps, .et, encrypted
    Office files), which tell them apart."""
    import xlrd.compdoc

    return tuple(node.name for node in xlrd.compdoc.CompDoc(data, logfile=io.StringIO()).dirlist)


# ---------------------------------------------------------------- HTML and plain text

_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre"}
)
_INVISIBLE = frozenset({"script", "style", "head", "title"})


@dataclass
class _OpenTable:
    number: int
    row: int | None = None  # index in the lines of the current row, placed when the row opens
    cells: list[str] = dataclass_field(default_factory=list)
    cell: list[str] | None = None
    span: int = 1


class _HtmlLines(HTMLParser):
    """Tables to rows of cells (colspan kept as empty cells), everything else to paragraphs.

    A row takes its place in the lines when it opens, so a form laid out inside an outer
    table keeps its title before its rows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[Line] = []
        self.paragraph: list[str] = []
        self.tables: list[_OpenTable] = []
        self.count = 0
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self.skip += 1
        elif tag == "table":
            self.flush()
            self.count += 1
            self.tables.append(_OpenTable(self.count))
        elif tag == "tr" and self.tables:
            self._end_row(self.tables[-1])
            self._start_row(self.tables[-1])
        elif tag in ("td", "th") and self.tables:
            table = self.tables[-1]
            self._end_cell(table)
            if table.row is None:
                self._start_row(table)
            span = dict(attrs).get("colspan") or "1"
            table.cell, table.span = [], int(span) if span.isdigit() else 1
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE:
            self.skip = max(0, self.skip - 1)
        elif tag in ("td", "th") and self.tables:
            self._end_cell(self.tables[-1])
        elif tag == "tr" and self.tables:
            self._end_row(self.tables[-1])
        elif tag == "table" and self.tables:
            self._end_row(self.tables.pop())
        elif tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.tables:
            self.paragraph.append(data)
        elif self.tables[-1].cell is not None:
            self.tables[-1].cell.append(data)

    def _newline(self) -> None:
        if not self.tables:
            self.flush()
        elif self.tables[-1].cell is not None:
            self.tables[-1].cell.append("\n")

    def _start_row(self, table: _OpenTable) -> None:
        table.row, table.cells = len(self.lines), []
        self.lines.append(Line((), table.number))

    def _end_cell(self, table: _OpenTable) -> None:
        if table.cell is None or table.row is None:
            return
        table.cells.append(_squeeze("".join(table.cell)))
        table.cells.extend([""] * (table.span - 1))
        table.cell = None
        self.lines[table.row] = Line(tuple(table.cells), table.number)

    def _end_row(self, table: _OpenTable) -> None:
        self._end_cell(table)
        table.row = None

    def flush(self) -> None:
        text = _squeeze("".join(self.paragraph))
        if text:
            self.lines.append(Line((text,)))
        self.paragraph = []


def _squeeze(text: str) -> str:
    return "\n".join(" ".join(part.split()) for part in text.splitlines() if part.strip())


def html_sections(html: str) -> tuple[Section, ...]:
    parser = _HtmlLines()
    parser.feed(html)
    parser.close()
    parser.flush()
    lines = tuple(line for line in parser.lines if any(c.strip() for c in line.cells))
    return (Section("正文", lines),)


def text_sections(text: str) -> tuple[Section, ...]:
    """Plain text; a pasted table's cells are separated by tabs or runs of spaces."""
    lines = []
    for raw in text.splitlines():
        cells = tuple(c.strip() for c in re.split(r"\t| {2,}|\u3000+", raw.strip()) if c.strip())
        if cells:
            lines.append(Line(cells, 0 if len(cells) > 1 else None))
    return (Section("正文", tuple(lines)),)
