"""Measure `baosong poll` against a bare imapclient fetch of the same mail, side by side.

Prints ratios, never absolute targets, because the machines are shared and noisy:
1. time: our first poll of N report mails against a bare BODY.PEEK[] fetch of the same N mails,
   twice: the fetch inside this process (no Python start-up, no imports), and the fetch as its
   own `python -c` process (start-up and imapclient's import counted, as they are for a poll).
   Once for mails without office attachments (a JPEG photo and text: the target's case), once
   for mails carrying a real 附件2 .docx (the form is read, which a bare fetch never does); and
   both on an empty mailbox, which shows each side's fixed cost (start-up, imports, login).
   Each is timed on loopback and through links shaped like the Internet (bench/link.py);
2. bytes: what Dovecot sent for a first poll of a mailbox of M messages of which 2% are
   campaign mail, against the campaign mail's own size (target ≤ 1.1 × + 1 KB per message);
3. memory: peak RSS of a poll that meets a 50 MB message (target ≤ 3 × + 150 MB).

Each time is the best of `--repeat` runs (a fresh data folder for every poll: each is a first
poll), so one hiccup of a shared machine does not decide the ratio.

Run: .venv/bin/python bench/poll_vs_fetch.py [--reports 200] [--mailbox 10000] [--repeat 3]
     [--link 100/30 --link 20/40] [--only memory|start|time|bytes]
Needs root and Dovecot (scripts/test installs it).
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from imapclient import IMAPClient
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.link import Link  # noqa: E402
from tests.baosong_cli import (  # noqa: E402
    REGISTERED,
    baosong_command,
    environment,
    write_config,
)
from tests.formfactory import fill_statistics, random_habit, statistics_docx  # noqa: E402
from tests.servers import Account, Dovecot, make_certificate  # noqa: E402
from tests.test_poll_imap import report_mail  # noqa: E402

BEIJING = ZoneInfo("Asia/Shanghai")
START = datetime(2023, 6, 1, 9, 0, tzinfo=BEIJING)
NOW = "2023-06-07T13:00"
UNIT_OF = {address: unit for unit, address in REGISTERED.items()}


def everyday_mail(n: int) -> bytes:
    """Ordinary mail of the bureau's mailbox: a notice with a little text, no report."""
    return (
        f"From: colleague{n}@office.test\r\nTo: ycjjyxk@126.com\r\n"
        f"Subject: =?utf-8?b?5Lya6K6u6YCa55+l?= {n}\r\nMessage-ID: <everyday{n}@office.test>\r\n"
        f"Date: Thu, 01 Jun 2023 09:00:00 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"\r\n{'今天下午三点开会。' * 40}\r\n"
    ).encode()


def fill(account: Account, mails: list[bytes]) -> None:
    with account.client() as client:
        for n, raw in enumerate(mails):
            client.append("INBOX", raw, (), START + timedelta(seconds=n))


def reports(count: int, size: int) -> list[bytes]:
    """Campaign mail with a made-up 'docx' (one repeated byte): cheap to build, for `bytes`."""
    senders = list(REGISTERED.values())
    return [
        report_mail(
            senders[n % len(senders)],
            f"第1周进展 {n}",
            {f"统计表{n}.docx": bytes([n % 256]) * size},
            START,
            f"<r{n}@county.test>",
        )
        for n in range(count)
    ]


def photo(n: int) -> bytes:
    """A 640×480 JPEG that looks like a photo to a perceptual hash: shapes on a gradient, noise."""
    rng = random.Random(n)
    image = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(600), rng.randrange(440)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.rectangle((x, y, x + rng.randrange(20, 200), y + rng.randrange(20, 160)), fill=colour)
    noise = Image.effect_noise((640, 480), 24).convert("RGB")
    image = Image.blend(image, noise, 0.15)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def photo_reports(count: int) -> list[bytes]:
    """Report mails without office attachments: a line of text and an activity photo."""
    senders = list(REGISTERED.values())
    return [
        report_mail(
            senders[n % len(senders)],
            f"第1周安全生产月活动照片 {n}",
            {f"活动现场{n}.jpg": photo(n)},
            START,
            f"<p{n}@county.test>",
        )
        for n in range(count)
    ]


def docx_reports(count: int) -> list[bytes]:
    """Report mails carrying a real 附件2 in Word, filled in as a county would."""
    senders = list(REGISTERED.values())
    forms = {}
    for address in senders:
        rng = random.Random(address)
        unit = UNIT_OF[address].removesuffix("工科局")
        forms[address] = statistics_docx(fill_statistics(rng, random_habit(rng), unit), "printed", rng)
    return [
        report_mail(
            senders[n % len(senders)],
            f"第1周进展 {n}",
            {f"附件2：统计表{n}.docx": forms[senders[n % len(senders)]]},
            START,
            f"<d{n}@county.test>",
        )
        for n in range(count)
    ]


# The poll runs under this small Python process, which reports the poll's time and peak RSS.
# Measured from the benchmark itself, a child's peak RSS would include the benchmark's own: the
# child begins as a (v)fork of this process, holding the mail it built, and Linux counts the
# peak of that image too.
MEASURED = """
import resource, subprocess, sys, time
began = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(time.perf_counter() - began, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def poll(config: Path, account: Account) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of one `baosong poll` process, on a fresh data folder."""
    shutil.rmtree(config.parent / "data", ignore_errors=True)
    shutil.rmtree(config.parent / "outbox", ignore_errors=True)
    measured = subprocess.run(
        [sys.executable, "-c", MEASURED, *baosong_command(), "--config", str(config), "poll", "--now", NOW],
        env=environment(account),
        check=True,
        capture_output=True,
        text=True,
    )
    elapsed, peak = measured.stdout.split()
    return float(elapsed), int(peak)


def bare_fetch(account: Account, port: int) -> float:
    """What any client must do at least: log in, select, fetch every body once."""
    server = account.server
    began = time.perf_counter()
    with IMAPClient(server.host, port=port, ssl=True, ssl_context=server.ssl_context()) as client:
        client.login(account.username, account.password)
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        for start in range(0, len(uids), 50):
            client.fetch(uids[start : start + 50], ["BODY.PEEK[]"])
    return time.perf_counter() - began


# The same fetch as a process of its own, as a poll is: interpreter start-up and imports count.
BARE_PROCESS = """
import ssl, sys
from imapclient import IMAPClient
host, port, ca, user, password = sys.argv[1:6]
with IMAPClient(host, port=int(port), ssl=True, ssl_context=ssl.create_default_context(cafile=ca)) as client:
    client.login(user, password)
    client.select_folder("INBOX", readonly=True)
    uids = client.search(["ALL"])
    for start in range(0, len(uids), 50):
        client.fetch(uids[start : start + 50], ["BODY.PEEK[]"])
"""


def bare_fetch_process(account: Account, port: int) -> float:
    server = account.server
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", BARE_PROCESS, server.host, str(port), str(server.ca_file),
         account.username, account.password],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - began


def best(repeat: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(repeat))


def bench_time(server: Dovecot, work: Path, label: str, mails: list[bytes], repeat: int, links: list[str]) -> None:
    """On loopback, then through each link: the same mailbox, both sides through the same path."""
    account = server.new_account()
    fill(account, mails)
    size = sum(len(m) for m in mails) / len(mails) / 1000
    print(f"time ({label}, {len(mails)} mails of {size:.0f} kB):")
    time_path(work / f"time-{label}", account, server.port, "loopback", repeat)
    for spec in links:
        mbit, rtt = (float(x) for x in spec.split("/"))
        with Link(server.host, server.port, mbit, rtt) as link:
            time_path(work / f"time-{label}", account, link.port, link.name, repeat)


def time_path(folder: Path, account: Account, port: int, path: str, repeat: int) -> None:
    in_process = best(repeat, lambda: bare_fetch(account, port))
    own_process = best(repeat, lambda: bare_fetch_process(account, port))
    config = write_config(folder, account, mailbox__port=port)
    ours = best(repeat, lambda: poll(config, account)[0])
    print(f"  {path}: poll {ours:.2f}s; bare fetch in-process {in_process:.2f}s "
          f"-> ratio {ours / in_process:.2f}; as its own process {own_process:.2f}s "
          f"-> ratio {ours / own_process:.2f}", flush=True)


def bench_start(server: Dovecot, work: Path, repeat: int) -> None:
    """The fixed cost of each side, from a poll and a fetch of an empty mailbox."""
    account = server.new_account()
    config = write_config(work / "time-empty", account)
    ours = best(repeat, lambda: poll(config, account)[0])
    bare = best(repeat, lambda: bare_fetch_process(account, server.port))
    print(f"time (empty mailbox: start-up, login, nothing to fetch): poll {ours:.2f}s; "
          f"bare fetch as its own process {bare:.2f}s")


def bench_bytes(server: Dovecot, work: Path, total: int) -> None:
    account = server.new_account()
    campaign = reports(total // 50, 20_000)
    everyday = [everyday_mail(n) for n in range(total - len(campaign))]
    mails = everyday[: len(everyday) // 2] + campaign + everyday[len(everyday) // 2 :]
    fill(account, mails)
    config = write_config(work / "bytes", account)
    elapsed, _ = poll(config, account)
    sent = server.bytes_sent(account.username)
    campaign_bytes = sum(len(m) for m in campaign)
    budget = 1.1 * campaign_bytes + 1024 * total
    print(f"bytes: first poll of {total} messages ({len(campaign)} campaign) made Dovecot send "
          f"{sent:,} B; campaign mail is {campaign_bytes:,} B; "
          f"sent / (1.1 × campaign + 1 KB × messages) = {sent / budget:.2f}; the poll took {elapsed:.1f}s")


def bench_memory(server: Dovecot, work: Path) -> None:
    account = server.new_account()
    big = report_mail(REGISTERED["盐湖区工科局"], "第1周 视频", {"现场.mp4": b"\x01" * 37_000_000},
                      START, "<video@county.test>")
    fill(account, [big])
    config = write_config(work / "memory", account)
    _, peak_kib = poll(config, account)
    limit = 3 * len(big) / 1024 + 150 * 1024
    print(f"memory: peak RSS {peak_kib / 1024:.0f} MiB for a {len(big) / 1e6:.0f} MB message; "
          f"peak / (3 × message + 150 MB) = {peak_kib / limit:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=200)
    parser.add_argument("--mailbox", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--link", action="append", metavar="MBIT/RTT_MS",
        help="also time through a relay shaped like this network (repeatable; default: 100/30 and 20/40)",
    )
    parser.add_argument("--only", choices=["memory", "start", "time", "bytes"], action="append")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with Dovecot(*make_certificate(work)) as server:
            parts = set(args.only or ["memory", "start", "time", "bytes"])
            links = args.link or ["100/30", "20/40"]
            if "memory" in parts:
                bench_memory(server, work)
            if "start" in parts:
                bench_start(server, work, args.repeat)
            if "time" in parts:
                bench_time(server, work, "photo+text", photo_reports(args.reports), args.repeat, links)
                bench_time(server, work, "附件2 .docx", docx_reports(args.reports), args.repeat, links)
            if "bytes" in parts:
                bench_bytes(server, work, args.mailbox)


if __name__ == "__main__":
    main()
