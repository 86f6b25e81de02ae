"""Assertions shared by the end-to-end tests, starting with the invariant: one notification per upload."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from declick.local.runner import LocalPipeline, Upload

SETTLE_TIMEOUT = 120.0


def settle(pipeline: LocalPipeline, uploads: Iterable[Upload], timeout: float = SETTLE_TIMEOUT) -> list[dict[str, Any]]:
    """Wait for the uploads' notifications and for the pipeline to be idle; return one notification each.

    Idle (no queued message, batch, execution or undelivered notification) is what makes
    "exactly one" meaningful: nothing else can still arrive.
    """
    uploads = list(uploads)
    finished = pipeline.wait_for(uploads, timeout=timeout)
    missing = [u.key for u in uploads if not pipeline.notifications_for(u)]
    assert finished, f"no notification within {timeout:.0f} s for {missing}"
    assert pipeline.emulator.wait_idle(timeout=timeout), "the pipeline did not go idle"
    result = []
    for upload in uploads:
        notes = pipeline.notifications_for(upload)
        assert len(notes) == 1, f"{upload.key!r} got {len(notes)} notifications: {notes}"
        result.append(notes[0])
    return result


def assert_every_upload_notified_once(pipeline: LocalPipeline) -> None:
    """The invariant over a whole pipeline's life: uploads and notifications pair up one to one."""
    assert pipeline.emulator.wait_idle(timeout=SETTLE_TIMEOUT), "the pipeline did not go idle"
    notes = [n.message for n in pipeline.all_notifications()]
    for upload in pipeline.uploads:
        mine = [n for n in notes if upload.matches(n)]
        assert len(mine) == 1, f"{upload.key!r} got {len(mine)} notifications"
    strays = [n for n in notes if not any(u.matches(n) for u in pipeline.uploads)]
    assert not strays, f"notifications for no upload: {strays}"
    assert pipeline.dead_letters() == 0


def assert_notification_shape(note: dict[str, Any], status: str, has_task: bool | None = None) -> None:
    """The contract of docs/architecture.md, "Notification".

    `task` is absent on REJECTED, and also on a FAILED for which no remote task was ever created
    (submission dead-lettered): pass `has_task=False` there.
    """
    assert note["schema_version"] == "1.0"
    assert note["status"] == status
    assert set(note["timestamps"]) >= {"uploaded_at", "notified_at"}
    if status == "SUCCEEDED":
        assert "error" not in note and note["output"]["key"]
    else:
        assert "output" not in note and note["error"]["code"] and note["error"]["message"]
    if has_task is None:
        has_task = status != "REJECTED"
    if has_task:
        assert note["task"]["id"]
    else:
        assert "task" not in note
