"""Running the real `baosong` command in tests, on a config made from the project's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.servers import Account, SmtpSink

ROOT = Path(__file__).resolve().parents[1]
IMAP_PASSWORD_ENV = "BAOSONG_TEST_IMAP_PASSWORD"
SMTP_PASSWORD_ENV = "BAOSONG_TEST_SMTP_PASSWORD"

# Registered senders used across tests: a real-looking 126.com address is not needed.
REGISTERED = {
    "盐湖区工科局": "yanhu@county.test",
    "永济市工科局": "yongji@county.test",
    "河津市工科局": "hejin@county.test",
}


def project_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    return loaded


def write_config(
    folder: Path,
    account: Account | None = None,
    smtp: SmtpSink | None = None,
    **overrides: Any,
) -> Path:
    """config.yaml for a test: the seed campaign, this account's mailbox, data under `folder`."""
    config = project_config()
    for unit in config["units"]:
        if unit["name"] in REGISTERED:
            unit["emails"] = [REGISTERED[unit["name"]]]
    if account is not None:
        config["mailbox"] = {
            "host": account.server.host,
            "port": account.server.port,
            "tls": "implicit",
            "ca_file": str(account.server.ca_file),
            "username": account.username,
            "password_env": IMAP_PASSWORD_ENV,
            "folder": "INBOX",
        }
    if smtp is not None:
        config["smtp"] = {
            "host": smtp.host,
            "port": smtp.port,
            "tls": "implicit",
            "ca_file": str(smtp.ca_file),
            "username": smtp.username,
            "password_env": SMTP_PASSWORD_ENV,
            "sender": "运城市工信局运行监测科 <bureau@city.test>",
        }
    else:
        config["smtp"] = {"outbox_dir": str(folder / "outbox"), "sender": "测试 <bureau@city.test>"}
    config["data_dir"] = str(folder / "data")
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if field:
            config.setdefault(section, {})[field] = value
        else:
            config[section] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def environment(account: Account | None = None, smtp: SmtpSink | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if account is not None:
        env[IMAP_PASSWORD_ENV] = account.password
    if smtp is not None:
        env[SMTP_PASSWORD_ENV] = smtp.password
    return env


def baosong_command() -> list[str]:
    """The installed console script (the path production uses)."""
    return [str(Path(sys.executable).parent / "baosong")]


def run(
    config: Path,
    *args: str,
    account: Account | None = None,
    smtp: SmtpSink | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*baosong_command(), "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=environment(account, smtp),
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"baosong {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def status(config: Path, now: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run(config, "status", "--json", "--now", now).stdout)
    return data
