"""The SQLite side of the store: one WAL connection, its schema, transactions and cursor pages.

One connection guarded by a re-entrant lock, shared by every thread (`check_same_thread=False`):
calls from `asyncio.to_thread` workers serialise on the lock, which costs little at this scale
and keeps transactions simple. `synchronous=FULL`, so a commit that returned survives a crash
or power loss. Table and column names below come from this module, never from requests.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from ..schemas import (
    Assistant,
    File,
    ListPage,
    Message,
    Run,
    RunStep,
    Thread,
)
from .errors import InvalidRequestError, NotFoundError, StoreError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    purpose TEXT NOT NULL, expires_at INTEGER, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assistants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS threads (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    run_id TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_thread ON messages(thread_id, seq);
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
    status TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_thread ON runs(thread_id, seq);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs(status);
CREATE TABLE IF NOT EXISTS run_steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    thread_id TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS run_steps_by_run ON run_steps(run_id, seq);
"""

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Kind(Generic[M]):
    """A table of one object type: its model, the name errors use, and the columns kept beside
    the JSON body for lookups (read from the object's attributes of the same names)."""

    table: str
    model: type[M]
    label: str
    columns: tuple[str, ...] = ()


FILES = Kind("files", File, "file", ("purpose", "expires_at"))
ASSISTANTS = Kind("assistants", Assistant, "assistant")
THREADS = Kind("threads", Thread, "thread")
MESSAGES = Kind("messages", Message, "message", ("thread_id", "run_id"))
RUNS = Kind("runs", Run, "run", ("thread_id", "status"))
RUN_STEPS = Kind("run_steps", RunStep, "run step", ("thread_id", "run_id"))


class Database:
    def __init__(self, path: Path) -> None:
        # Autocommit mode: transactions are the explicit BEGIN IMMEDIATE in `write`.
        self._conn = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.RLock()
        self._depth = 0
        conn = self._conn
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"could not put {path} in WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        with self.write():
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{path} was written by a newer Airlock "
                    f"(schema {version}, this one knows {SCHEMA_VERSION})"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction; nested uses join the outer one. IMMEDIATE takes the write lock at
        BEGIN, so a read-then-write inside cannot fail half-way on another process's write."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._conn
            except BaseException:
                self._depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    # ------------------------------------------------------------ rows

    def insert(self, kind: Kind[M], obj: M) -> M:
        cols = ("id", *kind.columns, "data")
        values = [_id(obj), *(getattr(obj, c) for c in kind.columns), obj.model_dump_json()]
        with self.write() as conn:
            try:
                conn.execute(
                    f"INSERT INTO {kind.table} ({', '.join(cols)}) "
                    f"VALUES ({', '.join('?' * len(cols))})",
                    values,
                )
            except sqlite3.IntegrityError as exc:
                raise InvalidRequestError(f"cannot store {kind.label} '{_id(obj)}': {exc}") from exc
        return obj

    def replace(self, kind: Kind[M], obj: M) -> M:
        sets = ", ".join(f"{c} = ?" for c in (*kind.columns, "data"))
        values = [*(getattr(obj, c) for c in kind.columns), obj.model_dump_json(), _id(obj)]
        with self.write() as conn:
            cursor = conn.execute(f"UPDATE {kind.table} SET {sets} WHERE id = ?", values)
            if cursor.rowcount != 1:
                raise NotFoundError(kind.label, _id(obj))
        return obj

    def get(self, kind: Kind[M], object_id: str, scope: Mapping[str, str] | None = None) -> M:
        where, params = _where({"id": object_id, **(scope or {})})
        with self.read() as conn:
            row = conn.execute(f"SELECT data FROM {kind.table} {where}", params).fetchone()
        if row is None:
            raise NotFoundError(kind.label, object_id)
        return kind.model.model_validate_json(row[0])

    def select(self, kind: Kind[M], where_sql: str, params: list[Any]) -> list[M]:
        with self.read() as conn:
            rows = conn.execute(
                f"SELECT data FROM {kind.table} WHERE {where_sql} ORDER BY seq", params
            ).fetchall()
        return [kind.model.model_validate_json(row[0]) for row in rows]

    def delete(self, kind: Kind[M], object_id: str, scope: Mapping[str, str] | None = None) -> None:
        where, params = _where({"id": object_id, **(scope or {})})
        with self.write() as conn:
            if conn.execute(f"DELETE FROM {kind.table} {where}", params).rowcount != 1:
                raise NotFoundError(kind.label, object_id)

    def page(
        self,
        kind: Kind[M],
        scope: Mapping[str, Any],
        *,
        limit: int,
        order: str,
        after: str | None,
        before: str | None,
        max_limit: int = 100,
    ) -> ListPage[M]:
        """A page by insertion order (`created_at` has 1 s resolution, `seq` never ties).

        `after` walks on past the cursor in the listing order, `before` walks back from it (the
        nearest items, still returned in the listing order); `has_more` says whether items lie
        beyond this page in the direction walked, which is what the SDK's auto-pagination uses.
        """
        if not 1 <= limit <= max_limit:
            raise InvalidRequestError(f"limit must be between 1 and {max_limit}", param="limit")
        if order not in ("asc", "desc"):
            raise InvalidRequestError("order must be 'asc' or 'desc'", param="order")
        clauses = [f"{column} = ?" for column in scope]
        params = list(scope.values())
        desc = order == "desc"
        with self.read() as conn:
            if after is not None:
                clauses.append(f"seq {'<' if desc else '>'} ?")
                params.append(self._cursor(conn, kind, scope, after, "after"))
            if before is not None:
                clauses.append(f"seq {'>' if desc else '<'} ?")
                params.append(self._cursor(conn, kind, scope, before, "before"))
            backward = before is not None and after is None
            direction = "DESC" if desc != backward else "ASC"
            where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
            sql = f"SELECT data FROM {kind.table} {where} ORDER BY seq {direction} LIMIT ?"
            rows = conn.execute(sql, [*params, limit + 1]).fetchall()
        has_more = len(rows) > limit
        items = [kind.model.model_validate_json(row[0]) for row in rows[:limit]]
        if backward:
            items.reverse()
        return ListPage[M].of(items, has_more)

    @staticmethod
    def _cursor(
        conn: sqlite3.Connection, kind: Kind[M], scope: Mapping[str, Any], cursor: str, param: str
    ) -> int:
        where, params = _where({"id": cursor, **scope})
        row = conn.execute(f"SELECT seq FROM {kind.table} {where}", params).fetchone()
        if row is None:
            raise InvalidRequestError(
                f"`{param}` names no {kind.label} of this list: '{cursor}'", param=param
            )
        return int(row[0])


def _id(obj: BaseModel) -> str:
    # Every stored model has an `id`, which BaseModel (the TypeVar's bound) does not declare.
    return str(obj.__dict__["id"])


def _where(conditions: Mapping[str, Any]) -> tuple[str, list[Any]]:
    if not conditions:
        return "", []
    return (
        "WHERE " + " AND ".join(f"{column} = ?" for column in conditions),
        list(conditions.values()),
    )
