"""The form readers on the cases of tests/cases/forms: each folder holds what a unit sent (a
file, or a mail body as body.txt and body.html) and expected.json, the truth it was made from
by tests/formfactory.py. Regenerate with `python -m tests.formfactory tests/cases/forms`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from parsers.forms import DefinitionError, builtin_definitions, load_definition
from parsers.reading import FormReading, read_body, read_document
from tests import formfactory as ff

CASES = Path(__file__).parent / "cases" / "forms"
DEFINITIONS = builtin_definitions()
needs_libreoffice = pytest.mark.skipif(ff.SOFFICE is None, reason="LibreOffice is not installed")


def _read(case: Path, expected: dict[str, Any]) -> tuple[FormReading, ...]:
    if (case / "body.txt").exists():
        html = case / "body.html"
        return read_body(
            (case / "body.txt").read_text(encoding="utf-8"),
            html.read_text(encoding="utf-8") if html.exists() else None,
            DEFINITIONS,
        )
    convert = ff.libreoffice_convert if expected.get("convert") else None
    return read_document(expected["file"], (case / expected["file"]).read_bytes(), DEFINITIONS,
                         convert)


def _check(reading: FormReading, expected: dict[str, Any]) -> None:
    assert reading.form == expected["form"]
    if "where" in expected:
        assert reading.where == expected["where"]
    if "header" in expected:
        assert dict(reading.header) == expected["header"]
    if "figures" in expected:
        assert dict(reading.figures) == expected["figures"]
    if "contacts" in expected:
        assert [asdict(c) for c in reading.contacts] == expected["contacts"]
    if "rows" in expected:
        assert [asdict(r) for r in reading.rows] == expected["rows"]
    for phrases in expected.get("warnings_include", []):
        assert any(all(p in w for p in phrases) for w in reading.warnings), (
            phrases, reading.warnings)


@pytest.mark.parametrize("case", list(ff.case_folders(CASES)), ids=lambda path: path.name)
def test_case(case: Path) -> None:
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    if expected.get("convert") and ff.SOFFICE is None:
        pytest.skip("LibreOffice is not installed")
    readings = _read(case, expected)
    assert [r.form for r in readings] == [e["form"] for e in expected["readings"]]
    for reading, wanted in zip(readings, expected["readings"], strict=True):
        _check(reading, wanted)


@needs_libreoffice
def test_old_word_file_is_read_through_libreoffice() -> None:
    case = CASES / "doc-from-word"
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    data = (case / expected["file"]).read_bytes()
    (reading,) = read_document(expected["file"], data, DEFINITIONS, ff.libreoffice_convert)
    assert dict(reading.figures) == expected["readings"][0]["figures"]


def test_old_word_file_without_libreoffice_asks_for_docx() -> None:
    case = CASES / "doc-from-word"
    name = json.loads((case / "expected.json").read_text(encoding="utf-8"))["file"]
    (reading,) = read_document(name, (case / name).read_bytes(), DEFINITIONS, None)
    assert reading.form is None
    assert reading.warnings == (
        f"“{name}”是旧版 Word 格式，本机未安装 LibreOffice 无法读取，请单位改用 .docx 或 .xlsx 重新发送",
    )


def test_failing_converter_is_a_warning_not_an_exception() -> None:
    case = CASES / "doc-from-word"
    name = json.loads((case / "expected.json").read_text(encoding="utf-8"))["file"]

    def broken(data: bytes, target: str) -> bytes:
        raise RuntimeError("soffice crashed")

    (reading,) = read_document(name, (case / name).read_bytes(), DEFINITIONS, broken)
    assert reading.form is None
    assert "转换失败" in reading.warnings[0]


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("空.docx", b"", "空文件"),
        ("乱码.xlsx", b"PK\x03\x04 not really a zip", "损坏"),
        ("乱码.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "损坏"),
        ("照片.docx", b"\xff\xd8\xff\xe0 a jpeg", "损坏"),
    ],
)
def test_damaged_files_give_a_warning(name: str, data: bytes, words: str) -> None:
    (reading,) = read_document(name, data, DEFINITIONS, None)
    assert reading.form is None
    assert words in reading.warnings[0] and f"“{name}”" in reading.warnings[0]


def test_scans_and_photos_hold_no_form() -> None:
    assert read_document("盖章扫描件.pdf", b"%PDF-1.4 ...", DEFINITIONS, None) == ()
    assert read_document("现场.jpg", b"\xff\xd8\xff\xe0 ...", DEFINITIONS, None) == ()


def test_mail_body_figures_and_what_is_not_mentioned() -> None:
    body = "郝科长：本周我局组织开展宣讲活动3场，参与120人次；心得体会5篇。企业应急演练2场，参与300人次。"
    (reading,) = read_body(body, None, DEFINITIONS)
    figures = {k: v for k, v in reading.figures.items() if v is not None}
    assert figures == {"1.1": 3, "1.2": 120, "1.3": 5, "5.1": 2, "5.2": 300}
    assert "附件2 第2项 邮件正文中未提及" in reading.warnings


def test_quoted_history_of_a_reply_is_not_read() -> None:
    body = (
        "已收到，谢谢。\n\n------------------ 原始邮件 ------------------\n"
        "发件人: 盐湖区工科局\n组织开展宣讲活动3场，参与120人次；心得体会5篇。"
    )
    assert read_body(body, None, DEFINITIONS) == ()


def test_a_mail_mentioning_the_form_is_not_a_reading() -> None:
    body = "附件是我局第二周“安全生产月”活动进展情况统计表，请查收。"
    assert read_body(body, None, DEFINITIONS) == ()


def test_sessions_more_than_participants_is_questioned() -> None:
    body = "组织开展宣讲活动5场，参与4人次。"
    (reading,) = read_body(body, None, DEFINITIONS)
    assert "附件2 第1项 第2空 参与 4 人次少于第1空的 5 场，请核实" in reading.warnings


def test_liaison_typed_in_a_mail_body() -> None:
    body = (
        "联络员表\n单位名称：垣曲县工业和科技局\n姓名：王芳  手机：13912345678\n"
        "电子邮箱：YQGK@126.COM  办公电话：0359-6021234\n"
    )
    (reading,) = read_body(body, None, DEFINITIONS)
    (contact,) = reading.contacts
    assert (contact.unit, contact.name, contact.mobile, contact.email) == (
        "垣曲县工业和科技局", "王芳", "13912345678", "yqgk@126.com")
    assert any("未填写：传真、微信号、通讯地址" in w for w in reading.warnings)


def test_builtin_definitions_name_every_figure_of_domain() -> None:
    statistics = next(d for d in DEFINITIONS if d.id == "statistics")
    expected = [f"{item}.{blank}" for item, count in
                ((1, 5), (2, 3), (3, 12), (4, 3), (5, 6), (6, 4), (7, 3)) for blank in
                range(1, count + 1)]
    assert list(statistics.figure_keys) == expected
    assert [b.key for i in statistics.items for b in i.blanks if b.text] == ["7.1"]
    assert [d.id for d in DEFINITIONS] == ["liaison", "statistics", "media"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("id: x\n", "fields、items、columns"),
        ("id: x\nattachment: a\ntitle: t\nmarkers: [t]\nitems: []\n", "items"),
        ("id: x\nattachment: a\ntitle: t\nmarkers: [t]\nfields:\n - {key: phone, name: 电话}\n",
         "fields[1].key"),
        ("id: x\nattachment: a\ntitle: t\nmarkers: [t]\nitems:\n - {number: 1, label: l, "
         "text: 没有空}\n", "没有空格"),
        ("id: x\ncolour: red\n", "colour"),
        ("[unclosed", "YAML"),
    ],
)
def test_malformed_definitions_name_the_fault(text: str, words: str) -> None:
    with pytest.raises(DefinitionError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_definition(text)


def test_a_new_form_is_a_new_definition() -> None:
    definition = load_definition(
        "id: drills\nattachment: 附表\ntitle: 应急演练统计表\nmarkers: [应急演练统计表]\n"
        "items:\n  - number: 1\n    label: 演练情况\n    text: 开展演练（ ）次，参加（ ）人。\n"
    )
    body = "演练情况：开展演练4次，参加200人。"
    (reading,) = read_body(body, None, [definition])
    assert dict(reading.figures) == {"1.1": 4, "1.2": 200}
