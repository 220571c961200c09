"""Reading the forms of a definition out of sections of lines, whatever format they came from.

`read_sections` finds where each form sits in each section (by its title words and its own
structure: item labels, field labels, column headings), then reads it with the reader of its
layout. Every doubt becomes a Chinese warning naming the form, item and blank.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from parsers.align import BlankPlace, distinctive_words, place_blanks, without_remarks
from parsers.concerns import Concern
from parsers.forms import (
    BlankSpec,
    Clause,
    Contact,
    Field,
    FormDefinition,
    HeaderField,
    Item,
    MediaRow,
)
from parsers.layout import Line, Section, Stream, fold
from parsers.numerals import UNFILLED, read_blank
from store.model import ProblemKind

# Share of a clause's printed characters that must be found before its blanks are read.
MIN_FOUND = 0.6
# A label shorter than this is too common to locate an item by.
_MIN_LABEL = 4
_COLONS = ":："
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


@dataclass(frozen=True)
class FormReading:
    """One form read from a file or a mail body.

    `form` is the definition's id ('liaison', 'statistics', 'media'), or None when the file could
    not be read at all; `warnings` then says why and what to ask the unit. `figures` holds every
    figure key of the definition (None for a blank), `contacts` the liaisons, `rows` the media
    rows. `where` names the file, and the sheet when a workbook has several.
    """

    form: str | None
    where: str
    header: Mapping[str, str] = field(default_factory=dict)
    figures: Mapping[str, int | str | None] = field(default_factory=dict)
    contacts: tuple[Contact, ...] = ()
    rows: tuple[MediaRow, ...] = ()
    warnings: tuple[Concern, ...] = ()


@dataclass(frozen=True)
class _Span:
    """A found piece of text: folded positions [start, end) of a section's stream."""

    start: int
    end: int


@dataclass(frozen=True)
class _Placement:
    definition: FormDefinition
    start: int  # folded position where the form begins (its title, or its first structure)
    body: int  # folded position where its table begins (after the title and header line)


def _find(stream: Stream, needle: str, start: int = 0, end: int | None = None) -> _Span | None:
    folded = fold(needle)
    if not folded:
        return None
    position = stream.folded.find(folded, start, len(stream.folded) if end is None else end)
    return _Span(position, position + len(folded)) if position >= 0 else None


def _rfind(stream: Stream, needle: str, start: int, end: int) -> _Span | None:
    folded = fold(needle)
    position = stream.folded.rfind(folded, start, end) if folded else -1
    return _Span(position, position + len(folded)) if position >= 0 else None


# ---------------------------------------------------------------- label: value text

_Labels = Sequence[tuple[str, tuple[str, ...]]]


def _label_hits(stream: Stream, fields: _Labels, start: int, end: int) -> list[tuple[int, int, str]]:
    """(start, end, key) of every label of `fields` in folded [start, end), in order.

    A label counts only where a label can stand: after the start of a line or cell, a space or
    punctuation, and before a colon, a space or the end of its cell; so neither "单位" inside an
    address nor "联络员" in the title "联络员表" is a label. Of two labels at one place the
    longer wins ("填报日期" hides its "日期")."""
    hits: list[tuple[int, int, str]] = []
    for key, labels in fields:
        for label in labels:
            needle = fold(label)
            position = stream.folded.find(needle, start, end) if needle else -1
            while position >= 0:
                raw = stream.raw(position)
                before = stream.text[raw - 1] if raw > 0 else "\n"
                last = stream.raw(position + len(needle) - 1) + 1
                after = stream.text[last] if last < len(stream.text) else "\n"
                if (before.isspace() or before in "，,；;。.、:：)）") and (
                    after.isspace() or after in ":："
                ):
                    hits.append((position, position + len(needle), key))
                position = stream.folded.find(needle, position + 1, end)
    hits.sort(key=lambda hit: (hit[0], hit[0] - hit[1]))
    kept: list[tuple[int, int, str]] = []
    for hit in hits:
        if not kept or hit[0] >= kept[-1][1]:
            kept.append(hit)
    return kept


def _label_values(stream: Stream, fields: _Labels, start: int, end: int) -> list[tuple[str, str]]:
    """Every "label：value" of `fields` in folded [start, end), in order of appearance.

    A value runs to the next label or the end of its line, so cells "联系人：" | "张三" and the
    line "联系人：张三  电话：123" both read."""
    hits = _label_hits(stream, fields, start, end)
    values = []
    for index, (_, label_end, key) in enumerate(hits):
        value_end = hits[index + 1][0] if index + 1 < len(hits) else end
        text = stream.text[stream.raw(label_end - 1) + 1 : stream.raw(value_end)]
        text = text.split("\n", 1)[0].strip().lstrip(_COLONS).strip()
        values.append((key, " ".join(text.split())))
    return values


def _pairs(fields: Sequence[Field] | Sequence[HeaderField]) -> _Labels:
    return [(f.key, f.labels) for f in fields]


def _header(fields: Sequence[HeaderField], stream: Stream, start: int, end: int) -> dict[str, str]:
    """The header line closest before the table: from its first label's last occurrence on."""
    if not fields:
        return {}
    anchors = [_rfind(stream, label, start, end) for label in fields[0].labels]
    found = [span.start for span in anchors if span is not None]
    header: dict[str, str] = {}
    for key, value in _label_values(stream, _pairs(fields), max(found, default=start), end):
        if value and key not in header:
            header[key] = value
    return header


# ---------------------------------------------------------------- locating forms


def _label_span(item: Item, stream: Stream, start: int, end: int) -> _Span | None:
    """Where an item's label is: tried whole, then its first and last words (a unit may
    retype half of it)."""
    label = fold(item.label)
    for needle in (label, label[:10], label[-10:]):
        if len(needle) >= _MIN_LABEL:
            span = _find(stream, needle, start, end)
            if span is not None:
                return span
    return None


def _item_starts(item: Item, stream: Stream, start: int, end: int) -> _Span | None:
    """Where an item's label is or, failing that, (an empty span) where the first printed
    words of its progress text are."""
    span = _label_span(item, stream, start, end)
    opening = fold(item.clauses[0].pieces[0])[:10]
    if span is None and len(opening) >= _MIN_LABEL:
        found = _find(stream, opening, start, end)
        span = _Span(found.start, found.start) if found is not None else None
    return span


def _label_cells(line: Line, fields: Sequence[Field]) -> dict[int, str]:
    """Cells of `line` that are exactly one of the fields' labels: column -> field key."""
    found: dict[int, str] = {}
    for column, cell in enumerate(line.cells):
        text = fold(cell).rstrip(_COLONS)
        for form_field in fields:
            if text and any(text == fold(label) for label in form_field.labels):
                found[column] = form_field.key
                break
    return found


def _structure(definition: FormDefinition, stream: Stream, lines: Sequence[Line]) -> int | None:
    """Folded position where the form's own structure begins, if the section has enough of it:
    three item labels (附件2; or five items by their first printed words), a row of three
    column headings (附件3), four label cells close
    together (附件1; three under its title) or, in text without a table, its title and three
    "label：value". A 附件2 header row ("联系人：" | … | "联系电话：") has only two labels."""
    everything = len(stream.folded)
    if definition.layout == "items":
        # Item labels; or, more of them, the first printed words (a 附件3 row may quote one).
        labels = [_label_span(item, stream, 0, everything) for item in definition.items]
        starts = [_item_starts(item, stream, 0, everything) for item in definition.items]
        found = [span.start for span in starts if span is not None]
        enough = sum(span is not None for span in labels) >= 3 or len(found) >= 5
        return min(found) if enough else None
    if definition.layout == "columns":
        for number, line in enumerate(lines):
            if len(set(_label_cells(line, definition.fields).values())) >= 3:
                return stream.line_start(number)
        return None
    titled = any(_find(stream, m) for m in definition.markers)
    labelled = [(n, set(_label_cells(line, definition.fields).values()))
                for n, line in enumerate(lines)]
    labelled = [(n, keys) for n, keys in labelled if keys]
    for index, (number, _) in enumerate(labelled):
        nearby: set[str] = set().union(*(keys for _, keys in labelled[index : index + 6]))
        if len(nearby) >= (3 if titled else 4):
            return stream.line_start(number)
    if titled:
        pairs = _pairs(definition.fields)
        filled = {key for key, value in _label_values(stream, pairs, 0, everything) if value}
        if len(filled) >= 3:
            return _label_hits(stream, pairs, 0, everything)[0][0]
    return None


def _place(
    definitions: Sequence[FormDefinition], stream: Stream, lines: Sequence[Line]
) -> list[_Placement]:
    placements = []
    for definition in definitions:
        body = _structure(definition, stream, lines)
        if body is None:
            continue
        # The title nearest before the table, not a mention of the form in a cover letter.
        titles = [_rfind(stream, marker, 0, body + 1) for marker in definition.markers]
        start = max((span.start for span in titles if span is not None), default=body)
        placements.append(_Placement(definition, min(start, body), body))
    return sorted(placements, key=lambda p: p.start)


# ---------------------------------------------------------------- 附件2: items with blanks


def _clause_text(clause: Clause) -> str:
    return "（ ）".join(clause.pieces)


def _text_blank(text: str) -> tuple[str | None, str | None]:
    """A text blank (an activity's name): its words without the brackets, or None if empty."""
    value = text.strip()
    while _enclosed(value):
        value = value[1:-1].strip()
    # Cell and line breaks inside a name are layout, not words: drop them between Chinese
    # characters, keep one space between Latin words.
    value = re.sub(r"\s+", " ", value.strip("，,；;。：: ")).strip()
    value = re.sub(r"(?<=[^\x00-\x7f]) | (?=[^\x00-\x7f])", "", value)
    if not value:
        return None, UNFILLED
    if value in ("无", "/", "／", "—", "-", "——"):
        return None, None
    return value, None


def _enclosed(text: str) -> bool:
    """Is all of `text` inside one pair of brackets? ("（A（线上））" is, "（A）和（B）" is not.)"""
    depth = 0
    for index, char in enumerate(text):
        depth += (char in "（(【[") - (char in "）)】]")
        if depth == 0:
            return index == len(text) - 1 and index > 0
    return False


def _read_place(place: BlankPlace, blank: BlankSpec) -> tuple[int | str | None, str | None]:
    if place.shared is not None:
        return None, (
            f"与第{_index(place.shared)}空之间缺少表中文字，"
            f"分不清“{place.text.strip()}”属于哪一空，未计入"
        )
    if blank.text:
        return _text_blank(place.text)
    reading = read_blank(place.text)
    if reading.value is None:
        # A remark beside a figure ("（2）场（其中线上1场）", "（线上线下结合），(253)") can
        # stretch the blank's place over it: the figure is then what stands before the unit
        # word, or what is left without the remark.
        candidates = [without_remarks(place.text)]
        if blank.unit and blank.unit in place.text:
            candidates.insert(0, place.text[: place.text.index(blank.unit)])
        for candidate in candidates:
            retry = read_blank(candidate)
            if retry.value is not None:
                return retry.value, retry.warning
    return reading.value, reading.warning


def _pair_warnings(
    definition: FormDefinition, figures: Mapping[str, int | str | None]
) -> list[Concern]:
    """Participants (人次) fewer than sessions (场) in the pair "（ ）场，参与（ ）人次"."""
    warnings = []
    for item in definition.items:
        blanks = item.blanks
        for sessions, people in itertools.pairwise(blanks):
            many, few = figures.get(people.key), figures.get(sessions.key)
            if (
                sessions.unit.startswith("场")
                and people.unit.startswith("人")
                and isinstance(many, int)
                and isinstance(few, int)
                and many < few
            ):
                warnings.append(
                    Concern(
                        ProblemKind.SUSPICIOUS,
                        f"{definition.attachment} 第{item.number}项 第{_index(people.key)}空 "
                        f"参与 {many} {people.unit}少于第{_index(sessions.key)}空的 {few} "
                        f"{sessions.unit}，请核实",
                    )
                )
    return warnings


def _index(key: str) -> str:
    return key.split(".", 1)[1]


def _segments(
    definition: FormDefinition, stream: Stream, start: int, end: int, in_body: bool
) -> dict[int, _Span]:
    """Where to look for each item: from its label to the next item found.

    An item found by neither label nor first words is looked for between its neighbours (in a
    mail body: anywhere); only clauses that are mostly there will be trusted."""
    starts = {item.number: _item_starts(item, stream, start, end) for item in definition.items}
    found = sorted((span.start, number) for number, span in starts.items() if span is not None)
    segments = {}
    for number, span in starts.items():
        if span is None:
            before = [p for p, n in found if n < number]
            after = [p for p, n in found if n > number]
            first = start if in_body or not before else before[-1]
            segments[number] = _Span(first, after[0] if after else end)
        else:
            later = [p for p, _ in found if p > span.start]
            segments[number] = _Span(span.end, later[0] if later else end)
    return segments


def _places(
    definition: FormDefinition, stream: Stream, start: int, end: int, in_body: bool
) -> dict[str, BlankPlace]:
    """Where each blank is. Item by item between their labels; but figures typed as prose in a
    mail, without the labels, are matched against the whole form at once, so that one
    sentence ("应急演练2场，参与300人次") serves one clause only."""
    distinctive = distinctive_words(definition.items)
    if in_body and not any(_label_span(i, stream, start, end) for i in definition.items):
        return {
            place.key: place
            for place in place_blanks(definition.items, stream, start, end, MIN_FOUND,
                                      distinctive)
        }
    places = {}
    for number, segment in _segments(definition, stream, start, end, in_body).items():
        item = next(i for i in definition.items if i.number == number)
        for place in place_blanks((item,), stream, segment.start, segment.end, MIN_FOUND,
                                  distinctive):
            places[place.key] = place
    return places


def _read_items(
    definition: FormDefinition, stream: Stream, start: int, end: int, in_body: bool
) -> tuple[dict[str, int | str | None], list[Concern], int]:
    """Figures, warnings, and how many figures were read."""
    places = _places(definition, stream, start, end, in_body)
    figures: dict[str, int | str | None] = {}
    warnings: list[Concern] = []
    prefix = definition.attachment
    for item in definition.items:
        missing = [c for c in item.clauses if not any(places[b.key].found for b in c.blanks)]
        for clause in item.clauses:
            for blank in clause.blanks:
                place = places[blank.key]
                figures[blank.key], warning = (
                    _read_place(place, blank) if place.found else (None, None)
                )
                if clause not in missing and not place.found:
                    warning = "前后的表中文字找不到，未计入"
                if warning:
                    kind = ProblemKind.BLANK if warning == UNFILLED else ProblemKind.OTHER
                    warnings.append(Concern(kind, f"{prefix} 第{item.number}项 第{_index(blank.key)}空 {warning}"))
        if len(missing) == len(item.clauses):
            where = "邮件正文中未提及" if in_body else "表中找不到，未计入"
            warnings.append(Concern(ProblemKind.OTHER, f"{prefix} 第{item.number}项 {where}"))
            continue
        for clause in missing:
            numbers = "、".join(_index(b.key) for b in clause.blanks)
            warnings.append(
                Concern(
                    ProblemKind.OTHER,
                    f"{prefix} 第{item.number}项 找不到“{_clause_text(clause)}”这一句，第{numbers}空未计入",
                )
            )
    warnings.extend(_pair_warnings(definition, figures))
    return figures, warnings, sum(1 for value in figures.values() if value is not None)


# ---------------------------------------------------------------- 附件1: labelled fields


def _contact(record: Mapping[str, str], attachment: str) -> tuple[Contact, list[Concern]]:
    values = {key: value for key, value in record.items() if value}
    warnings = []
    if "email" in values:
        email = fold(values["email"]).removeprefix("mailto:")
        if _EMAIL.fullmatch(email):
            values["email"] = email
        else:
            odd = f"{attachment} 电子邮箱“{values['email']}”不像邮箱地址，请核实"
            warnings.append(Concern(ProblemKind.SUSPICIOUS, odd))
    return Contact(**values), warnings


def _contacts(
    definition: FormDefinition, records: Sequence[Mapping[str, str]]
) -> tuple[tuple[Contact, ...], tuple[Concern, ...]]:
    contacts: list[Contact] = []
    warnings: list[Concern] = []
    for record in records:
        contact, problems = _contact(record, definition.attachment)
        contacts.append(contact)
        warnings.extend(problems)
        empty = [f.name for f in definition.fields if not record.get(f.key)]
        if empty:
            who = record.get("name") or "联络员"
            empty_fields = f"{definition.attachment} {who} 未填写：{'、'.join(empty)}"
            warnings.append(Concern(ProblemKind.OTHER, empty_fields))  # the blank advice is 附件2's
    if not contacts:
        warnings.append(Concern(ProblemKind.OTHER, f"{definition.attachment} 没有填写联络员信息"))
    return tuple(contacts), tuple(warnings)


def _heading_row(lines: Sequence[Line], number: int, fields: Sequence[Field]) -> bool:
    """Is line `number` a row of field labels over rows of values (liaisons retyped as a list)?
    The printed form's own rows ("姓名 | 　| 办公电话 | 　") are label/value pairs instead."""
    if len(_label_cells(lines[number], fields)) < 3 or number + 1 >= len(lines):
        return False
    below = lines[number + 1]
    return below.table == lines[number].table and not _label_cells(below, fields)


def _read_fields(
    definition: FormDefinition, stream: Stream, lines: Sequence[Line], start: int, end: int
) -> tuple[tuple[Contact, ...], tuple[Concern, ...]]:
    """Liaisons: label cells each followed by its value, or labels as column headings."""
    numbers = stream.lines_between(start, end)
    for number in numbers:
        if _heading_row(lines, number, definition.fields):
            columns = _label_cells(lines[number], definition.fields)
            rows = []
            for line in lines[number + 1 : numbers.stop]:
                if line.table != lines[number].table:
                    break
                rows.append({key: _cell(line, column) for column, key in columns.items()})
            return _contacts(definition, [r for r in rows if any(r.values())])
    records: list[dict[str, str]] = [{}]
    for key, value in _label_values(stream, _pairs(definition.fields), start, end):
        if key in records[-1] and value:
            records.append({})  # the same label again: a second liaison
        if value:
            records[-1][key] = value
    return _contacts(definition, [r for r in records if r])


def _cell(line: Line, column: int) -> str:
    return " ".join(line.cells[column].split()) if column < len(line.cells) else ""


# ---------------------------------------------------------------- 附件3: rows under headings


def _read_columns(
    definition: FormDefinition, lines: Sequence[Line], numbers: range
) -> tuple[tuple[MediaRow, ...], tuple[Concern, ...]]:
    heading = next(
        (n for n in numbers if len(set(_label_cells(lines[n], definition.fields).values())) >= 3),
        None,
    )
    if heading is None:
        names = "、".join(f.name for f in definition.fields)
        return (), (Concern(ProblemKind.OTHER, f"{definition.attachment} 找不到表头（{names}），未读取"),)
    columns = _label_cells(lines[heading], definition.fields)
    numbering = definition.fields[0].key
    printed = {fold(text) for text in definition.preprinted}
    rows = []
    for line in lines[heading + 1 : numbers.stop]:
        if line.table != lines[heading].table:
            break
        values = {key: _cell(line, column) for column, key in columns.items()}
        written = [value for key, value in values.items() if key != numbering and value]
        # Skip empty rows, notes across the table's foot (in the 序号 column only), and the
        # printed rows the unit left as they were.
        if not written or (len(written) == 1 and fold(written[0]) in printed):
            continue
        rows.append(MediaRow(**{key: value or None for key, value in values.items()}))
    return tuple(rows), ()


# ---------------------------------------------------------------- entry


def read_sections(
    sections: Sequence[Section],
    definitions: Sequence[FormDefinition],
    where: str,
    in_body: bool = False,
) -> tuple[FormReading, ...]:
    """Every form of `definitions` found in `sections`.

    In a mail body (`in_body`) figures may be typed as prose ("宣讲活动3场，参与120人次"): the
    statistics form is then read even without its table, if at least one figure is found.
    """
    readings = []
    for section in sections:
        stream = Stream.of(section.lines)
        name = where if len(sections) == 1 else f"{where} 工作表“{section.name}”"
        placements = _place(definitions, stream, section.lines)
        # A form runs to where the next begins; its header may sit after the previous table.
        ends = [p.start for p in placements[1:]] + [len(stream.folded)]
        bodies = [0] + [p.body for p in placements[:-1]]
        regions = list(zip(placements, bodies, ends, strict=False))
        if in_body:
            # Figures in prose may be anywhere in the mail.
            placed = {p.definition.id for p in placements}
            regions += [
                (_Placement(d, 0, 0), 0, len(stream.folded))
                for d in definitions
                if d.layout == "items" and d.id not in placed
            ]
        for placement, before, end in regions:
            reading = _read_placement(placement, stream, section.lines, before, end, in_body)
            if reading is not None:
                readings.append(replace(reading, where=name))
    return tuple(readings)


def _read_placement(
    placement: _Placement,
    stream: Stream,
    lines: Sequence[Line],
    previous: int,
    end: int,
    in_body: bool,
) -> FormReading | None:
    """Read one form; in a mail body, a form with nothing filled in is only a mention of it (or
    the bureau's own quoted form) and gives no reading."""
    definition = placement.definition
    header_end = placement.body if placement.body > previous else len(stream.folded)
    header = _header(definition.header, stream, previous, header_end)
    reading = FormReading(definition.id, "", header=header)
    if definition.layout == "items":
        figures, warnings, filled = _read_items(definition, stream, placement.start, end, in_body)
        reading = replace(reading, figures=figures, warnings=tuple(warnings))
        empty = filled == 0
    elif definition.layout == "fields":
        contacts, notes = _read_fields(definition, stream, lines, placement.start, end)
        reading = replace(reading, contacts=contacts, warnings=notes)
        empty = not contacts
    else:
        numbers = stream.lines_between(placement.start, end)
        rows, notes = _read_columns(definition, lines, numbers)
        reading = replace(reading, rows=rows, warnings=notes)
        empty = not rows
    return None if in_body and empty else reading
