"""config.yaml: loaded once, validated, turned into frozen typed objects.

An unknown or misspelled key fails at start-up with a message that names the key; secrets are
never in the file, only the names of the environment variables that hold them.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from store.model import BaosongError, Campaign, Deadline, Kind, Unit


class ConfigError(BaosongError):
    """The configuration is missing, unreadable or wrong; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeadlineConfig(_Strict):
    id: str
    label: str
    due: datetime
    expects: tuple[Kind, ...]


class CampaignConfig(_Strict):
    name: str
    timezone: str = "Asia/Shanghai"
    start: date
    deadlines: tuple[DeadlineConfig, ...] = Field(min_length=1)
    forms: str = "2023-anquanshengchanyue"  # the form definitions in use (parsers/forms/<name>/)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"未知的时区 {value!r}，例如 Asia/Shanghai") from exc
        return value

    @model_validator(mode="after")
    def _ordered_unique(self) -> CampaignConfig:
        ids = [d.id for d in self.deadlines]
        if len(set(ids)) != len(ids):
            raise ValueError("deadlines 中的 id 有重复")
        dues = [d.due.replace(tzinfo=None) for d in self.deadlines]
        if dues != sorted(dues):
            raise ValueError("deadlines 须按截止时间先后排列")
        return self


TlsMode = Literal["implicit", "starttls", "none"]


class MailboxConfig(_Strict):
    host: str | None = None
    port: int = 993
    tls: TlsMode = "implicit"
    ca_file: Path | None = None
    username: str | None = None
    password_env: str = "BAOSONG_IMAP_PASSWORD"
    folder: str = "INBOX"
    maildir: Path | None = None
    eml_dir: Path | None = None
    poll_minutes: float = Field(default=5, gt=0)
    batch_size: int = Field(default=200, ge=1, le=1000)
    max_message_mb: float = Field(default=100, gt=0)
    timeout_seconds: float = Field(default=60, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    alarm_after_minutes: float = Field(default=120, gt=0)  # say loudly once when failing longer

    @model_validator(mode="after")
    def _one_source(self) -> MailboxConfig:
        chosen = [k for k in ("host", "maildir", "eml_dir") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("须且只能设置 host、maildir、eml_dir 其中之一")
        if self.host is not None and self.username is None:
            raise ValueError("使用 host 时须设置 username（邮箱地址）")
        if self.tls == "none" and self.host not in (None, "127.0.0.1", "localhost", "::1"):
            raise ValueError("tls: none 只允许用于本机地址（127.0.0.1）")
        return self

    @property
    def max_message_bytes(self) -> int:
        return int(self.max_message_mb * 1024 * 1024)


class SmtpConfig(_Strict):
    host: str | None = None
    port: int = 465
    tls: TlsMode = "implicit"
    ca_file: Path | None = None
    username: str | None = None
    password_env: str = "BAOSONG_SMTP_PASSWORD"
    sender: str
    outbox_dir: Path | None = None

    @model_validator(mode="after")
    def _one_target(self) -> SmtpConfig:
        if (self.host is None) == (self.outbox_dir is None):
            raise ValueError("须且只能设置 host、outbox_dir 其中之一")
        return self


class UnitConfig(_Strict):
    name: str
    aliases: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    @field_validator("emails")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            if "@" not in address:
                raise ValueError(f"{address!r} 不是邮箱地址")
        return tuple(a.strip().lower() for a in value)


_SPAN_PART = re.compile(r"(\d+)([dhm])")
_SPAN_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def _span(value: object) -> object:
    """'10m', '2h', '1d', '1h30m' -> timedelta; anything else is left to pydantic."""
    if not isinstance(value, str):
        return value
    text = value.replace(" ", "").lower()
    parts = _SPAN_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} 不是时长，应写作 10m、2h、1d 或 1h30m")
    span = timedelta()
    for number, unit in parts:
        span += timedelta(**{_SPAN_UNITS[unit]: int(number)})
    return span


def _clock_time(value: object) -> object:
    """YAML 1.1 reads an unquoted 10:00 as the integer 600 (base 60): take it back as 10:00."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 24 * 60:
            raise ValueError(f"{value!r} 不是时刻，请加引号写作 \"10:00\"")
        return time(*divmod(value, 60))
    return value


Span = Annotated[timedelta, BeforeValidator(_span)]
ClockTime = Annotated[time, BeforeValidator(_clock_time)]


class ReminderStage(_Strict):
    """When one reminder goes out, relative to a deadline, in the campaign's time zone.

    Exactly one of: `before: 2h` / `after: 10m` (a span before or after the due moment), or
    `before_days: 1` / `after_days: 1` with `at: "10:00"` (a clock time so many calendar days
    before or after the due date).
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    before: Span | None = None
    after: Span | None = None
    before_days: int | None = Field(default=None, ge=0)
    after_days: int | None = Field(default=None, ge=0)
    at: ClockTime | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> ReminderStage:
        rules = ("before", "after", "before_days", "after_days")
        chosen = [k for k in rules if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("提醒时点须且只能设置 before、after、before_days、after_days 其中之一")
        by_days = chosen[0].endswith("_days")
        if by_days and self.at is None:
            raise ValueError(f"{chosen[0]} 须同时设置 at（时刻，如 \"10:00\"）")
        if not by_days and self.at is not None:
            raise ValueError("at 只能与 before_days 或 after_days 一起使用")
        return self

    @property
    def before_deadline(self) -> bool:
        return self.before is not None or self.before_days is not None


FigureMode = Literal["weekly", "cumulative"]
_FIGURE_KEY = re.compile(r"^\d+\.\d+$")


DEFAULT_REMINDERS = (
    ReminderStage(id="eve", before_days=1, at=time(10, 0)),
    ReminderStage(id="two-hours", before=timedelta(hours=2)),
    ReminderStage(id="overdue", after=timedelta(minutes=10)),
    ReminderStage(id="next-morning", after_days=1, at=time(9, 0)),
)


class NotifyConfig(_Strict):
    """What baosong sends: acknowledgments, reminders, the digest, and how fast."""

    throttle_per_minute: float = Field(default=20, gt=0)
    per_address_per_hour: int = Field(default=5, ge=1)  # acks to one address: a loop breaker
    retry_for: Span = timedelta(days=2)  # temporary (4xx) failures after this become failures
    templates_dir: Path | None = None  # templates here override the built-in ones by name
    contact: str = "联系人 郝大冰，电话 0359-6380232，邮箱 ycjjyxk@126.com"
    reminders: tuple[ReminderStage, ...] = DEFAULT_REMINDERS
    digest_after: Span = timedelta(hours=2)
    # How units fill 附件2: each week's own figures (the notice asks for 一周活动开展情况) or the
    # campaign to date; per figure key where some blanks are filled one way and others the other.
    figures: FigureMode = "weekly"
    figure_modes: dict[str, FigureMode] = Field(default_factory=dict)

    @field_validator("figure_modes")
    @classmethod
    def _figure_keys(cls, value: dict[str, FigureMode]) -> dict[str, FigureMode]:
        for key in value:
            if not _FIGURE_KEY.match(key):
                raise ValueError(f"{key!r} 不是附件2的数据编号，应写作 2.1（第2项第1空）")
        return value

    def figure_mode(self, key: str) -> FigureMode:
        """Whether units report figure `key` for the week alone or for the campaign to date."""
        return self.figure_modes.get(key, self.figures)

    @field_validator("reminders")
    @classmethod
    def _unique_stages(cls, value: tuple[ReminderStage, ...]) -> tuple[ReminderStage, ...]:
        ids = [s.id for s in value]
        if len(set(ids)) != len(ids):
            raise ValueError("reminders 中的 id 有重复")
        return value


class Settings(_Strict):
    campaign: CampaignConfig
    mailbox: MailboxConfig
    smtp: SmtpConfig
    leadership: tuple[str, ...] = ()
    units: Annotated[tuple[UnitConfig, ...], Field(min_length=1)]
    data_dir: Path = Path("data")
    database_url: str | None = None
    notify: NotifyConfig = NotifyConfig()

    @model_validator(mode="after")
    def _unique_units(self) -> Settings:
        names = [u.name for u in self.units]
        if len(set(names)) != len(names):
            raise ValueError("units 中有重名的单位")
        return self

    def campaign_model(self) -> Campaign:
        zone = ZoneInfo(self.campaign.timezone)

        def aware(moment: datetime) -> datetime:
            return moment if moment.tzinfo else moment.replace(tzinfo=zone)

        return Campaign(
            name=self.campaign.name,
            timezone=zone,
            start=datetime.combine(self.campaign.start, time(0), tzinfo=zone),
            deadlines=tuple(
                Deadline(id=d.id, label=d.label, due=aware(d.due), expects=d.expects)
                for d in self.campaign.deadlines
            ),
            units=tuple(Unit(u.name, u.aliases, u.emails) for u in self.units),
        )

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'baosong.sqlite3'}"


def secret(env_name: str) -> str:
    """Read a password or authorization code from the environment, never from the file."""
    value = os.environ.get(env_name)
    if not value:
        raise ConfigError(f"环境变量 {env_name} 未设置：请把邮箱授权码放在这个环境变量里（不要写进 config.yaml）")
    return value


def load_settings(path: Path) -> Settings:
    """Read and validate config.yaml; relative paths in it are taken from the file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"找不到配置文件 {path}：用 --config 指定，或设置 BAOSONG_CONFIG") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"无法读取配置文件 {path}：{exc}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"配置文件 {path} 不是合法的 YAML：{exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"配置文件 {path} 的顶层须是键值对")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"配置文件 {path} 有误：\n" + _explain(exc)) from exc
    return _anchor_paths(settings, path.resolve().parent)


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(顶层)"
        if error["type"] == "extra_forbidden":
            lines.append(f"  {key}: 未知的配置项（拼写错误？）")
        elif error["type"] == "missing":
            lines.append(f"  {key}: 缺少必填项")
        else:
            lines.append(f"  {key}: {error['msg']}（当前值 {error.get('input')!r}）")
    return "\n".join(lines)


def _anchor_paths(settings: Settings, base: Path) -> Settings:
    def anchor(p: Path | None) -> Path | None:
        if p is None or p.is_absolute():
            return p
        return base / p

    mailbox_updates: dict[str, Any] = {
        k: anchor(getattr(settings.mailbox, k))
        for k in ("maildir", "eml_dir", "ca_file")
        if getattr(settings.mailbox, k) is not None
    }
    smtp_updates: dict[str, Any] = {
        k: anchor(getattr(settings.smtp, k))
        for k in ("outbox_dir", "ca_file")
        if getattr(settings.smtp, k) is not None
    }
    notify_updates = {"templates_dir": anchor(settings.notify.templates_dir)}
    return settings.model_copy(
        update={
            "data_dir": anchor(settings.data_dir) or settings.data_dir,
            "mailbox": settings.mailbox.model_copy(update=mailbox_updates),
            "smtp": settings.smtp.model_copy(update=smtp_updates),
            "notify": settings.notify.model_copy(update=notify_updates),
        }
    )
