"""Working ahead in threads of their own: order, bounds, failures where they happen, a clean stop,
and a body's pieces read only by the fetching thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

import pytest

from ingest.ahead import Ahead, bodies_ahead


def test_items_come_in_order_and_all_of_them() -> None:
    with Ahead(iter(range(1000)), "test", held=3) as ahead:
        assert list(ahead) == list(range(1000))


def test_a_failure_comes_out_where_it_happened() -> None:
    def fetch() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("连接中断")

    got = []
    with Ahead(fetch(), "test", held=10) as ahead, pytest.raises(ConnectionError, match="连接中断"):
        for item in ahead:
            got.append(item)
    assert got == [1, 2]


def test_leaving_early_stops_the_producer_and_closes_it_in_its_own_thread() -> None:
    produced: list[int] = []
    closed_in: list[str] = []

    def fetch() -> Iterator[int]:
        try:
            for n in range(10_000):
                produced.append(n)
                yield n
        finally:
            closed_in.append(threading.current_thread().name)

    with Ahead(fetch(), "baosong-test", held=2) as ahead:
        for item in ahead:
            if item == 5:
                break

    assert closed_in == ["baosong-test"]
    assert len(produced) < 20  # it stopped: the bound held it back, then the stop ended it


def test_the_producer_runs_while_the_consumer_works() -> None:
    """The second item is produced before the first is done with: the two overlap."""
    first_taken = threading.Event()
    second_made = threading.Event()

    def fetch() -> Iterator[int]:
        yield 1
        first_taken.wait(5)
        second_made.set()
        yield 2

    with Ahead(fetch(), "test", held=10) as ahead:
        items = iter(ahead)
        assert next(items) == 1
        first_taken.set()
        assert second_made.wait(5)  # while this thread still "works" on item 1
        assert next(items) == 2


def test_the_bound_is_by_weight_and_a_heavy_item_still_passes_alone() -> None:
    made: list[int] = []
    weights = [4, 4, 4, 30, 1, 1]

    def fetch() -> Iterator[int]:
        for w in weights:
            made.append(w)
            yield w

    with Ahead(fetch(), "test", held=10, weight=lambda w: w) as ahead:
        _settle(lambda: len(made) >= 3)
        assert made == [4, 4, 4]  # the third is made, and waits: 4 + 4 + 4 would pass 10
        assert list(ahead) == weights  # the 30 passed, alone


def _settle(reached: Callable[[], bool]) -> None:
    """Wait (briefly) for another thread to reach a state, then give it time to go past it."""
    pause = threading.Event()
    for _ in range(100):
        if reached():
            break
        pause.wait(0.01)
    pause.wait(0.05)


class _Connection:
    """A mailbox connection that may only be read by one thread at a time: as imaplib's."""

    def __init__(self) -> None:
        self.readers: set[str] = set()

    def read(self, what: bytes) -> bytes:
        self.readers.add(threading.current_thread().name)
        return what


def _streamed(connection: _Connection, bodies: dict[str, list[bytes]]) -> Iterator[tuple[str, Iterable[bytes]]]:
    for key, pieces in bodies.items():
        yield key, (connection.read(p) for p in pieces)  # lazy: read when the pieces are taken


def test_bodies_come_whole_and_in_order_and_only_the_fetching_thread_reads_the_connection() -> None:
    bodies = {f"{n}": [f"{n}-{i}".encode() for i in range(n % 4)] for n in range(50)}
    connection = _Connection()
    with bodies_ahead(_streamed(connection, bodies), held=8) as arriving:
        got = {key: list(pieces) for key, pieces in arriving}
    assert got == bodies
    assert connection.readers == {"baosong-fetch"}


def test_pieces_left_untaken_are_skipped() -> None:
    bodies = {"1": [b"a", b"b"], "2": [b"c"], "3": [b"d", b"e"]}
    with bodies_ahead(_streamed(_Connection(), bodies)) as arriving:
        keys = []
        for key, pieces in arriving:
            keys.append(key)
            if key == "2":
                assert list(pieces) == [b"c"]
    assert keys == ["1", "2", "3"]


def test_a_failure_in_the_middle_of_a_body_comes_out_of_its_pieces() -> None:
    def broken() -> Iterator[bytes]:
        yield b"first piece"
        raise ConnectionError("连接中断")

    def fetch() -> Iterator[tuple[str, Iterable[bytes]]]:
        yield "1", [b"whole"]
        yield "2", broken()
        yield "3", [b"never"]

    with bodies_ahead(fetch()) as arriving:
        items = iter(arriving)
        key, pieces = next(items)
        assert (key, list(pieces)) == ("1", [b"whole"])
        key, pieces = next(items)
        assert key == "2"
        assert next(pieces) == b"first piece"
        with pytest.raises(ConnectionError, match="连接中断"):
            next(pieces)
