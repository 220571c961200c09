"""Fetching ahead in a thread of its own: order, failures where they happen, a clean stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ingest.ahead import Ahead


def test_items_come_in_order_and_all_of_them() -> None:
    with Ahead(iter(range(1000)), depth=3) as ahead:
        assert list(ahead) == list(range(1000))


def test_a_failure_comes_out_where_it_happened() -> None:
    def fetch() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionError("连接中断")

    got = []
    with Ahead(fetch()) as ahead, pytest.raises(ConnectionError, match="连接中断"):
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

    with Ahead(fetch(), depth=2) as ahead:
        for item in ahead:
            if item == 5:
                break

    assert closed_in == ["baosong-fetch"]
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

    with Ahead(fetch()) as ahead:
        items = iter(ahead)
        assert next(items) == 1
        first_taken.set()
        assert second_made.wait(5)  # while this thread still "works" on item 1
        assert next(items) == 2
