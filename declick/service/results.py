"""Result files: their in-progress names, and closing a task together with its file.

Each run attempt writes its own `<task>.<attempt>-<random>.<ext>.part` (so a restarted run never
shares a file with an orphan of a crashed one) and the engine encodes through `<part>.partial`
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
ENGINE_TEMP_SUFFIX = ".partial"  # declick.engine.io's own temporary name next to its destination


def part_path(results_dir: Path, scratch: str, ext: str) -> Path:
    """Where one run attempt (`scratch` is unique per attempt) writes its result before the rename."""
    return results_dir / f"{scratch}.{ext}{PART_SUFFIX}"


def remove_partials(part: str) -> None:
    """Remove what a run attempt may leave behind: its part file and the engine's temporary."""
    for path in (part, part + ENGINE_TEMP_SUFFIX):
        Path(path).unlink(missing_ok=True)


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
