"""A vendor outage while polling, then recovery: the upload waits it out and SUCCEEDS (issue: vendor blip).

Each failing poll is one request (no client-side retries here), and the state machine loops
back to its Wait with a backed-off wait instead of failing the upload.
"""

from __future__ import annotations

import json

from declick.local.fake_vendor import Reply
from tests.e2e import audio
from tests.e2e.helpers import assert_notification_shape, settle

PIPELINE_ENV = {"API_MAX_RETRIES": "0", "VENDOR_OUTAGE_TOLERANCE_SECONDS": "600", "MAX_POLLS": "20"}


def _poll_outputs(pipeline, task_id):
    execution = next(e for e in pipeline.emulator.executions() if e["name"].startswith(f"{task_id}-"))
    outputs = []
    for event in pipeline.emulator.execution_history(execution["executionArn"]):
        details = event.get("lambdaFunctionSucceededEventDetails") or event.get("taskSucceededEventDetails")
        if details:
            output = json.loads(details["output"])
            output = output.get("Payload", output)
            if "polls" in output:
                outputs.append(output)
    return execution, outputs


def test_outage_of_several_polls_then_recovery_succeeds(vendor_pipeline, vendor):
    result_url = vendor.serve_file("outage.mp3", audio.mp3(seed=4), "audio/mpeg")
    task_id = "task-outage"
    vendor.script_create(Reply.created(task_id))
    vendor.script_task(
        task_id,
        Reply.result(2, wait_time="0"),
        Reply.http(503, body="maintenance"),
        Reply.http(429, retry_after="0"),
        Reply.raw("<html>bad gateway</html>"),  # a 200 we cannot read
        Reply.http(502),
        Reply.result(3, voice_result=result_url),
    )
    upload = vendor_pipeline.upload("outage/take.wav", audio.wav())
    (note,) = settle(vendor_pipeline, [upload])

    assert_notification_shape(note, "SUCCEEDED")
    assert note["task"]["id"] == task_id and note["task"]["polls"] == 6
    assert vendor_pipeline.output_objects()["outage/take.mp3"] == audio.mp3(seed=4)
    assert len(vendor.received("GET", f"/v3/pic/ecr/result/{task_id}")) == 6
    assert len(vendor.created_tasks()) == 1  # the paid remote task was kept, not abandoned
    execution, polls = _poll_outputs(vendor_pipeline, task_id)
    assert execution["status"] == "SUCCEEDED"
    assert [p["retry"] for p in polls] == [False, True, True, True, True, False]
    assert [p["errors"] for p in polls] == [0, 1, 2, 3, 4, 0]
    assert polls[3]["last_error"] == "RemoteApiResponseError"
    waits = [p["wait_seconds"] for p in polls[1:5]]
    assert waits == sorted(waits) and waits[-1] > waits[0]  # backed off (1 s, then the 2 s local cap)
