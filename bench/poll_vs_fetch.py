"""Measure `baosong poll` against a bare imapclient fetch of the same mail, side by side.

Prints ratios, never absolute targets, because the machines are shared and noisy:
1. time: our first poll of N report mails / a bare BODY.PEEK[] fetch of the same N mails;
2. bytes: what Dovecot sent for a first poll of a mailbox of M messages of which 2% are
   campaign mail, against the campaign mail's own size (target ≤ 1.1 × + 1 KB per message);
3. memory: peak RSS of a poll that meets a 50 MB message (target ≤ 3 × + 150 MB).

Run: .venv/bin/python bench/poll_vs_fetch.py [--reports 200] [--mailbox 10000]
Needs root and Dovecot (scripts/test installs it).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.baosong_cli import (  # noqa: E402
    REGISTERED,
    baosong_command,
    environment,
    write_config,
)
from tests.servers import Account, Dovecot, make_certificate  # noqa: E402
from tests.test_poll_imap import report_mail  # noqa: E402

BEIJING = ZoneInfo("Asia/Shanghai")
START = datetime(2023, 6, 1, 9, 0, tzinfo=BEIJING)
NOW = "2023-06-07T13:00"


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


def poll(config: Path, account: Account) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of one `baosong poll` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    began = time.perf_counter()
    subprocess.run(
        [*baosong_command(), "--config", str(config), "poll", "--now", NOW],
        env=environment(account),
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before)


def bare_fetch(account: Account) -> float:
    """What any client must do at least: log in, select, fetch every body once."""
    began = time.perf_counter()
    with account.client() as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        for start in range(0, len(uids), 50):
            client.fetch(uids[start : start + 50], ["BODY.PEEK[]"])
    return time.perf_counter() - began


def bench_time(server: Dovecot, work: Path, count: int) -> None:
    account = server.new_account()
    fill(account, reports(count, 20_000))
    bare = min(bare_fetch(account) for _ in range(3))
    config = write_config(work / "time", account)
    ours, _ = poll(config, account)
    print(f"time: poll of {count} report mails {ours:.2f}s vs bare fetch {bare:.2f}s "
          f"-> ratio {ours / bare:.2f}")


def bench_bytes(server: Dovecot, work: Path, total: int) -> None:
    account = server.new_account()
    campaign = reports(total // 50, 20_000)
    everyday = [everyday_mail(n) for n in range(total - len(campaign))]
    mails = everyday[: len(everyday) // 2] + campaign + everyday[len(everyday) // 2 :]
    fill(account, mails)
    config = write_config(work / "bytes", account)
    poll(config, account)
    sent = server.bytes_sent(account.username)
    campaign_bytes = sum(len(m) for m in campaign)
    budget = 1.1 * campaign_bytes + 1024 * total
    print(f"bytes: first poll of {total} messages ({len(campaign)} campaign) made Dovecot send "
          f"{sent:,} B; campaign mail is {campaign_bytes:,} B; "
          f"sent / (1.1 × campaign + 1 KB × messages) = {sent / budget:.2f}")


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        with Dovecot(*make_certificate(work)) as server:
            # Memory first: RUSAGE_CHILDREN keeps the largest peak of any child so far.
            bench_memory(server, work)
            bench_time(server, work, args.reports)
            bench_bytes(server, work, args.mailbox)


if __name__ == "__main__":
    main()
