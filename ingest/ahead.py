"""Working ahead: the mailbox sends the next bodies while the last ones are spooled and filed.

Over a real network a poll waits on the mailbox for most of its time. A poll therefore runs as
three stages, each in a thread of its own, joined by bounded hand-overs (`Ahead`):

    fetch (mailbox → pieces) → spool (pieces → durable files) → record and file (database)

The fetching thread only talks to the mailbox, so the next FETCH goes out as soon as the last
one has arrived; the spooling thread writes and fsyncs (and hands each spooled body to the
reading worker, `readers.py`) while the poll's thread files the message before. Each thread is
the only user of what it touches: the mailbox connection, the spool, the database.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")

# How many bytes of fetched pieces may wait for the spool: about two FETCH groups, so that the
# mailbox never waits for the disk, while a poll that has stopped taking holds no more.
HELD_BYTES = 32 * 1024 * 1024
_POLL_SECONDS = 0.1  # how often a blocked hand-over looks whether it is still wanted


class _Done:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Ahead(Generic[T]):
    """The items of `items`, produced in a thread of their own while the caller works, at most
    `held` (as counted by `weight`, one per item unless told) ahead of it.

    Iterate it in a `with` block: an exception in the thread comes out of the iteration at the
    place of the item that failed, and leaving the block stops the thread after the item in
    hand (a FETCH under way is finished, not cut). An item heavier than `held` still passes,
    alone: it is delayed, never refused.
    """

    def __init__(
        self, items: Iterable[T], name: str, held: int, weight: Callable[[T], int] = lambda _: 1
    ) -> None:
        self._items = items
        self._budget = held
        self._weight = weight
        self._held = 0
        self._waiting: deque[tuple[T | _Done | _Failed, int]] = deque()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)

    def __enter__(self) -> Ahead[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def __iter__(self) -> Iterator[T]:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._waiting))
                landed, weight = self._waiting.popleft()
                self._held -= weight
                self._changed.notify_all()
            if isinstance(landed, _Done):
                return
            if isinstance(landed, _Failed):
                raise landed.error
            yield landed

    def _produce(self) -> None:
        items = iter(self._items)
        try:
            for item in items:
                if not self._hand_over(item, self._weight(item)):
                    return
        except BaseException as error:  # handed to the caller's thread, raised there
            self._hand_over(_Failed(error), 0)
            return
        finally:
            _close(items)  # here, in the thread that ran it: its clean-up may touch the mailbox
        self._hand_over(_Done(), 0)

    def _hand_over(self, landed: T | _Done | _Failed, weight: int) -> bool:
        with self._changed:
            while self._held and self._held + weight > self._budget:
                if self._stop.is_set():
                    return False
                self._changed.wait(_POLL_SECONDS)
            if self._stop.is_set():
                return False
            self._waiting.append((landed, weight))
            self._held += weight
            self._changed.notify_all()
            return True


class _Body(Generic[K]):
    """Where the pieces of the body of `key` begin in a stream of pieces."""

    def __init__(self, key: K) -> None:
        self.key = key


class _BodyEnd:
    pass


_Piece = _Body[K] | bytes | _BodyEnd


@contextmanager
def bodies_ahead(
    bodies: Iterable[tuple[K, Iterable[bytes]]], held: int = HELD_BYTES
) -> Iterator[Iterator[tuple[K, Iterator[bytes]]]]:
    """The bodies of `bodies` (each a key and its pieces), read by a fetching thread at most
    `held` bytes ahead. Take each body's pieces before asking for the next body (pieces left
    untaken are skipped): the thread reads a body's pieces itself, so that a source streaming a
    large body from its connection is only ever read by that thread."""
    with Ahead(_pieces_of(bodies), "baosong-fetch", held, _size) as pieces:
        yield _bodies_of(iter(pieces))


def _pieces_of(bodies: Iterable[tuple[K, Iterable[bytes]]]) -> Iterator[_Piece[K]]:
    items = iter(bodies)
    try:
        for key, pieces in items:
            yield _Body(key)
            yield from pieces
            yield _BodyEnd()
    finally:
        _close(items)


def _bodies_of(pieces: Iterator[_Piece[K]]) -> Iterator[tuple[K, Iterator[bytes]]]:
    for piece in pieces:
        if isinstance(piece, _Body):
            yield piece.key, _until_end(pieces)


def _until_end(pieces: Iterator[_Piece[K]]) -> Iterator[bytes]:
    for piece in pieces:
        if not isinstance(piece, bytes):
            return  # _BodyEnd: a body's pieces are always closed before the next begins
        yield piece


def _size(piece: _Piece[K]) -> int:
    return len(piece) if isinstance(piece, bytes) else 0


def _close(items: Iterator[object]) -> None:
    if isinstance(items, Generator):
        items.close()
