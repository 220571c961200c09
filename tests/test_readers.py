"""Reading kept messages in a worker process: the same readings as in this process, every
outcome a value, and a worker that dies on a message takes only that message's reading."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import NoReturn

import pytest

from ingest import readers as readers_module
from ingest.readers import (
    NotAMessage,
    Read,
    Readers,
    Reading,
    ReadingFailed,
    SpoolUnreadable,
    read_ahead,
    read_kept,
)
from parsers.forms import builtin_definitions
from parsers.images import BEIJING
from store.lock import exclusive
from tests.mailfactory import auto_reply, county_mail
from tests.servers import wait_until
from tests.test_images import encode, scene
from tests.test_servers import running

FILES = Path(__file__).parent / "cases" / "files"
DEFINITIONS = builtin_definitions()
SENT = datetime(2023, 6, 6, 9, 30, tzinfo=BEIJING)


class _DiesOnConversion:
    """A converter whose process ends on the spot: as a decoder crashing on a hostile file."""

    def __call__(self, data: bytes, target: str) -> bytes:
        os._exit(70)


def _spooled(folder: Path, name: str, raw: bytes) -> Path:
    path = folder / f"{name}.eml"
    path.write_bytes(raw)
    return path


def _photo_mail(n: int) -> bytes:
    return county_mail(
        sender="yhq@example.cn",
        sender_name="盐湖区工科局",
        subject=f"盐湖区第1周活动照片{n}",
        body="请查收。",
        date=SENT + timedelta(minutes=n),
        files=[(f"现场{n}.jpg", encode(scene(n, (640, 480))), "image/jpeg")],
    )


def _old_word_mail() -> bytes:
    return county_mail(
        sender="yhq@example.cn",
        sender_name="盐湖区工科局",
        subject="盐湖区第1周统计表",
        body="附件2见附件。",
        date=SENT,
        files=[("附件2.doc", (FILES / "word97.doc").read_bytes(), "application/msword")],
    )


def test_a_worker_reads_as_this_process_does(tmp_path: Path) -> None:
    paths = [_spooled(tmp_path, str(n), _photo_mail(n)) for n in range(4)]
    here = [read_kept(p, DEFINITIONS, None, BEIJING) for p in paths]
    with Readers(DEFINITIONS, None, BEIJING) as readers:
        readers.start()
        pending = [readers.submit(p, p.stat().st_size) for p in paths]
        assert all(p.future is not None for p in pending)  # they went to the worker
        there = [readers.result(p) for p in pending]
    assert there == here
    first = there[0]
    assert isinstance(first, Read) and first.contents is not None
    assert first.contents.photos[0].phash is not None
    assert first.message.envelope.subject == "盐湖区第1周活动照片0"


def test_every_outcome_is_a_value(tmp_path: Path) -> None:
    garbage = _spooled(tmp_path, "garbage", b"\x00\xff" * 300)
    automatic = _spooled(tmp_path, "auto", auto_reply(sender="yhq@example.cn", sender_name="盐湖区", date=SENT))
    with Readers(DEFINITIONS, None, BEIJING) as readers:
        got = [readers.result(readers.submit(p, 600)) for p in (garbage, tmp_path / "gone.eml", automatic)]
    assert isinstance(got[0], NotAMessage) and got[0].reason
    assert isinstance(got[1], SpoolUnreadable) and "gone.eml" in got[1].reason
    assert isinstance(got[2], Read) and got[2].contents is None and got[2].automatic


def test_a_reading_that_raises_says_why_and_where(tmp_path: Path) -> None:
    # A bug in a reader, as it would show: form definitions that are none.
    path = _spooled(tmp_path, "1", _photo_mail(1))
    got = read_kept(path, (None,), None, BEIJING)  # type: ignore[arg-type]
    assert isinstance(got, ReadingFailed)
    assert got.reason and "Traceback" in got.trace


def test_a_worker_dying_on_a_message_fails_only_that_message(tmp_path: Path) -> None:
    paths = [
        _spooled(tmp_path, "before", _photo_mail(1)),
        _spooled(tmp_path, "killer", _old_word_mail()),
        _spooled(tmp_path, "after1", _photo_mail(2)),
        _spooled(tmp_path, "after2", _photo_mail(3)),
    ]
    with Readers(DEFINITIONS, _DiesOnConversion(), BEIJING) as readers:
        readers.start()
        # All handed over before any is asked for: the ones after the killer were queued on
        # the worker that died, and are read again by a new one.
        pending = [readers.submit(p, p.stat().st_size) for p in paths]
        got = [readers.result(p) for p in pending]
    assert isinstance(got[0], Read)
    assert isinstance(got[1], ReadingFailed) and "意外退出" in got[1].reason
    assert all(isinstance(g, Read) and g.contents is not None for g in got[2:])


class _EndsTheWorker:
    """A converter that never reaches a worker: unpacking it there ends the process, as a
    worker that cannot start ends."""

    def __reduce__(self) -> tuple[Callable[[int], NoReturn], tuple[int]]:
        return os._exit, (1,)

    def __call__(self, data: bytes, target: str) -> bytes:
        raise AssertionError("a photo mail needs no conversion")


def test_when_no_worker_gets_going_messages_are_read_in_this_process(tmp_path: Path) -> None:
    path = _spooled(tmp_path, "1", _photo_mail(1))
    # Each worker ends as it starts, before it can take any message.
    with Readers(DEFINITIONS, _EndsTheWorker(), BEIJING) as readers:
        readers.start()
        got = readers.result(readers.submit(path, path.stat().st_size))
        assert readers.submit(path, 1).in_worker is False  # and none is tried again
    assert got == read_kept(path, DEFINITIONS, None, BEIJING)


def test_a_worker_that_dies_between_messages_is_replaced(tmp_path: Path) -> None:
    path = _spooled(tmp_path, "1", _photo_mail(1))
    with Readers(DEFINITIONS, None, BEIJING) as readers:
        readers.start()
        assert isinstance(readers.result(readers.submit(path, path.stat().st_size)), Read)
        for child in multiprocessing.active_children():  # the worker, idle: as the OOM killer would
            os.kill(child.pid or 0, signal.SIGKILL)
            child.join(5)
        time.sleep(0.5)  # for the pool to learn of the death
        pending = readers.submit(path, path.stat().st_size)
        assert pending.future is None and pending.in_worker
        assert readers.result(pending) == read_kept(path, DEFINITIONS, None, BEIJING)
        assert readers.submit(path, path.stat().st_size).future is not None  # a worker runs again


def test_messages_handed_over_before_the_worker_runs_are_read_by_it(tmp_path: Path) -> None:
    path = _spooled(tmp_path, "1", _photo_mail(1))
    with Readers(DEFINITIONS, None, BEIJING) as readers:
        early = readers.submit(path, path.stat().st_size)
        assert early.future is None and early.in_worker
        assert readers.result(early) == read_kept(path, DEFINITIONS, None, BEIJING)
        assert readers.submit(path, path.stat().st_size).future is not None  # it runs now


def test_a_worker_does_not_keep_a_lock_past_its_release_here(tmp_path: Path) -> None:
    path = _spooled(tmp_path, "1", _photo_mail(1))
    with Readers(DEFINITIONS, None, BEIJING) as readers:
        with exclusive(tmp_path / "locks", "outbox"):  # as a delivery holds it while a poll starts
            readers.start()
            assert isinstance(readers.result(readers.submit(path, path.stat().st_size)), Read)
        with exclusive(tmp_path / "locks", "outbox"):  # the worker still runs, and holds nothing
            assert multiprocessing.active_children()


class _ImportsWhenCalled:
    """A converter that imports `module` when it is asked to convert, then fails."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __call__(self, data: bytes, target: str) -> bytes:
        importlib.import_module(self.module)
        raise OSError("no converter here")


def test_a_worker_started_while_another_thread_imports_a_module_it_needs_gets_going(tmp_path: Path) -> None:
    # As in the daemon: a job imports a library just as the poll starts its worker. A fork of
    # this process would inherit the library's import lock, held by a thread it does not have.
    path = _spooled(tmp_path, "1", _old_word_mail())  # its .doc is converted: the import
    sys.modules.pop("tests.slow_import", None)
    importing = threading.Thread(target=importlib.import_module, args=("tests.slow_import",))
    importing.start()
    assert wait_until(lambda: "tests.slow_import" in sys.modules, 5.0)
    got: list[Reading] = []
    with Readers(DEFINITIONS, _ImportsWhenCalled("tests.slow_import"), BEIJING) as readers:
        readers.start()
        reading = threading.Thread(target=lambda: got.append(readers.result(readers.submit(path, 1000))))
        reading.start()
        reading.join(30)
        hung = reading.is_alive()
        for child in multiprocessing.active_children() if hung else ():
            os.kill(child.pid or 0, signal.SIGKILL)  # so that leaving the block does not hang too
        reading.join(30)
    importing.join()
    assert not hung
    [read] = got
    assert isinstance(read, Read) and read.contents is not None
    assert read.message.envelope.subject == "盐湖区第1周统计表"


_KEPT_BUSY = """
import multiprocessing, multiprocessing.forkserver, sys, time
from pathlib import Path
from ingest.readers import Readers
from parsers.forms import builtin_definitions
from parsers.images import BEIJING
path = Path(sys.argv[1])
with Readers(builtin_definitions(), None, BEIJING) as readers:
    readers.result(readers.submit(path, path.stat().st_size))
    [worker] = multiprocessing.active_children()
    print(worker.pid, multiprocessing.forkserver._forkserver._forkserver_pid, flush=True)
    time.sleep(60)
"""


def test_a_poll_killed_outright_takes_its_worker_and_the_worker_server_with_it(tmp_path: Path) -> None:
    path = _spooled(tmp_path, "1", _photo_mail(1))
    poll = subprocess.Popen([sys.executable, "-c", _KEPT_BUSY, str(path)], stdout=subprocess.PIPE, text=True)
    assert poll.stdout is not None
    worker, server = (int(pid) for pid in poll.stdout.readline().split())
    assert running(worker) and running(server)
    poll.kill()  # SIGKILL: nothing of the poll runs any more
    poll.wait()
    assert wait_until(lambda: not running(worker) and not running(server), 10.0)


_NO_PROCESSES = """
import socket, sys


class NoSockets(socket.socket):  # as where every descriptor is taken: the forkserver wants one
    def __init__(self, *args, **kwargs):
        raise OSError(24, "Too many open files")


socket.socket = NoSockets
sys.executable = "/nonexistent/python"  # and where no program can be started
from pathlib import Path
from ingest.readers import Readers, prepare
from parsers.forms import builtin_definitions
from parsers.images import BEIJING
prepare()
path = Path(sys.argv[1])
with Readers(builtin_definitions(), None, BEIJING) as readers:
    readers.start()
    print(type(readers.result(readers.submit(path, path.stat().st_size))).__name__)
    print(readers.submit(path, 1).in_worker)
"""


def test_where_no_process_can_be_started_messages_are_read_in_this_one(tmp_path: Path) -> None:
    path = _spooled(tmp_path, "1", _photo_mail(1))
    done = subprocess.run(
        [sys.executable, "-c", _NO_PROCESSES, str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Read", "False"]


def test_a_large_message_is_read_in_this_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers_module, "WORKER_MAX_BYTES", 1000)
    path = _spooled(tmp_path, "1", _photo_mail(1))
    with Readers(DEFINITIONS, None, BEIJING) as readers:
        readers.start()
        pending = readers.submit(path, path.stat().st_size)
        assert pending.future is None and not pending.in_worker
        assert readers.result(pending) == read_kept(path, DEFINITIONS, None, BEIJING)


def test_reading_ahead_keeps_order_and_its_bound(tmp_path: Path) -> None:
    paths = [_spooled(tmp_path, str(n), _photo_mail(n)) for n in range(6)]
    size = paths[0].stat().st_size
    submitted: list[Path] = []
    with Readers(DEFINITIONS, None, BEIJING) as readers:
        readers.start()
        real_submit = readers.submit

        def submit(path: Path, size: int) -> readers_module.Pending:
            submitted.append(path)
            return real_submit(path, size)

        readers.submit = submit  # type: ignore[method-assign]
        ahead = read_ahead(paths, readers, held=2 * size)
        first = next(ahead)
        assert first.path == paths[0]
        assert len(submitted) == 3  # the first, and two more within the bound
        rest = list(ahead)
    assert [p.path for p in rest] == paths[1:]
