"""A vendor outage longer than the tolerance (scaled down to seconds here): FAILED, with the reason."""

from __future__ import annotations

from declick.local.fake_vendor import Reply
from tests.e2e import audio
from tests.e2e.helpers import assert_notification_shape, settle

TOLERANCE_SECONDS = 3
PIPELINE_ENV = {
    "API_MAX_RETRIES": "0",
    "VENDOR_OUTAGE_TOLERANCE_SECONDS": str(TOLERANCE_SECONDS),
    "MAX_POLLS": "50",
}


def test_outage_past_the_tolerance_fails_with_the_vendor_error(vendor_pipeline, vendor):
    task_id = "task-long-outage"
    vendor.script_create(Reply.created(task_id))
    vendor.script_task(task_id, Reply.result(2, wait_time="0"), Reply.http(503, body="down"))  # 503 from then on
    upload = vendor_pipeline.upload("outage/long.wav", audio.wav())
    (note,) = settle(vendor_pipeline, [upload])

    assert_notification_shape(note, "FAILED")
    assert note["error"]["code"] == "REMOTE_API_UNAVAILABLE"
    assert "consecutive polls" in note["error"]["message"] and "503" in note["error"]["message"]
    assert note["task"]["id"] == task_id and note["task"]["remote_status"] == 2
    failed_polls = len(vendor.received("GET", f"/v3/pic/ecr/result/{task_id}")) - 1
    # Backoff 1 s then 2 s (the local wait cap): the outage reaches 3 s on the third failed poll
    # at the earliest; not given up at the first error, and not left to the poll cap either.
    assert 3 <= failed_polls < 50
    assert not vendor_pipeline.output_objects()
    execution = next(e for e in vendor_pipeline.emulator.executions() if e["name"].startswith(f"{task_id}-"))
    assert execution["status"] == "FAILED"  # a give-up is an ops problem: PipelineFailed, after the notification
