"""How right are the figures? Reads a generated corpus of filled forms whose truth is known.

Each 附件2 is filled by a random clerk's habit (tests/formfactory.py) and sent in a random way:
Word or Excel as built, re-saved by LibreOffice as .docx/.xlsx, converted to .doc/.xls, or typed
into a mail body (prose or a pasted table). Liaison (附件1) and media (附件3) forms come along.

    .venv/bin/python -m bench.forms_corpus [--count 120] [--seed 1] [--verbose]

A figure is exact when it equals the truth (None for a blank); invented when it is not None and
differs from the truth — the error the clerk cannot see. Needs LibreOffice for the converted
formats.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from parsers.forms import builtin_definitions
from parsers.reading import FormReading, read_body, read_document
from tests import formfactory as ff

# (how it is sent, layout); weights favour what units send most: Word, then Excel.
_WAYS: tuple[tuple[str, str], ...] = (
    *(("docx", layout) for layout in ff.STATISTICS_WORD_LAYOUTS),
    *(("docx>docx", layout) for layout in ("printed", "merged", "nested")),
    *(("docx>doc", layout) for layout in ("printed", "merged", "tracked")),
    *(("xlsx", layout) for layout in ff.STATISTICS_SHEET_LAYOUTS),
    *(("xlsx>xlsx", layout) for layout in ("columns", "cells")),
    *(("xlsx>xls", layout) for layout in ff.STATISTICS_SHEET_LAYOUTS),
    ("body", "text"),
    ("body", "html"),
    ("body", "prose"),
)


@dataclass
class Sent:
    name: str
    way: str
    layout: str
    truth: ff.Statistics
    path: Path | None = None  # the file as the bureau receives it
    body: tuple[str, str | None] | None = None


@dataclass
class Tally:
    exact: int = 0
    invented: int = 0
    missed: int = 0
    total: int = 0

    def count(self, outcome: str) -> None:
        self.total += 1
        setattr(self, outcome, getattr(self, outcome) + 1)


def _make(count: int, seed: int, folder: Path) -> list[Sent]:
    rng = random.Random(seed)
    sent = []
    for number in range(count):
        way, layout = _WAYS[number % len(_WAYS)] if number < len(_WAYS) else rng.choice(_WAYS)
        unit = rng.choice(ff.UNITS)
        truth = ff.fill_statistics(rng, ff.random_habit(rng), unit)
        name = f"{number:03d}-{unit}"
        item = Sent(name, way, layout, truth)
        if way == "body" and layout == "prose":
            text, item.truth = ff.statistics_prose(truth, rng)
            item.body = (text, None)
        elif way == "body":
            item.body = ff.statistics_body(truth, html=layout == "html")
        else:
            built, _, target = way.partition(">")
            form = ff.with_footer(truth, rng) if rng.random() < 0.3 else truth
            data = (ff.statistics_docx(form, layout, rng) if built == "docx"
                    else ff.statistics_xlsx(form, layout))
            source = folder / ("src-" + (target or "none")) / f"{name}.{built}"
            source.parent.mkdir(exist_ok=True)
            source.write_bytes(data)
            item.path = source
        sent.append(item)
    by_target: defaultdict[str, list[Sent]] = defaultdict(list)
    for item in sent:
        if item.path is not None and ">" in item.way:
            by_target[item.way.split(">")[1]].append(item)
    for target, items in by_target.items():
        outputs = ff.convert_files([i.path for i in items if i.path], target, folder / target)
        for item, output in zip(items, outputs, strict=True):
            item.path = output
    return sent


def _compare(
    item: Sent, readings: tuple[FormReading, ...], tallies: Sequence[Tally], verbose: bool
) -> None:
    statistics = [r for r in readings if r.form == "statistics"]
    got = statistics[0].figures if statistics else {}
    for key, truth in item.truth.figures.items():
        value = got.get(key)
        outcome = "exact" if value == truth else "missed" if value is None else "invented"
        for tally in tallies:
            tally.count(outcome)
        if verbose and outcome != "exact":
            written = item.truth.written[key]
            kind = "MISSED" if value is None else "INVENTED"
            print(f"  {kind} {item.name} {item.way}/{item.layout} {key}: truth={truth!r} "
                  f"read={value!r} written={written!r}")
    if verbose and len(statistics) != 1:
        notes = [w for r in readings for w in r.warnings]
        print(f"  {item.name} {item.way}/{item.layout}: {len(statistics)} statistics readings {notes}")


def _liaison_and_media(rng: random.Random, count: int) -> tuple[int, int]:
    """Fields of liaison forms and rows of media forms read exactly, out of `count` each."""
    definitions = builtin_definitions()
    right = 0
    for _ in range(count):
        unit = rng.choice(ff.UNITS)
        if rng.random() < 0.5:
            contacts = [ff.random_contact(rng, unit)]
            data, name = ff.liaison_docx(contacts[0]), "联络员表.docx"
        else:
            contacts = [ff.random_contact(rng, unit) for _ in range(rng.randint(1, 3))]
            data, name = ff.liaison_xlsx(contacts), "联络员.xlsx"
        readings = read_document(name, data, definitions, None)
        got = [asdict(c) for r in readings if r.form == "liaison" for c in r.contacts]
        right += got == contacts
        header = ff.fill_statistics(rng, ff.Habit(), unit).header
        rows = ff.random_media_rows(rng)
        data, name = ((ff.media_docx(header, rows), "附件3.docx") if rng.random() < 0.5
                      else (ff.media_xlsx(header, rows), "附件3.xlsx"))
        readings = read_document(name, data, definitions, None)
        got = [asdict(row) for r in readings if r.form == "media" for row in r.rows]
        right += got == ff.filled_media_rows(rows) and readings[0].header == header
    return right, 2 * count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true")
    options = parser.parse_args()
    definitions = builtin_definitions()
    with tempfile.TemporaryDirectory() as work:
        started = time.monotonic()
        sent = _make(options.count, options.seed, Path(work))
        made = time.monotonic() - started
        overall = Tally()
        by_way: defaultdict[str, Tally] = defaultdict(Tally)
        headers = Counter[str]()
        started = time.monotonic()
        for item in sent:
            if item.body is not None:
                readings = read_body(item.body[0], item.body[1], definitions)
            else:
                assert item.path is not None
                readings = read_document(item.path.name, item.path.read_bytes(), definitions,
                                         ff.libreoffice_convert)
            _compare(item, readings, (overall, by_way[item.way]), options.verbose)
            statistics = [r for r in readings if r.form == "statistics"]
            header = statistics[0].header if statistics else {}
            for key, value in item.truth.header.items():
                headers["right" if header.get(key) == value else "wrong"] += 1
        read = time.monotonic() - started
        others_right, others = _liaison_and_media(random.Random(options.seed), 20)
    print(f"{len(sent)} filled 附件2 forms (made and converted in {made:.0f} s, read in {read:.0f} s)")
    for name, tally in sorted(by_way.items()):
        print(f"  {name:10} {tally.exact:5}/{tally.total:<5} exact, {tally.invented} invented,"
              f" {tally.missed} missed")
    share = overall.exact / overall.total
    print(f"figures exact: {overall.exact}/{overall.total} = {share:.2%}")
    print(f"figures invented (not null, not the truth): {overall.invented}")
    print(f"figures missed (null where the truth has a value): {overall.missed}")
    print(f"header fields exact: {headers['right']}/{headers['right'] + headers['wrong']}")
    print(f"liaison and media forms read exactly: {others_right}/{others}")
    return 0 if share >= 0.995 and overall.invented == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
