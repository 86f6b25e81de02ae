"""An upload whose submission keeps failing is redriven to the DLQ and still gets its one notification."""

from __future__ import annotations

from declick.local.fake_vendor import Reply
from tests.e2e import audio
from tests.e2e.helpers import assert_notification_shape, settle

# No client-side retries: each SQS receive makes exactly one attempt, so the redrive plays out fast.
PIPELINE_ENV = {"API_MAX_RETRIES": "0"}


def test_submission_failing_every_time_ends_in_the_dead_letter_report(vendor_pipeline, vendor):
    vendor.script_create(*[Reply.http(503, body="down for maintenance")] * 20)
    upload = vendor_pipeline.upload("dlq/unlucky.wav", audio.wav())
    (note,) = settle(vendor_pipeline, [upload])
    assert_notification_shape(note, "FAILED", has_task=False)
    assert note["error"]["code"] == "SUBMIT_FAILED"
    attempts = len(vendor.created_tasks())
    receive_limit = int(
        next(
            r.properties["RedrivePolicy"]["maxReceiveCount"]
            for r in vendor_pipeline.emulator.template.of_type("AWS::SQS::Queue")
            if "RedrivePolicy" in r.properties
        )
    )
    assert attempts == receive_limit  # one POST per receive, all refused: no remote task exists
    dead_letter_fn = vendor_pipeline.emulator.function_by_handler("report_dead_letter").name
    assert vendor_pipeline.emulator.runtime.counts()[dead_letter_fn] >= 1
    assert vendor_pipeline.dead_letters() == 0  # the DLQ message was reported and consumed
    assert not vendor_pipeline.output_objects()
