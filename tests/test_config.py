"""config.yaml is validated once at start: a wrong key stops the program naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from store.config import ConfigError, load_settings
from tests.baosong_cli import ROOT, project_config, run


def write(folder: Path, config: dict[str, Any]) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_config_is_the_seed_campaign() -> None:
    settings = load_settings(ROOT / "config.yaml")
    campaign = settings.campaign_model()
    assert len(campaign.units) == 14
    assert [d.id for d in campaign.deadlines] == [
        "setup", "week-1", "week-2", "week-3", "week-4", "summary",
    ]
    assert campaign.deadline("week-2").due.isoformat() == "2023-06-14T12:00:00+08:00"
    assert settings.mailbox.host == "imap.126.com" and settings.mailbox.port == 993
    assert settings.mailbox.password_env == "BAOSONG_IMAP_PASSWORD"
    assert "password" not in (ROOT / "config.yaml").read_text().replace("password_env", "")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda c: c["mailbox"].update(hots="x"), "mailbox.hots: 未知的配置项"),
        (lambda c: c["mailbox"].update(port="nine"), "mailbox.port"),
        (lambda c: c["campaign"].pop("deadlines"), "campaign.deadlines: 缺少必填项"),
        (lambda c: c["campaign"].update(timezone="Beijing"), "未知的时区"),
        (lambda c: c["mailbox"].update(maildir="/tmp/x"), "须且只能设置 host、maildir、eml_dir"),
        (lambda c: c["units"][0].update(emails=["not-an-address"]), "units.0.emails"),
        (lambda c: c["campaign"]["deadlines"][0].update(expects=["weekly", "memo"]), "expects"),
        (lambda c: c["campaign"]["deadlines"].reverse(), "按截止时间先后排列"),
    ],
)
def test_a_wrong_config_names_the_key(tmp_path: Path, change: Any, named: str) -> None:
    config = project_config()
    change(config)
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, config))
    assert named in str(caught.value)


def test_the_command_exits_2_with_the_key_on_stderr(tmp_path: Path) -> None:
    config = project_config()
    config["smtp"]["prot"] = 465
    result = run(write(tmp_path, config), "status", check=False)
    assert result.returncode == 2
    assert "smtp.prot: 未知的配置项" in result.stderr


def test_a_missing_config_file_says_how_to_name_one(tmp_path: Path) -> None:
    result = run(tmp_path / "nowhere.yaml", "status", check=False)
    assert result.returncode == 2
    assert "--config" in result.stderr


def test_now_is_accepted_before_and_after_the_command(tmp_path: Path) -> None:
    config = project_config()
    config["mailbox"] = {"eml_dir": str(tmp_path)}
    config["smtp"] = {"outbox_dir": str(tmp_path / "out"), "sender": "x <x@city.test>"}
    config["data_dir"] = str(tmp_path / "data")
    path = write(tmp_path, config)
    before = run(path, "--now", "2023-06-08T09:00", "status", "--json").stdout
    after = run(path, "status", "--json", "--now", "2023-06-08T09:00").stdout
    assert before == after and '"now": "2023-06-08T09:00:00+08:00"' in before
    bad = run(path, "status", "--now", "next tuesday", check=False)
    assert bad.returncode == 2 and "ISO-8601" in bad.stderr
