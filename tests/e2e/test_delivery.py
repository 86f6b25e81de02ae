"""At-least-once delivery: the same S3 event arriving again must not create a second remote task
or a second notification, whether it comes after the upload is done or while it is in flight."""

from __future__ import annotations

import time

from declick.local.fake_vendor import Reply
from tests.e2e import audio
from tests.e2e.helpers import assert_notification_shape, settle


def _event_bodies(pipeline, key_fragment: str) -> list[str]:
    """The exact SQS bodies (S3 event notifications) the submit function received for a key."""
    submit = pipeline.emulator.function_by_handler("submit_task").name
    return [
        body
        for batch in pipeline.emulator.batch_log
        if batch.function == submit
        for body in batch.bodies
        if key_fragment in body
    ]


def _redeliver(pipeline, body: str, copies: int = 1) -> None:
    sqs = pipeline.emulator.client("sqs")
    url = pipeline.emulator.queue_for_function("submit_task")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": body} for i in range(copies)])


def _executions_named(pipeline, name: str) -> list[dict]:
    # Execution names are `<task id>-<digest of the upload and task id>` (submission.execution_name).
    return [e for e in pipeline.emulator.executions() if e["name"].rsplit("-", 1)[0] == name]


def test_event_delivered_again_after_completion(vendor_pipeline, vendor):
    vendor.script_create(Reply.created("task-again"))
    vendor.script_task("task-again", Reply.result(3, voice_result=vendor.serve_file("again.mp3", audio.mp3())))
    posts = len(vendor.created_tasks())
    upload = vendor_pipeline.upload("dup/after-done.wav", audio.wav())
    (first,) = settle(vendor_pipeline, [upload])
    assert_notification_shape(first, "SUCCEEDED")
    (body,) = _event_bodies(vendor_pipeline, "after-done")

    _redeliver(vendor_pipeline, body)
    (again,) = settle(vendor_pipeline, [upload])  # still exactly one
    assert again == first
    assert len(_event_bodies(vendor_pipeline, "after-done")) == 2  # the duplicate really was processed
    assert len(vendor.created_tasks()) == posts + 1
    assert len(_executions_named(vendor_pipeline, "task-again")) == 1
    assert list(vendor_pipeline.output_objects()).count("dup/after-done.mp3") == 1


def test_event_delivered_twice_more_while_in_flight(vendor_pipeline, vendor):
    vendor.script_create(Reply.created("task-inflight"))
    vendor.script_task(
        "task-inflight",
        Reply.result(2, wait_time="1"),
        Reply.result(2, wait_time="1"),
        Reply.result(3, voice_result=vendor.serve_file("inflight.mp3", audio.mp3())),
    )
    posts = len(vendor.created_tasks())
    upload = vendor_pipeline.upload("dup/in-flight.wav", audio.wav())
    deadline = time.monotonic() + 30
    # The execution starts inside the submit call; the batch is logged only when that call returns.
    while time.monotonic() < deadline and not (
        _executions_named(vendor_pipeline, "task-inflight") and _event_bodies(vendor_pipeline, "in-flight")
    ):
        time.sleep(0.05)
    (execution,) = _executions_named(vendor_pipeline, "task-inflight")
    assert execution["status"] == "RUNNING"
    (body,) = _event_bodies(vendor_pipeline, "in-flight")

    _redeliver(vendor_pipeline, body, copies=2)
    (note,) = settle(vendor_pipeline, [upload])
    assert_notification_shape(note, "SUCCEEDED")
    assert len(_event_bodies(vendor_pipeline, "in-flight")) == 3
    assert len(vendor.created_tasks()) == posts + 1
    assert len(_executions_named(vendor_pipeline, "task-inflight")) == 1
