"""Result files: their in-progress names, and closing a task together with its file.

A worker writes `<result>.part` and the engine encodes through `<result>.part.partial`
(declick.engine.io writes `<destination>.partial` and renames it), so a file under either name
is never a finished result.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from declick.service.store import Task, TaskStore
from declick_contract.api import Status

log = logging.getLogger("declick.service")

PART_SUFFIX = ".part"
# What a worker may leave next to `result_path` if it dies mid-task.
PARTIAL_SUFFIXES = (PART_SUFFIX, PART_SUFFIX + ".partial")


def part_path(result_path: str) -> Path:
    return Path(result_path + PART_SUFFIX)


def remove_partials(result_path: str) -> None:
    for suffix in PARTIAL_SUFFIXES:
        Path(result_path + suffix).unlink(missing_ok=True)


def close_task(
    store: TaskStore, task: Task, reason: str, *, only_from: Iterable[Status], now: float | None = None
) -> bool:
    """Move the task to CLOSED (if it is still in one of `only_from`) and delete its result file."""
    if not store.finish(task.id, Status.CLOSED, reason, only_from=list(only_from), now=now):
        return False
    if task.result_path:
        Path(task.result_path).unlink(missing_ok=True)
    store.clear_result(task.id)
    return True


def expire_result(store: TaskStore, task: Task, now: float | None = None) -> None:
    """A finished result past its lifetime: the file goes, the task becomes closed."""
    if close_task(store, task, "result expired", only_from=[Status.COMPLETE], now=now):
        log.info("result expired", extra={"task_id": task.id})
