"""Fifty uploads at once through the stack and our own service: fifty of everything, nothing lost."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e import audio
from tests.e2e.helpers import assert_notification_shape, settle

UPLOADS = 50


@pytest.mark.slow
def test_fifty_uploads_at_once(service_pipeline):
    tasks_before = len(service_pipeline.service_tasks())
    body = audio.wav(seconds=0.4, seed=5)
    uploads = [service_pipeline.upload(f"load/{i:02d}/take {i}.wav", body) for i in range(UPLOADS)]
    notes = settle(service_pipeline, uploads, timeout=240)

    assert Counter(n["status"] for n in notes) == {"SUCCEEDED": UPLOADS}
    for note in notes:
        assert_notification_shape(note, "SUCCEEDED")
    outputs = service_pipeline.output_objects()
    assert {n["output"]["key"] for n in notes} == {f"load/{i:02d}/take {i}.mp3" for i in range(UPLOADS)} <= set(outputs)
    tasks = service_pipeline.service_tasks()[tasks_before:]
    assert len(tasks) == UPLOADS and {t.id for t in tasks} == {n["task"]["id"] for n in notes}
    assert service_pipeline.dead_letters() == 0
    ids = {t.id for t in tasks}
    executions = [e for e in service_pipeline.emulator.executions() if e["name"].rsplit("-", 1)[0] in ids]
    assert Counter(e["status"] for e in executions) == {"SUCCEEDED": UPLOADS}
