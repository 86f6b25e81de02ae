"""The worker: a real download from a loopback server, the real engine, the result in (moto) S3."""

from __future__ import annotations

import hashlib
import io
import json
import time

import soundfile as sf

from declick_contract.api import Status
from declick_contract.task_request import BatchRequest
from declick_engine_backend import runtime
from declick_engine_backend.task_api import TaskApi
from declick_engine_backend.work import process
from tests.unit.engine_backend.conftest import APPKEY, LambdaContextStub
from tests.unit.service.conftest import make_audio


def _create(link: str, data: bytes, seconds: float, output: str = "wav", md5: str | None = None) -> str:
    api = TaskApi(
        runtime.settings(), runtime.table(), runtime.client("sqs"), runtime.client("s3"), runtime.authenticator
    )
    body = {
        "file_link": link,
        "file_ext": output,
        "file_info": {
            "file_size": len(data),
            "file_md5": md5 or hashlib.md5(data).hexdigest(),  # noqa: S324 - the API's checksum
            "file_time": round(seconds),
            "file_ext": "wav",
        },
        "detection_mult": 8.0,
        "click_len": 10,
        "priority": 1,
    }
    return api.create(BatchRequest.model_validate(body), APPKEY)["task_id"]


def _run(task_id: str):
    return process(task_id, runtime.settings(), runtime.table(), runtime.client("s3"))


def test_a_task_is_downloaded_cleaned_and_stored(backend, files):
    data = make_audio("wav", seconds=2.0, seed=4)
    task_id = _create(files.serve("clean-me.wav", data), data, 2.0)
    assert _run(task_id) == Status.COMPLETE
    task = runtime.table().get(task_id)
    assert task.status == Status.COMPLETE and task.result_key == f"results/{task_id}.wav"
    assert task.result_expires_at - time.time() > 86_000
    stored = backend.s3.get_object(Bucket="engine-results", Key=task.result_key)["Body"].read()
    cleaned, rate = sf.read(io.BytesIO(stored))
    original, _ = sf.read(io.BytesIO(data))
    assert rate == 16000 and cleaned.shape == original.shape and abs(cleaned - original).max() > 0.05
    assert runtime.table().rate("wav") != runtime.settings().initial_seconds_per_audio_second  # learnt
    assert _run(task_id) is None  # a redelivered message does nothing


def test_a_checksum_mismatch_fails_the_task_with_the_services_reason(backend, files):
    data = make_audio("wav", seconds=1.0, seed=5)
    task_id = _create(files.serve("tampered.wav", data), data, 1.0, md5="0" * 32)
    assert _run(task_id) == Status.FAILED
    task = runtime.table().get(task_id)
    assert task.status == Status.FAILED
    assert task.reason.startswith("checksum mismatch: downloaded file has md5") and task.reason.endswith("(code 1006)")
    assert "Contents" not in backend.s3.list_objects_v2(Bucket="engine-results")


def test_an_unreachable_link_fails_the_task(backend, files):
    data = make_audio("wav", seconds=1.0, seed=6)
    link = files.serve("gone.wav", data)
    task_id = _create(link.replace("gone.wav", "missing.wav"), data, 1.0)
    assert _run(task_id) == Status.FAILED
    assert "download failed" in runtime.table().get(task_id).reason and "404" in runtime.table().get(task_id).reason


def test_a_task_that_waited_past_its_deadline_times_out_unrun(backend, files):
    data = make_audio("wav", seconds=1.0, seed=7)
    task_id = _create(files.serve("late.wav", data), data, 1.0)
    status = process(task_id, runtime.settings(), runtime.table(), runtime.client("s3"), now=time.time() + 3601)
    assert status == Status.TIMED_OUT
    assert runtime.table().get(task_id).reason == "waited longer than 3600 s in the queue"
    assert files.requested("late.wav") == 0


def test_the_handler_takes_its_task_from_the_sqs_record(backend, files):
    from declick_engine_backend.handlers.work import handler

    data = make_audio("wav", seconds=1.0, seed=8)
    task_id = _create(files.serve("from-queue.wav", data), data, 1.0)
    messages = backend.sqs.receive_message(QueueUrl=backend.env["ENGINE_QUEUE_HIGH_URL"], MaxNumberOfMessages=1)
    (message,) = messages["Messages"]
    assert json.loads(message["Body"]) == {"task_id": task_id}
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:engine-high",
        "awsRegion": "us-east-1",
    }
    assert handler({"Records": [record]}, LambdaContextStub()) == {"batchItemFailures": []}
    assert runtime.table().get(task_id).status == Status.COMPLETE
