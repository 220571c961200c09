"""An SMTP session to the bureau's mail server (126.com: implicit TLS on 465)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from store.config import SmtpConfig, secret
from store.model import BaosongError


class SmtpError(BaosongError):
    """The SMTP server could not be reached or refused us."""


class SmtpLoginError(SmtpError):
    """The SMTP server refused the login: a configuration problem, not worth retrying."""


@contextmanager
def smtp_session(config: SmtpConfig, timeout: float = 60) -> Iterator[smtplib.SMTP]:
    """A logged-in SMTP connection; closed on leaving the block."""
    assert config.host is not None  # the config allows no SMTP block without host or outbox_dir
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    try:
        if config.tls == "implicit":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=timeout, context=context
            )
        else:
            server = smtplib.SMTP(config.host, config.port, timeout=timeout)
            if config.tls == "starttls":
                server.starttls(context=context)
    except (OSError, smtplib.SMTPException) as exc:
        raise SmtpError(f"无法连接发信服务器 {config.host}:{config.port}：{exc}") from exc
    try:
        if config.username:
            try:
                server.login(config.username, secret(config.password_env))
            except smtplib.SMTPAuthenticationError as exc:
                raise SmtpLoginError(
                    f"发信服务器拒绝登录 {config.username}：请确认 {config.password_env} 中是"
                    f"授权码且已开启 SMTP 服务。服务器答复：{exc.smtp_code} "
                    f"{_text(exc.smtp_error)}"
                ) from exc
            except (OSError, smtplib.SMTPException) as exc:
                raise SmtpError(f"登录发信服务器 {config.host} 时出错：{exc}") from exc
        yield server
    finally:
        try:
            server.quit()
        except (OSError, smtplib.SMTPException):
            server.close()


def _text(words: bytes | str) -> str:
    return words.decode(errors="replace") if isinstance(words, bytes) else words
