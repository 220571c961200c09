"""Accuracy of the whole reading path on a generated corpus of county report mails.

Each mail is built the way counties send them (five mail-client styles, 附件2 as .docx in
several layouts or .xlsx, sometimes zipped with GBK names, sometimes the figures typed into the
body, messy filling habits) with known figures, then read by the same pure functions the poll
uses: parse_message → read_contents → read_submission. Prints:
  figures exact / compared, figures invented (a value where the truth differs), and units
  attributed right for registered senders.

Run: .venv/bin/python -m bench.mail_corpus [--mails 150] [--seed 7]
"""

from __future__ import annotations

import argparse
import io
import random
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from ingest.convert import libreoffice
from parsers import parse_message
from parsers.contents import read_contents
from parsers.forms import builtin_definitions
from parsers.submission import read_submission
from store.config import load_settings
from tests import formfactory as forms
from tests.mailfactory import STYLES, county_mail
from tests.samplebuilder import UNITS, address

ROOT = Path(__file__).resolve().parents[1]
BEIJING = ZoneInfo("Asia/Shanghai")


def gbk_zip(name: str, data: bytes) -> bytes:
    """A zip as Chinese Windows makes it: GBK member names, no UTF-8 flag."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name.encode("gbk").decode("cp437"))
        archive.writestr(info, data)
    return buffer.getvalue()


def one_mail(rng: random.Random, n: int) -> tuple[bytes, str, dict[str, int | str | None]]:
    unit, short, local = UNITS[n % len(UNITS)]
    statistics = forms.fill_statistics(rng, forms.random_habit(rng), short)
    statistics.header["填报单位"] = unit
    when = datetime(2023, 6, 5, 9, 0, tzinfo=BEIJING) + timedelta(minutes=n)
    shape = rng.choice(["docx", "docx", "docx", "xlsx", "xlsx", "zip", "body"])
    body, files = "附件是本周统计表，请查收。", []
    if shape == "body":
        body, _ = forms.statistics_body(statistics, html=False)
    else:
        if shape == "xlsx":
            name, data = f"{short}第1周统计表.xlsx", forms.statistics_xlsx(
                statistics, rng.choice(forms.STATISTICS_SHEET_LAYOUTS))
        else:
            name, data = f"附件2：活动进展情况统计表（{short}）.docx", forms.statistics_docx(
                statistics, rng.choice(forms.STATISTICS_WORD_LAYOUTS), rng)
        if shape == "zip":
            name, data = f"{short}第1周材料.zip", gbk_zip(name, data)
        files = [(name, data, "application/octet-stream")]
    raw = county_mail(sender=address(local), sender_name=f"{short}工科局", subject=f"{short}第1周进展",
                      body=body, date=when, files=files, style=rng.choice(STYLES))
    return raw, unit, statistics.figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    campaign = load_settings(ROOT / "ingest" / "sample" / "config.yaml").campaign_model()
    registered = {address(local): unit for unit, _, local in UNITS}
    definitions, convert = builtin_definitions(), libreoffice()
    compared = exact = invented = attributed = 0
    for n in range(args.mails):
        raw, unit, truth = one_mail(rng, n)
        message = parse_message(raw)
        received = message.envelope.received_at or datetime.now(BEIJING)
        contents = read_contents(message, definitions, convert, BEIJING)
        submission = read_submission(message, contents, received, campaign, registered, {}, {}, {})
        attributed += submission.unit.unit == unit and submission.unit.verified
        for key, value in truth.items():
            got = submission.figures.get(key)
            compared += 1
            exact += got == value
            invented += got is not None and got != value
    print(f"mails: {args.mails}; units attributed right (registered senders): {attributed}/{args.mails}")
    print(f"figures exact: {exact}/{compared} = {exact / compared:.4%}; invented: {invented}")


if __name__ == "__main__":
    main()
