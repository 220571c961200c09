"""Fetching ahead: the mailbox sends the next bodies while the last ones are parsed and filed.

Over a real network a poll waits on the mailbox for most of its time. A thread of its own reads
the fetch (mailbox → spool) and hands over what has landed; the poll works on each message as
soon as it is in the spool, so the two waits overlap instead of adding up. The thread is the
only user of the mailbox connection while it runs; the poll's thread is the only user of the
database.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

# How many landed items may wait for the poll. They are small (a spooled body is a file name);
# the bound only stops a fetch running away from a poll that has stopped taking.
DEPTH = 256
_POLL_SECONDS = 0.1  # how often a blocked hand-over looks whether it is still wanted


class _Done:
    pass


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Ahead(Generic[T]):
    """The items of `items`, produced in a thread of their own while the caller works.

    Iterate it in a `with` block: an exception in the thread comes out of the iteration at
    the place of the item that failed, and leaving the block stops the thread after the item
    in hand (a FETCH under way is finished, not cut).
    """

    def __init__(self, items: Iterable[T], depth: int = DEPTH) -> None:
        self._items = items
        self._landed: queue.Queue[T | _Done | _Failed] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="baosong-fetch", daemon=True)

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
            landed = self._landed.get()
            if isinstance(landed, _Done):
                return
            if isinstance(landed, _Failed):
                raise landed.error
            yield landed

    def _produce(self) -> None:
        items = iter(self._items)
        try:
            for item in items:
                if not self._hand_over(item):
                    return
        except BaseException as error:  # handed to the caller's thread, raised there
            self._hand_over(_Failed(error))
            return
        finally:
            if isinstance(items, Generator):
                items.close()  # here, in the thread that ran it: its clean-up touches the mailbox
        self._hand_over(_Done())

    def _hand_over(self, item: T | _Done | _Failed) -> bool:
        while not self._stop.is_set():
            try:
                self._landed.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False
