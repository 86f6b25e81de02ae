"""Uploads that should succeed, through the synthesized stack and our own service (real engine)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e import audio
from tests.e2e.helpers import assert_notification_shape, settle


def _new_tasks(pipeline, before: int):
    return pipeline.service_tasks()[before:]


def _check_output(pipeline, note, fmt: str, frames: int):
    objects = pipeline.output_objects()
    data = objects[note["output"]["key"]]
    assert note["output"]["size"] == len(data) and note["output"]["format"] == fmt
    samples, rate, container = audio.decode(data)
    assert container == {"mp3": "MP3", "wav": "WAV"}[fmt]
    assert rate == audio.RATE
    assert abs(len(samples) - frames) <= audio.RATE // 10  # MP3 adds encoder padding, nothing else changes
    return samples


def test_wav_becomes_mp3_by_default(service_pipeline):
    before = len(service_pipeline.service_tasks())
    body = audio.wav()
    upload = service_pipeline.upload("default/speech.wav", body)
    (note,) = settle(service_pipeline, [upload])
    assert_notification_shape(note, "SUCCEEDED")
    assert note["output"]["key"] == "default/speech.mp3"
    assert note["input"]["format"] == "wav" and note["input"]["size"] == len(body)
    assert note["task"]["parameters"] == {"detection_mult": 8.0, "click_len": 10, "output_format": "mp3", "priority": 5}
    _check_output(service_pipeline, note, "mp3", frames=len(audio.speechlike()))
    (task,) = _new_tasks(service_pipeline, before)
    assert task.id == note["task"]["id"] and task.status == 3
    assert (task.input_ext, task.output_ext, task.file_size, task.file_md5) == (
        "wav",
        "mp3",
        len(body),
        note["input"]["md5"],
    )


def test_wav_to_wav_with_metadata_parameters_reaching_the_remote_task(service_pipeline):
    before = len(service_pipeline.service_tasks())
    meta = {"output-format": "wav", "detection-mult": "7.5", "click-len": "12", "priority": "2"}
    upload = service_pipeline.upload("params/speech.wav", audio.wav(seed=1), meta)
    (note,) = settle(service_pipeline, [upload])
    assert_notification_shape(note, "SUCCEEDED")
    assert note["output"]["key"] == "params/speech.wav"
    assert note["task"]["parameters"] == {"detection_mult": 7.5, "click_len": 12, "output_format": "wav", "priority": 2}
    restored = _check_output(service_pipeline, note, "wav", frames=len(audio.speechlike(seed=1)))
    original = audio.speechlike(seed=1)
    assert not np.allclose(restored, original, atol=1e-3)  # the clicks were repaired, so something changed
    (task,) = _new_tasks(service_pipeline, before)
    assert (task.detection_mult, task.click_len, task.output_ext, task.priority) == (7.5, 12, "wav", 2)


def test_mp3_stays_mp3(service_pipeline):
    before = len(service_pipeline.service_tasks())
    upload = service_pipeline.upload("mp3/speech.mp3", audio.mp3(seed=2))
    (note,) = settle(service_pipeline, [upload])
    assert_notification_shape(note, "SUCCEEDED")
    assert note["input"]["format"] == "mp3" and note["output"]["key"] == "mp3/speech.mp3"
    _check_output(service_pipeline, note, "mp3", frames=len(audio.speechlike(seed=2)))
    (task,) = _new_tasks(service_pipeline, before)
    assert (task.input_ext, task.output_ext) == ("mp3", "mp3")


@pytest.mark.parametrize(
    "key",
    [
        "with space/my recording 01.wav",
        "plus/a+b+c.wav",
        "unicode/Ünïcødé 録音 🎙.wav",
        "deeply/nested/folder/structure/take.wav",
        "mixed/+ leading plus & ampersand (1).wav",
    ],
)
def test_awkward_keys(service_pipeline, key):
    before = len(service_pipeline.service_tasks())
    upload = service_pipeline.upload(key, audio.wav(seed=3), {"output-format": "wav"})
    (note,) = settle(service_pipeline, [upload])
    assert_notification_shape(note, "SUCCEEDED")
    assert note["input"]["key"] == key and note["output"]["key"] == key
    assert key in service_pipeline.output_objects()
    assert len(_new_tasks(service_pipeline, before)) == 1
