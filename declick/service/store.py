"""Durable task store on SQLite.

The service promises that a restart loses nothing, so every state change is a committed row
before anyone is told about it (WAL journal, `synchronous=FULL`). One connection serves the
whole process behind a lock: the HTTP handlers and the scheduler thread are the only writers,
the worker processes never touch the database (they get a job and hand back a result), so
there is no cross-process locking to get wrong.

Queue order is `priority` ascending (0 is served first) and then `seq`, the insertion order.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from declick_contract.api import Status
from declick_contract.task_request import RequestedTask

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    appkey         TEXT NOT NULL,
    status         INTEGER NOT NULL,
    priority       INTEGER NOT NULL,
    created_at     REAL NOT NULL,
    started_at     REAL,
    finished_at    REAL,
    file_link      TEXT NOT NULL,
    file_size      INTEGER NOT NULL,
    file_md5       TEXT NOT NULL,
    file_time      REAL NOT NULL,
    input_ext      TEXT NOT NULL,
    detection_mult REAL NOT NULL,
    click_len      INTEGER NOT NULL,
    output_ext     TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    reason         TEXT NOT NULL DEFAULT '',
    result_token   TEXT UNIQUE,
    result_path    TEXT,
    result_size    INTEGER,
    expires_at     REAL,
    audio_seconds  REAL,
    engine_seconds REAL,
    wall_seconds   REAL,
    clicks         INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (status, priority, seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Task(RequestedTask):
    """A row of ``tasks``: the request (the contract's fields first) and the store's bookkeeping."""

    seq: int
    id: str
    appkey: str
    status: int
    priority: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    reason: str
    result_token: str | None
    result_path: str | None
    result_size: int | None
    expires_at: float | None
    audio_seconds: float | None
    engine_seconds: float | None
    wall_seconds: float | None
    clicks: int | None


_COLUMNS = [f.name for f in fields(Task)]
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM tasks"  # noqa: S608 - fixed column list


@dataclass(frozen=True)
class NewTask(RequestedTask):
    id: str
    appkey: str
    priority: int


class TaskStore:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, params: Iterable = ()) -> list[Task]:
        with self._lock:
            return [Task(*row) for row in self._db.execute(sql, tuple(params)).fetchall()]

    def _one(self, sql: str, params: Iterable = ()) -> Task | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def insert(self, new: NewTask, max_waiting: int | None = None, now: float | None = None) -> bool:
        """Queue a task; False if `max_waiting` tasks are already waiting."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if max_waiting is not None:
                    (waiting,) = self._db.execute(
                        "SELECT COUNT(*) FROM tasks WHERE status = ?", (int(Status.WAITING),)
                    ).fetchone()
                    if waiting >= max_waiting:
                        self._db.execute("ROLLBACK")
                        return False
                self._db.execute(
                    "INSERT INTO tasks (id, appkey, status, priority, created_at, file_link, file_size, file_md5,"
                    " file_time, input_ext, detection_mult, click_len, output_ext)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        new.id,
                        new.appkey,
                        int(Status.WAITING),
                        new.priority,
                        now,
                        new.file_link,
                        new.file_size,
                        new.file_md5,
                        new.file_time,
                        new.input_ext,
                        new.detection_mult,
                        new.click_len,
                        new.output_ext,
                    ),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return True

    def get(self, task_id: str) -> Task | None:
        return self._one(f"{_SELECT} WHERE id = ?", (task_id,))

    def by_token(self, token: str) -> Task | None:
        return self._one(f"{_SELECT} WHERE result_token = ?", (token,))

    def with_status(self, *statuses: Status) -> list[Task]:
        marks = ", ".join("?" for _ in statuses)
        return self._rows(
            f"{_SELECT} WHERE status IN ({marks}) ORDER BY priority, seq",  # noqa: S608 - placeholders only
            [int(s) for s in statuses],
        )

    def counts(self) -> dict[int, int]:
        with self._lock:
            return dict(self._db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall())

    def claim_next(self, now: float | None = None) -> Task | None:
        """Move the first waiting task to in-progress and return it."""
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM tasks WHERE status = ? ORDER BY priority, seq LIMIT 1", (int(Status.WAITING),)
            ).fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE tasks SET status = ?, started_at = ?, attempts = attempts + 1 WHERE id = ? AND status = ?",
                (int(Status.IN_PROGRESS), now, row[0], int(Status.WAITING)),
            )
            return self.get(row[0])

    def complete(
        self,
        task_id: str,
        *,
        token: str,
        path: str,
        size: int,
        expires_at: float,
        audio_seconds: float,
        engine_seconds: float,
        wall_seconds: float,
        clicks: int | None,
        now: float | None = None,
    ) -> bool:
        """Mark a running task complete; False if it was closed or timed out meanwhile."""
        now = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute(
                "UPDATE tasks SET status = ?, finished_at = ?, result_token = ?, result_path = ?, result_size = ?,"
                " expires_at = ?, audio_seconds = ?, engine_seconds = ?, wall_seconds = ?, clicks = ?, reason = ''"
                " WHERE id = ? AND status = ?",
                (
                    int(Status.COMPLETE),
                    now,
                    token,
                    path,
                    size,
                    expires_at,
                    audio_seconds,
                    engine_seconds,
                    wall_seconds,
                    clicks,
                    task_id,
                    int(Status.IN_PROGRESS),
                ),
            )
            return cur.rowcount == 1

    def finish(
        self, task_id: str, status: Status, reason: str, *, only_from: Iterable[Status], now: float | None = None
    ) -> bool:
        """Move a task to a terminal `status` if it is currently in one of `only_from`."""
        now = time.time() if now is None else now
        allowed = [int(s) for s in only_from]
        marks = ", ".join("?" for _ in allowed)
        with self._lock:
            cur = self._db.execute(
                f"UPDATE tasks SET status = ?, reason = ?, finished_at = ? WHERE id = ? AND status IN ({marks})",  # noqa: S608
                (int(status), reason, now, task_id, *allowed),
            )
            return cur.rowcount == 1

    def requeue(self, task_id: str, *, refund_attempt: bool = False) -> bool:
        """Put an in-progress task back in the queue; a clean shutdown does not count as an attempt."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE tasks SET status = ?, started_at = NULL, attempts = MAX(0, attempts - ?)"
                " WHERE id = ? AND status = ?",
                (int(Status.WAITING), 1 if refund_attempt else 0, task_id, int(Status.IN_PROGRESS)),
            )
            return cur.rowcount == 1

    def clear_result(self, task_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE tasks SET result_token = NULL, result_path = NULL WHERE id = ?", (task_id,))

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
