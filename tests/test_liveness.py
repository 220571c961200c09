"""Liveness: a failing mailbox is said loudly once, its recovery once; one poller at a time."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from tests.baosong_cli import run, write_config


def eml_config(tmp_path: Path) -> Path:
    return write_config(tmp_path, mailbox={"eml_dir": str(tmp_path / "mail")})


def test_a_long_outage_is_said_once_and_the_recovery_once(tmp_path: Path) -> None:
    config = eml_config(tmp_path)  # the folder does not exist yet: every poll fails
    for now in ("2023-06-05T08:00", "2023-06-05T09:00", "2023-06-05T10:30", "2023-06-05T11:00"):
        failed = run(config, "poll", "--now", now, check=False)
        assert failed.returncode == 1
        assert "不存在" in failed.stderr
    (tmp_path / "mail").mkdir()
    run(config, "poll", "--now", "2023-06-05T11:05")
    run(config, "poll", "--now", "2023-06-05T11:10")

    log = (tmp_path / "data" / "operator.log").read_text(encoding="utf-8")
    assert log.count("收取邮件失败") == 4
    assert log.count("【注意】邮箱自 06-05 08:00 起已连续") == 1
    assert log.count("邮箱已恢复收取") == 1
    table = run(config, "status", "--now", "2023-06-05T11:10").stdout
    assert "上次成功收取：2023-06-05 11:10" in table


def test_a_second_poll_while_one_runs_exits_cleanly(tmp_path: Path) -> None:
    config = eml_config(tmp_path)
    (tmp_path / "mail").mkdir()
    source = f"eml:{(tmp_path / 'mail').resolve()}"
    locks = tmp_path / "data" / "locks"
    locks.mkdir(parents=True)
    lock = locks / f"{hashlib.sha256(source.encode()).hexdigest()[:16]}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        second = run(config, "poll", "--now", "2023-06-05T08:00")
    finally:
        os.close(fd)
    assert "另一个 baosong 进程正在处理" in second.stderr
    assert not (tmp_path / "data" / "operator.log").exists()
