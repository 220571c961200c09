"""Reading a kept message, its attachments and forms: in a worker process while the poll files.

Reading is most of a poll's work on a message (MIME, photos, Word and Excel forms) and needs
nothing from the database, so a worker process does it while the poll's thread records and files
the message before: the two use two cores. A worker that dies on a message (a decoder crashing
on a hostile file) takes only the reading of that message with it: the message counts a failed
attempt, and the next is read by a new worker.

Large messages are read in the poll's own process, where their attachments are not copied
between processes; so are all messages when no worker can be started.

Workers are not forks of the poll's process: a fork made while another thread imports a module
(a daemon job loading openpyxl, say) inherits that module's import lock, held by a thread the
fork does not have, and hangs on its first import of it. They are forked instead from a server
process of their own (multiprocessing's forkserver): a fresh interpreter, one thread, that has
loaded the readers once (`prepare`), so that every worker starts at once with them.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import select
import threading
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from parsers.autoreply import machine_made
from parsers.errors import ParseError
from parsers.forms import FormDefinition
from parsers.message import Message, parse_message_file

if TYPE_CHECKING:
    from parsers.contents import Contents
    from parsers.reading import Converter

log = logging.getLogger(__name__)

# What the process that workers are forked from loads before it forks any: the readers, the
# HEIC decoder that the first photo would load, and the command line, which every worker
# imports again when it runs the `baosong` script anew (multiprocessing has each one do so).
_WORKER_MODULES = ["ingest.cli", "ingest.readers", "parsers.contents", "pillow_heif"]

# Above this size a message is read here: its attachments would otherwise be held twice, once
# in each process. Phone photos and forms are far smaller; videos and scans are not.
WORKER_MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Read:
    """The message and what its attachments hold; `automatic` names a machine-made message
    (an auto-reply, a bounce), whose attachments are not read."""

    message: Message
    contents: Contents | None
    automatic: str | None = None


@dataclass(frozen=True)
class NotAMessage:
    """The bytes are no e-mail message (`ParseError`): the message is set aside."""

    reason: str


@dataclass(frozen=True)
class SpoolUnreadable:
    """The spooled file itself could not be read (disk, permissions)."""

    reason: str


@dataclass(frozen=True)
class ReadingFailed:
    """Reading the attachments failed; the message is tried again on the next poll."""

    reason: str
    trace: str  # for the debug log: the worker has none of its own


Reading = Read | NotAMessage | SpoolUnreadable | ReadingFailed


def read_kept(path: Path, definitions: tuple[FormDefinition, ...], convert: Converter | None, zone: tzinfo) -> Reading:
    """Read the spooled message at `path`; never raises, every outcome is a value that can
    cross to another process."""
    try:
        with path.open("rb") as spooled:
            message = parse_message_file(spooled)
    except ParseError as exc:
        return NotAMessage(str(exc))
    except OSError as exc:
        return SpoolUnreadable(str(exc))
    automatic = machine_made(message.envelope, message.envelope.header("content-type") or "")
    if automatic is not None:
        return Read(message, None, automatic)
    from parsers.contents import read_contents  # the image and document libraries: see _WORKER_MODULES

    try:
        return Read(message, read_contents(message, definitions, convert, zone))
    except Exception as exc:  # one message's failure must not stop the poll
        return ReadingFailed(str(exc) or type(exc).__name__, traceback.format_exc())


@dataclass
class Pending:
    """A message handed to the readers; `Readers.result` gives its reading."""

    path: Path
    size: int
    future: Future[Reading] | None  # None: read when asked for (see `in_worker`)
    worker: int  # which worker it went to (they are numbered as they are started)
    in_worker: bool = True  # False: read in this process

    def cancel(self) -> None:
        if self.future is not None:
            self.future.cancel()


class Readers:
    """Reads kept messages with `read_kept`, in one worker process.

    One worker: the poll's own thread is as busy filing, and there are two cores here. The
    worker is started by `start`, or the first `result`; `submit` may be called from any
    thread. Use it in a `with` block: leaving it stops the worker after the message in hand.
    """

    def __init__(self, definitions: tuple[FormDefinition, ...], convert: Converter | None, zone: tzinfo) -> None:
        self._args = (definitions, convert, zone)
        self._lock = threading.Lock()  # the spooling thread submits while the poll's thread reads
        self._pool: ProcessPoolExecutor | None = None
        self._ready: Future[bool] | None = None  # the new worker's first task: it can work
        self._started = 0
        self._in_process = False  # set when no worker can be started here

    def __enter__(self) -> Readers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._discard(wait=True)

    def start(self) -> None:
        """Start the worker now, on this thread, while other work goes on."""
        with self._lock:
            self._start()

    def submit(self, path: Path, size: int) -> Pending:
        """Start reading the message at `path` (`size` bytes) in the worker, if one is running."""
        if size > WORKER_MAX_BYTES:
            return Pending(path, size, None, 0, in_worker=False)
        with self._lock:
            if self._pool is not None:
                try:
                    return Pending(path, size, self._pool.submit(_read_in_worker, path), self._started)
                except BrokenProcessPool:  # it died since the last submission: `result` starts another
                    self._retire()
            return Pending(path, size, None, 0, in_worker=not self._in_process)

    def result(self, pending: Pending) -> Reading:
        """The reading of `pending`, waiting for the worker if need be."""
        if not pending.in_worker:
            return read_kept(pending.path, *self._args)
        if pending.future is None:  # handed over while no worker was running
            self.start()
            return self.result(self.submit(pending.path, pending.size))
        try:
            return pending.future.result()
        except BrokenProcessPool:
            with self._lock:
                # The worker takes messages in order and this is the oldest not yet read: if
                # its worker is the one still in place, it died on this message, unless it
                # never got going at all.
                culprit = pending.worker == self._started and self._pool is not None
                if culprit:
                    culprit = self._retire()
            if culprit:
                log.debug("the reading worker died on %s", pending.path)
                return ReadingFailed("读取此邮件时解析进程意外退出（可能是某个附件触发了解码程序的缺陷）", "")
        except CancelledError:
            pass
        # An earlier message killed the worker that had this one queued: read it anew.
        self.start()
        return self.result(self.submit(pending.path, pending.size))

    def _start(self) -> None:
        if self._pool is not None or self._in_process:
            return
        try:
            self._pool = ProcessPoolExecutor(1, _forkserver(), _take_arguments, (os.getpid(), *self._args))
            self._started += 1
            self._ready = self._pool.submit(_ready)  # the pool starts its worker for it
        except Exception as exc:  # no process can be made here: read in this one
            log.debug("no reading worker could start (%r); reading in this process", exc)
            self._discard(wait=False)
            self._in_process = True

    def _retire(self) -> bool:
        """Drop the worker in place, which has died; False if it never got going, and then
        read in this process from now on."""
        assert self._ready is not None
        # Its first task ended with the pool: done, or failed with it.
        started = self._ready.exception(timeout=_DEATH_SECONDS) is None
        if not started:
            log.debug("no reading worker could start; reading in this process")
            self._in_process = True
        self._discard(wait=False)
        return started

    def _discard(self, wait: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


_DEATH_SECONDS = 10  # a dead worker's pool fails its waiting tasks at once; this is a safety net


def _ready() -> bool:
    return True


_arguments: tuple[tuple[FormDefinition, ...], Converter | None, tzinfo] | None = None


def _take_arguments(
    poll: int, definitions: tuple[FormDefinition, ...], convert: Converter | None, zone: tzinfo
) -> None:
    """In the worker, once: end with the process `poll` that reads the results, and keep
    what every reading needs."""
    global _arguments
    threading.Thread(target=_end_with, args=(poll,), name="baosong-watch", daemon=True).start()
    _arguments = (definitions, convert, zone)


def _end_with(poll: int) -> None:
    """End this worker when the process `poll` ends, however it ends (a poll killed with
    SIGKILL says nothing: the worker, waiting for work, would wait for ever, and keep the
    process it was forked from waiting for it)."""
    try:
        watched = os.pidfd_open(poll)
    except ProcessLookupError:  # gone already
        os._exit(0)
    except AttributeError:  # not Linux: nothing to watch with; the worker ends with its pool
        return
    select.select([watched], [], [])
    os._exit(0)


def _read_in_worker(path: Path) -> Reading:
    assert _arguments is not None
    return read_kept(path, *_arguments)


def prepare() -> None:
    """Start the process that workers are forked from now, so that it has loaded the readers
    by the time a poll first needs a worker. Safe from any thread: it is a new interpreter.
    Where no process can be started, nothing is: messages are then read in this one."""
    _forkserver()
    try:
        multiprocessing.forkserver.ensure_running()
    except Exception as exc:  # `Readers` finds out again, and reads here
        log.debug("the process that workers come from could not start (%r)", exc)


def _forkserver() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_WORKER_MODULES)  # heeded when the server starts
    return context


def read_ahead(paths: Iterable[Path], readers: Readers, held: int) -> Iterator[Pending]:
    """Submit the spooled messages at `paths` at most `held` bytes ahead of the caller."""
    window: deque[Pending] = deque()
    waiting = 0
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0  # `read_kept` will say why it cannot be read
        window.append(readers.submit(path, size))
        waiting += size
        while window and waiting > held:
            waiting -= window[0].size
            yield window.popleft()
    yield from window
