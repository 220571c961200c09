"""The `baosong` command line: thin commands that parse options, call one function, and turn
our errors into a message a clerk can act on (exit 1: the work failed; exit 2: bad usage/config).

Each command imports the machinery it runs when it runs (a third of a second of imports): so
`baosong poll` is already logging in to the mailbox while the parsers and the database load.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ingest.progress import Progress
from ingest.sources import ImapSource, MailSource, connected_ahead, open_source
from store.config import ConfigError, Settings, load_settings
from store.lock import LockHeld
from store.model import BaosongError, Outcome

if TYPE_CHECKING:
    from ingest.context import Context

F = TypeVar("F", bound=Callable[..., Any])


def _remember(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None:
            ctx.find_root().meta[key] = value

    return callback


def common_options(command: F) -> F:
    """--config and --now, accepted before or after the command name."""
    command = click.option(
        "--now",
        metavar="ISO-8601",
        expose_value=False,
        callback=_remember("now"),
        help="Act as if it were this moment (e.g. 2023-06-07T13:00); default: the real clock.",
    )(command)
    command = click.option(
        "--config",
        type=click.Path(path_type=Path, dir_okay=False),
        expose_value=False,
        callback=_remember("config"),
        help="config.yaml to use (default ./config.yaml, then $BAOSONG_CONFIG).",
    )(command)
    return command


def _config_path(ctx: click.Context) -> Path:
    given = ctx.find_root().meta.get("config")
    if given is not None:
        return Path(given)
    default = Path("config.yaml")
    if not default.exists() and os.environ.get("BAOSONG_CONFIG"):
        return Path(os.environ["BAOSONG_CONFIG"])
    return default


def _clock(ctx: click.Context, settings: Settings) -> Callable[[], datetime]:
    text = ctx.find_root().meta.get("now")
    if text is None:
        return lambda: datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} 不是 ISO-8601 时间，例如 2023-06-07T13:00", param_hint="--now"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.campaign_model().timezone)
    return lambda: moment


def _setup_debug_log(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(data_dir / "debug.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for noisy in ("imapclient", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.INFO)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)  # every statement would cost more than it tells


def with_context(command: Callable[..., int | None]) -> Callable[..., None]:
    """Load the config, build the Context, and map our errors to exit statuses."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        _run(_settings(), lambda context: command(context, *args, **kwargs))

    return wrapper


def _settings() -> Settings:
    ctx = click.get_current_context()
    try:
        settings = load_settings(_config_path(ctx))
    except ConfigError as exc:
        click.echo(f"配置错误：{exc}", err=True)
        ctx.exit(2)
    _setup_debug_log(settings.data_dir)
    return settings


def _run(settings: Settings, command: Callable[[Context], int | None]) -> None:
    from ingest.context import Context

    ctx = click.get_current_context()
    context = Context.build(settings, _clock(ctx, settings))
    try:
        code = command(context)
    except ConfigError as exc:
        click.echo(f"配置错误：{exc}", err=True)
        ctx.exit(2)
    except BaosongError as exc:
        logging.getLogger(__name__).debug("command failed", exc_info=True)
        click.echo(f"失败：{exc}", err=True)
        ctx.exit(1)
    finally:
        context.close()
    ctx.exit(code or 0)


@click.group(help="报送 baosong: collects the reports units e-mail in, files them, chases the late.")
@common_options
def cli() -> None:
    pass


@cli.command(help="One poll cycle: fetch new mail, keep it, parse it, file it.\n\n"
             "Example: baosong poll --now 2023-06-07T13:00")
@common_options
def poll() -> None:
    settings = _settings()
    with connected_ahead(open_source(settings.mailbox)) as source:
        from ingest.readers import prepare

        prepare()  # the readers load in a process of their own meanwhile, too
        _run(settings, lambda ctx: _poll(ctx, source))


def _poll(ctx: Context, source: MailSource) -> None:
    from ingest.cycle import poll as run_poll

    try:
        report = run_poll(ctx, Progress(), source=source)
    except LockHeld as exc:
        click.echo(str(exc), err=True)
        return
    click.echo(f"收取完成：{report.summary()}")
    click.echo(f"操作日志：{ctx.oplog.path}")


@cli.command(help="Who sent what for each deadline: 按时/逾期/未报/未到期.\n\n"
             "Example: baosong status --deadline week-1 --json")
@click.option("--deadline", "deadline_id", help="Only this deadline (id from config.yaml).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option(
    "--list",
    "listing",
    type=click.Choice([o.value for o in Outcome if o is not Outcome.FILED]),
    help="List the messages with this outcome instead (number, time, sender, subject, reason).",
)
@common_options
@with_context
def status(ctx: Context, deadline_id: str | None, as_json: bool, listing: str | None) -> None:
    from ingest.views import message_list, outbox_json, outbox_lines, status_json, status_table
    from store.status import load_status

    if listing is not None:
        click.echo(message_list(ctx.store.messages([Outcome(listing)]), ctx.campaign.timezone))
        return
    source_key = _source_key(ctx)
    result = load_status(ctx.store, ctx.campaign, ctx.clock(), source_key)
    zone = ctx.campaign.timezone
    only = None
    if deadline_id is not None:
        wanted = ctx.campaign.deadline(deadline_id)
        only = next(d for d in result.deadlines if d.deadline.id == wanted.id)
    outbox = ctx.notifier.summary()
    if as_json:
        data = status_json(result, zone)
        if only is not None:
            data["deadlines"] = [d for d in data["deadlines"] if d["id"] == deadline_id]
        data["outbox"] = outbox_json(outbox)
        click.echo(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        click.echo(status_table(result, zone, only))
        click.echo("\n".join(outbox_lines(outbox)))


@cli.command(help="The daemon: poll, remind and send digests at their times until SIGINT/SIGTERM.\n\n"
             "Example: baosong run --config /etc/baosong/config.yaml")
@common_options
@with_context
def run(ctx: Context) -> None:
    from ingest.daemon import Daemon  # APScheduler: only the daemon needs it

    start = ctx.clock()
    began = time.monotonic()
    # With --now the daemon replays from that moment on, its clock moving with real time.
    daemon = Daemon(ctx.settings, lambda: start + timedelta(seconds=time.monotonic() - began))
    try:
        daemon.run()
    except LockHeld as exc:
        raise BaosongError(f"baosong run 已在运行（{ctx.settings.data_dir}）：{exc}") from exc


@cli.command(help="Send the reminders due at --now (each unit, deadline and stage at most once).\n\n"
             "Example: baosong remind --dry-run --now 2023-06-06T10:00")
@click.option("--dry-run", is_flag=True, help="Only print who would get which reminder.")
@common_options
@with_context
def remind(ctx: Context, dry_run: bool) -> None:
    from ingest.due import queue_due_reminders, reminders_due

    notifier = ctx.notifier
    if dry_run:
        due = reminders_due(ctx)
        for reminder in due:
            click.echo(notifier.describe(reminder))
        click.echo(f"共 {len(due)} 条提醒将要发送（试运行，未发送）")
        return
    queued = queue_due_reminders(ctx)
    delivery = notifier.deliver()
    click.echo(f"已排队 {queued} 封提醒；{delivery.summary()}")


@cli.command(help="Rebuild every submission from the raw mail kept in data_dir/raw (after an update).\n\n"
             "Example: baosong reprocess")
@common_options
@with_context
def reprocess(ctx: Context) -> None:
    from ingest.cycle import reprocess as rebuild

    try:
        report = rebuild(ctx, Progress())
    except LockHeld as exc:
        raise BaosongError(f"{exc}；请等收取结束后再重新处理") from exc
    click.echo(f"重新处理完成：{report.summary()}")


@cli.command(help="Fetch again, at the next poll, mail first judged not a report (or too large).\n\n"
             "Example: baosong status --list not_report; baosong refetch 17 23")
@click.argument("numbers", nargs=-1, type=int, required=True)
@common_options
@with_context
def refetch(ctx: Context, numbers: tuple[int, ...]) -> int:
    chosen = ctx.store.requeue(numbers)
    for number in chosen:
        ctx.oplog.info(f"操作员要求重新收取邮件 #{number}，将在下次收取时下载并处理")
    refused = sorted(set(numbers) - set(chosen))
    if chosen:
        click.echo(f"下次收取时将下载并处理：{'、'.join(f'#{n}' for n in chosen)}")
    if refused:
        click.echo(
            f"无法重新收取 {'、'.join(f'#{n}' for n in refused)}：只有“非报送”或因过大未下载的邮件可以重新收取",
            err=True,
        )
        return 1
    return 0


@cli.command("check-config", help="Validate config.yaml and try the IMAP and SMTP logins.\n\n"
             "Example: BAOSONG_IMAP_PASSWORD=... BAOSONG_SMTP_PASSWORD=... baosong check-config")
@common_options
@with_context
def check_config(ctx: Context) -> int:
    from notify.smtp import smtp_session

    settings = ctx.settings
    click.echo(f"配置文件有效：{len(ctx.campaign.units)} 个单位，{len(ctx.campaign.deadlines)} 个报送节点")
    failures = 0
    mailbox = settings.mailbox
    if mailbox.host is None:
        click.echo(f"收件：本地文件夹 {mailbox.maildir or mailbox.eml_dir}")
    else:
        try:
            with ImapSource(mailbox) as source:
                click.echo(
                    f"收件：已登录 {mailbox.host}，已发送 ID，已只读打开 {mailbox.folder}"
                    f"（UIDVALIDITY {source.uidvalidity}）"
                )
        except ConfigError:
            raise
        except BaosongError as exc:
            failures += 1
            click.echo(f"收件：失败：{exc}", err=True)
    smtp = settings.smtp
    if smtp.host is None:
        click.echo(f"发件：写入文件夹 {smtp.outbox_dir}（不实际发送）")
    else:
        try:
            with smtp_session(smtp):
                click.echo(f"发件：已登录 {smtp.host}:{smtp.port}")
        except ConfigError:
            raise
        except BaosongError as exc:
            failures += 1
            click.echo(f"发件：失败：{exc}", err=True)
    return 1 if failures else 0


@cli.command(help="The whole pipeline on the bundled sample mailbox: no credentials, no network.\n\n"
             "Example: baosong demo --into /tmp/baosong-demo")
@click.option("--into", type=click.Path(path_type=Path, file_okay=False),
              help="Folder to work in (default: a new temporary folder).")
def demo(into: Path | None) -> None:
    from ingest.context import Context
    from ingest.demo import describe_demo, prepare, replay

    folder = into or Path(tempfile.mkdtemp(prefix="baosong-demo-"))
    try:
        result = replay(prepare(folder), Progress())
        ctx = Context.build(result.settings, lambda: result.end)
        try:
            summary = describe_demo(ctx, result)
        finally:
            ctx.close()
    except BaosongError as exc:
        click.echo(f"失败：{exc}", err=True)
        raise SystemExit(1) from exc
    click.echo(summary)


def _source_key(ctx: Context) -> str:
    return open_source(ctx.settings.mailbox).key


@cli.command(help="Write the consolidated 汇总表 workbook: 附件2 per deadline, 累计, 报送情况, 附件3, 提示事项.\n\n"
             "Example: baosong export --deadline week-2 -o 汇总表.xlsx")
@click.option("--deadline", "deadline_id",
              help="Up to this deadline (id from config.yaml); default: the latest passed or reported for.")
@click.option("-o", "--output", "path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The .xlsx file to write.")
@common_options
@with_context
def export(ctx: Context, deadline_id: str | None, path: Path) -> None:
    from ingest.reports import export_workbook

    click.echo(f"汇总表已写入：{export_workbook(ctx, deadline_id, path)}")


@cli.command(help="Send the leadership digest of a deadline, with the 汇总表 attached; each digest goes once.\n\n"
             "Example: baosong digest --deadline week-1 --dry-run --now 2023-06-07T14:00")
@click.option("--deadline", "deadline_id", help="The deadline (id from config.yaml); default: the latest passed one.")
@click.option("--dry-run", is_flag=True, help="Write the HTML, the text and the workbook to files; send nothing.")
@click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where --dry-run writes (default: data_dir/digests).")
@common_options
@with_context
def digest(ctx: Context, deadline_id: str | None, dry_run: bool, out_dir: Path | None) -> None:
    from ingest.reports import send_digest

    result = send_digest(ctx, deadline_id, dry_run, out_dir)
    label = result.deadline.label
    if dry_run:
        click.echo(f"试运行，未发送。主题：{result.subject}")
        click.echo(f"收件人：{'、'.join(result.recipients) or '（config.yaml 的 leadership 为空）'}")
        for path in result.files:
            click.echo(str(path))
        return
    if result.sent_before:
        click.echo(f"{label}汇总此前已发送（或已排队），不再重复发送")
    else:
        click.echo(f"{label}汇总已排队 {result.queued} 封：{result.subject}")
    if result.delivery is not None:
        click.echo(result.delivery.summary())


def main() -> None:
    try:
        cli.main(prog_name="baosong")
    finally:
        # The process ends here with everything it wrote closed and synced; sparing the
        # interpreter one last collection of the objects it made saves 0.07 s a command.
        gc.freeze()

