"""The store's database connection, shared by the tables of store/db.py and the outbox.

It is an SQLAlchemy engine with one thing more: a transaction held open on a thread
(`transaction`), which every `begin` and `connect` on that thread joins until it ends. Filing a
message, the sender address it teaches and the acknowledgment it causes are written in one
commit that way, although each is written by the part of the program it belongs to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event


class Database:
    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._held = threading.local()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold one transaction open on this thread: committed when the block ends, rolled back
        entirely if it raises. Nested, it joins the transaction already held."""
        if self._connection() is not None:
            yield
            return
        with self.engine.begin() as conn:
            self._held.conn = conn
            try:
                yield
            finally:
                self._held.conn = None

    def begin(self) -> AbstractContextManager[Connection]:
        """A connection in a transaction: the one held on this thread, else a new one that
        commits when the block ends."""
        return self._held_or(self.engine.begin)

    def connect(self) -> AbstractContextManager[Connection]:
        """A connection to read with: the one held on this thread (it sees what the held
        transaction wrote), else a new one."""
        return self._held_or(self.engine.connect)

    @contextmanager
    def _held_or(self, opening: Callable[[], AbstractContextManager[Connection]]) -> Iterator[Connection]:
        held = self._connection()
        if held is not None:
            yield held
            return
        with opening() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    def _connection(self) -> Connection | None:
        conn: Connection | None = getattr(self._held, "conn", None)
        return conn


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # a committed outcome survives a power cut
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
