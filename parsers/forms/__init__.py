"""Forms as data: what a form of the notice looks like, loaded from a YAML definition.

A definition says how to recognise the form in a file (its title words), which header fields it
has, and one of three layouts:
- `fields`: label cells each followed by a value (附件1 联络员表), read into `Contact`s;
- `items`: numbered items whose progress text holds blanks "（ ）" (附件2 统计表), read into figures
  keyed "<item>.<blank>";
- `columns`: a table of rows under column headings (附件3 报送表), read into `MediaRow`s.

Next year's forms, or another campaign's, are new YAML files beside the 2023 ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, Literal

import yaml

from store.model import BaosongError

Layout = Literal["fields", "items", "columns"]

_BLANK = re.compile(r"[（(]\s*[）)]")
# The words printed right after a blank, up to the next punctuation or blank: "场", "人次".
_UNIT_AFTER = re.compile(r"[^，,；;。、（(“”\s]*")


class DefinitionError(BaosongError):
    """A form definition file is malformed; the message names the file's key at fault."""


@dataclass(frozen=True)
class Contact:
    """One liaison as written on 附件1. Any field the unit left empty is None."""

    unit: str | None = None
    name: str | None = None
    office_phone: str | None = None
    mobile: str | None = None
    fax: str | None = None
    wechat: str | None = None
    email: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class MediaRow:
    """One row of 附件3 as written; `number` is the 序号 cell."""

    number: str | None = None
    content: str | None = None
    time: str | None = None
    media: str | None = None
    link: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Field:
    """A labelled field (附件1) or a column (附件3). `key` is the attribute of Contact/MediaRow,
    `name` the label printed on the form, `labels` every wording units use for it."""

    key: str
    name: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class HeaderField:
    """A field of the line above the table: "填报单位（盖章）：…  联系人：…"."""

    key: str
    labels: tuple[str, ...]


@dataclass(frozen=True)
class BlankSpec:
    """One blank "（ ）" of an item. `unit` is the printed word after it ("场", "人次")."""

    key: str
    text: bool
    unit: str


@dataclass(frozen=True)
class Clause:
    """One printed line of an item's progress text: literal pieces around its blanks.

    `pieces` has one more element than `blanks`: pieces[0] blank[0] pieces[1] … pieces[-1].
    """

    pieces: tuple[str, ...]
    blanks: tuple[BlankSpec, ...]


@dataclass(frozen=True)
class Item:
    number: int
    label: str
    clauses: tuple[Clause, ...]

    @property
    def blanks(self) -> tuple[BlankSpec, ...]:
        return tuple(blank for clause in self.clauses for blank in clause.blanks)


@dataclass(frozen=True)
class FormDefinition:
    id: str
    attachment: str
    title: str
    markers: tuple[str, ...]
    layout: Layout
    header: tuple[HeaderField, ...] = ()
    items: tuple[Item, ...] = ()
    fields: tuple[Field, ...] = ()
    preprinted: tuple[str, ...] = ()

    @property
    def figure_keys(self) -> tuple[str, ...]:
        return tuple(blank.key for item in self.items for blank in item.blanks)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DefinitionError(f"表格定义中 {where} 应为文字列表")
    return tuple(value)


def _text(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DefinitionError(f"表格定义中 {where}.{key} 缺少或不是文字")
    return value.strip()


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise DefinitionError(f"表格定义中 {where} 应为键值表")
    return value


def _check_keys(mapping: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise DefinitionError(f"表格定义中 {where} 有未知的键：{', '.join(unknown)}")


def _clause(line: str, number: int, first_index: int, text_blanks: set[int]) -> Clause:
    pieces = tuple(_BLANK.split(line))
    blanks = []
    for offset, after in enumerate(pieces[1:]):
        index = first_index + offset
        unit = _UNIT_AFTER.match(after.strip())
        blanks.append(
            BlankSpec(f"{number}.{index}", index in text_blanks, unit.group() if unit else "")
        )
    return Clause(pieces, tuple(blanks))


def _item(raw: Any, where: str) -> Item:
    mapping = _mapping(raw, where)
    _check_keys(mapping, {"number", "label", "text", "text_blanks"}, where)
    number = mapping.get("number")
    if not isinstance(number, int):
        raise DefinitionError(f"表格定义中 {where}.number 应为整数")
    text_blanks = mapping.get("text_blanks", [])
    if not isinstance(text_blanks, list) or not all(isinstance(i, int) for i in text_blanks):
        raise DefinitionError(f"表格定义中 {where}.text_blanks 应为整数列表")
    clauses: list[Clause] = []
    index = 1
    for line in _text(mapping, "text", where).splitlines():
        if line.strip():
            clause = _clause(line.strip(), number, index, set(text_blanks))
            clauses.append(clause)
            index += len(clause.blanks)
    if index == 1:
        raise DefinitionError(f"表格定义中 {where}.text 没有空格“（ ）”")
    return Item(number, _text(mapping, "label", where), tuple(clauses))


def _fields(raw: Any, where: str, allowed: set[str]) -> tuple[Field, ...]:
    if not isinstance(raw, list) or not raw:
        raise DefinitionError(f"表格定义中 {where} 应为非空列表")
    result = []
    for number, entry in enumerate(raw, 1):
        place = f"{where}[{number}]"
        mapping = _mapping(entry, place)
        _check_keys(mapping, {"key", "name", "labels"}, place)
        key = _text(mapping, "key", place)
        if key not in allowed:
            raise DefinitionError(f"表格定义中 {place}.key 应为 {', '.join(sorted(allowed))} 之一")
        name = _text(mapping, "name", place)
        labels = _strings(mapping.get("labels", [name]), f"{place}.labels")
        result.append(Field(key, name, labels if name in labels else (name, *labels)))
    return tuple(result)


def load_definition(text: str) -> FormDefinition:
    """Parse one YAML form definition; raise DefinitionError naming the key at fault."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DefinitionError(f"表格定义不是有效的 YAML：{error}") from error
    mapping = _mapping(raw, "顶层")
    layouts: dict[str, Layout] = {"fields": "fields", "items": "items", "columns": "columns"}
    _check_keys(mapping, {"id", "attachment", "title", "markers", "header", "preprinted"}
                | set(layouts), "顶层")
    present = [layout for key, layout in layouts.items() if key in mapping]
    if len(present) != 1:
        raise DefinitionError("表格定义须恰好有 fields、items、columns 之一")
    layout = present[0]
    header = []
    for number, entry in enumerate(mapping.get("header", []), 1):
        place = f"header[{number}]"
        field_map = _mapping(entry, place)
        _check_keys(field_map, {"key", "labels"}, place)
        header.append(HeaderField(_text(field_map, "key", place),
                                  _strings(field_map.get("labels"), f"{place}.labels")))
    items: tuple[Item, ...] = ()
    form_fields: tuple[Field, ...] = ()
    if layout == "items":
        raw_items = mapping["items"]
        if not isinstance(raw_items, list) or not raw_items:
            raise DefinitionError("表格定义中 items 应为非空列表")
        items = tuple(_item(entry, f"items[{n}]") for n, entry in enumerate(raw_items, 1))
    else:
        target = Contact if layout == "fields" else MediaRow
        form_fields = _fields(mapping[layout], layout, {f.name for f in fields(target)})
    return FormDefinition(
        id=_text(mapping, "id", "顶层"),
        attachment=_text(mapping, "attachment", "顶层"),
        title=_text(mapping, "title", "顶层"),
        markers=_strings(mapping.get("markers"), "markers"),
        layout=layout,
        header=tuple(header),
        items=items,
        fields=form_fields,
        preprinted=_strings(mapping.get("preprinted", []), "preprinted")
        if mapping.get("preprinted")
        else (),
    )


def builtin_definitions(campaign: str = "2023-anquanshengchanyue") -> tuple[FormDefinition, ...]:
    """The definitions shipped for `campaign` (a folder of this package), in file-name order."""
    folder = resources.files(__package__).joinpath(campaign)
    if not folder.is_dir():
        raise DefinitionError(f"没有活动“{campaign}”的表格定义")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)
    return tuple(load_definition(f.read_text(encoding="utf-8")) for f in files)


def definition_for(definitions: Sequence[FormDefinition], form_id: str) -> FormDefinition:
    """The definition with `form_id`; raise DefinitionError if none has it."""
    for definition in definitions:
        if definition.id == form_id:
            return definition
    raise DefinitionError(f"没有 id 为“{form_id}”的表格定义")
