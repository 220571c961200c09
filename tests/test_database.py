"""`Database`: a transaction held on a thread is joined by every write on that thread, and only there."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from store.database import Database

metadata = MetaData()
numbers = Table("numbers", metadata, Column("n", Integer, primary_key=True))


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'test.sqlite3'}")
    metadata.create_all(database.engine)
    return database


def stored(db: Database) -> list[int]:
    with db.engine.connect() as conn:
        return [n for (n,) in conn.execute(select(numbers.c.n).order_by(numbers.c.n))]


def put(db: Database, n: int) -> None:
    with db.begin() as conn:
        conn.execute(insert(numbers).values(n=n))


def test_writes_in_a_held_transaction_are_committed_together_at_its_end(db: Database) -> None:
    with db.transaction():
        put(db, 1)
        with db.transaction():  # nested: joins
            put(db, 2)
        assert stored(db) == []  # another connection sees nothing yet
        with db.connect() as conn:  # reading on this thread sees what it wrote
            assert [n for (n,) in conn.execute(select(numbers.c.n))] == [1, 2]
    assert stored(db) == [1, 2]


def test_a_held_transaction_that_raises_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        put(db, 1)
        raise RuntimeError("the ack could not be built")
    assert stored(db) == []
    put(db, 3)  # the thread holds nothing any more: this commits on its own
    assert stored(db) == [3]


def test_another_thread_does_not_join_the_held_transaction(db: Database) -> None:
    with db.transaction():
        put(db, 1)
        other = threading.Thread(target=lambda: put(db, 2))
        other.start()
        other.join(0.5)
        assert other.is_alive()  # its own transaction waits for ours to commit (busy_timeout)
    other.join(30)
    assert stored(db) == [1, 2]
