"""The pipeline with `-c declick:backend=engine`: the engine backend deployed from the same template.

Its API function answers through the API Gateway adapter, its worker runs the real engine from
the band queues, results come back as presigned links on the emulated S3. The module lowers the
longest accepted audio to 5 s (an environment override, as an operator's context would) so
that the "too long" refusal is reachable with a small file.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import requests

from declick.local.runner import LocalPipeline, synthesized_template
from tests.e2e import audio
from tests.e2e.helpers import assert_every_upload_notified_once, assert_notification_shape, settle

MAX_AUDIO_SECONDS = 5


@pytest.fixture(scope="module")
def engine_pipeline():
    template = synthesized_template({"declick:backend": "engine"})
    with LocalPipeline(
        template=template, backend="engine", env={"ENGINE_MAX_AUDIO_SECONDS": str(MAX_AUDIO_SECONDS)}
    ) as pipeline:
        yield pipeline
        assert_every_upload_notified_once(pipeline)


def _task(pipeline, task_id: str) -> dict:
    (task,) = [t for t in pipeline.engine_tasks() if t["task_id"] == task_id]
    return task


def test_wav_cleaned_by_the_engine_backend(engine_pipeline):
    meta = {"output-format": "wav", "priority": "1"}
    upload = engine_pipeline.upload("engine/speech.wav", audio.wav(seed=3), meta)
    (note,) = settle(engine_pipeline, [upload])
    assert_notification_shape(note, "SUCCEEDED")
    assert note["output"]["key"] == "engine/speech.wav"
    data = engine_pipeline.output_objects()["engine/speech.wav"]
    restored, rate, container = audio.decode(data)
    original = audio.speechlike(seed=3)
    assert (container, rate, len(restored)) == ("WAV", audio.RATE, len(original))
    assert not np.allclose(restored, original, atol=1e-3)  # clicks were repaired
    task = _task(engine_pipeline, note["task"]["id"])
    assert (int(task["status"]), task["band"], int(task["priority"]), task["output_ext"]) == (3, "high", 1, "wav")
    assert task["result_key"] == f"results/{task['task_id']}.wav"


def test_audio_longer_than_a_worker_can_clean_is_rejected_at_creation(engine_pipeline):
    before = len(engine_pipeline.engine_tasks())
    upload = engine_pipeline.upload("engine/long.wav", audio.wav(seconds=MAX_AUDIO_SECONDS + 1.5))
    (note,) = settle(engine_pipeline, [upload])
    assert_notification_shape(note, "REJECTED")
    assert note["error"]["code"] == "REMOTE_REJECTED"
    assert "15-minute" in note["error"]["message"] and f"{MAX_AUDIO_SECONDS} s" in note["error"]["message"]
    assert len(engine_pipeline.engine_tasks()) == before  # no task was created


def test_audio_the_engine_cannot_process_fails_with_the_workers_reason(engine_pipeline):
    # 6 kHz is a valid WAV the pipeline accepts with WAV output (MP3 cannot hold 6 kHz, which is
    # refused at upload), but below the engine's lowest sample rate.
    body = audio.encode(audio.speechlike(rate=6000), "wav", rate=6000)
    upload = engine_pipeline.upload("engine/low-rate.wav", body, metadata={"output-format": "wav"})
    (note,) = settle(engine_pipeline, [upload])
    assert_notification_shape(note, "FAILED")
    assert note["error"]["code"] == "REMOTE_TASK_FAILED"
    assert "sample rate" in note["error"]["message"] and "(code 1007)" in note["error"]["message"]
    task = _task(engine_pipeline, note["task"]["id"])
    assert int(task["status"]) == 4 and "sample rate" in task["reason"]
    assert "engine/low-rate.wav" not in engine_pipeline.output_objects()


def test_the_api_answers_with_the_contracts_envelope(engine_pipeline):
    url = engine_pipeline.api_base_url
    good = "Basic " + base64.b64encode(f"{engine_pipeline.appkey}:{engine_pipeline.appsecret}".encode()).decode()
    wrong = "Basic " + base64.b64encode(f"{engine_pipeline.appkey}:not-the-secret".encode()).decode()
    response = requests.get(f"{url}/v3/pic/ecr/result/nope", headers={"Authorization": wrong}, timeout=10)
    assert response.status_code == 401 and response.json()["code"] == 1001
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    response = requests.get(f"{url}/v3/pic/ecr/result/nope", headers={"Authorization": good}, timeout=10)
    assert response.status_code == 200 and response.json() == {
        "code": 1003,
        "msg": "unknown task: no such task",
        "data": {},
    }
    response = requests.post(
        f"{url}/v3/pic/ecr/batch", data=json.dumps({"file_link": "x"}), headers={"Authorization": good}, timeout=10
    )
    assert response.status_code == 200 and response.json()["code"] == 1002
