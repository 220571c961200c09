"""Fixtures for tests against real servers (see tests/servers.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Account, Dovecot, SmtpSink, find_dovecot, make_certificate


def pytest_configure(config: pytest.Config) -> None:
    # SmtpSink turns off aiosmtpd's auth_require_tls for implicit TLS (aiosmtpd counts only
    # STARTTLS as TLS); the warning about it would otherwise be repeated for every test.
    config.addinivalue_line(
        "filterwarnings", "ignore:Requiring AUTH while not requiring TLS:UserWarning"
    )


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Self-signed (cert, key) for 127.0.0.1 and localhost, shared by all test servers."""
    return make_certificate(tmp_path_factory.mktemp("certificate"))


@pytest.fixture(scope="session")
def dovecot_server(certificate: tuple[Path, Path]) -> Iterator[Dovecot]:
    """One private Dovecot for the whole session; tests isolate themselves by account."""
    if find_dovecot() is None:
        pytest.fail("Dovecot is not installed: run scripts/test, which installs it", pytrace=False)
    with Dovecot(*certificate) as server:
        yield server


@pytest.fixture
def imap_account(dovecot_server: Dovecot) -> Account:
    """A fresh, empty mailbox."""
    return dovecot_server.new_account()


@pytest.fixture
def smtp_sink(certificate: tuple[Path, Path]) -> Iterator[SmtpSink]:
    """An implicit-TLS SMTP server with AUTH that records what it receives."""
    with SmtpSink(*certificate) as sink:
        yield sink
