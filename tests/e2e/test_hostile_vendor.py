"""A vendor that misbehaves and uploads that look almost right, through `declick local run`'s
emulator and the scripted fake vendor: every upload ends in exactly one notification, with the
real reason, at once when no retry can help (issue "hostile vendor, hostile clients").

The module's pipeline fixture (`vendor_pipeline`) checks the one-notification invariant over
every upload made here when the module ends, concurrent ones included.
"""

from __future__ import annotations

import io
import json
from collections import Counter

import numpy as np
import soundfile

from declick.local.fake_vendor import Reply
from tests.e2e import audio
from tests.e2e.helpers import assert_notification_shape, settle

# One attempt per SQS receive: a transient failure shows the queue's retry timing, not the client's.
PIPELINE_ENV = {"API_MAX_RETRIES": "0"}
HUGE = 300_000


def _result_url(vendor, name: str = "hostile.mp3") -> str:
    return vendor.serve_file(name, audio.mp3(seed=4), "audio/mpeg")


def test_many_concurrent_uploads_with_failures_get_one_notification_each(vendor_pipeline, vendor):
    """Empty task ids, refusals and successes mixed in flight together (the emulator runs one
    invocation per function at a time, as Lambda runs one per execution environment)."""
    url = _result_url(vendor)
    replies = []
    for i in range(6):
        replies += [Reply.created(""), Reply.error(1001, f"refused {i}"), Reply.created(f"mix-{i}")]
        vendor.script_task(f"mix-{i}", Reply.result(2, wait_time="1"), Reply.result(3, voice_result=url))
    vendor.script_create(*replies)
    uploads = [vendor_pipeline.upload(f"mix/{i:02d}.wav", audio.wav(seed=i)) for i in range(len(replies))]
    notes = settle(vendor_pipeline, uploads, timeout=180)
    outcomes = Counter((n["status"], (n.get("error") or {}).get("code")) for n in notes)
    assert outcomes == {
        ("FAILED", "REMOTE_API_BAD_RESPONSE"): 6,
        ("REJECTED", "REMOTE_REJECTED"): 6,
        ("SUCCEEDED", None): 6,
    }
    # At once: no upload went through the retry-then-dead-letter path.
    assert len(vendor.received("POST", "/v3/pic/ecr/batch")) >= len(replies)
    assert vendor_pipeline.dead_letters() == 0


def test_a_task_id_given_twice_still_notifies_both_uploads(vendor_pipeline, vendor):
    url = _result_url(vendor, "twice.mp3")
    vendor.script_create(Reply.created("reused-id"), Reply.created("reused-id"))
    vendor.script_task("reused-id", Reply.result(3, voice_result=url))
    first = vendor_pipeline.upload("twice/first.wav", audio.wav(seed=1))
    (note_one,) = settle(vendor_pipeline, [first])
    second = vendor_pipeline.upload("twice/second.wav", audio.wav(seed=2))
    (note_two,) = settle(vendor_pipeline, [second])
    assert note_one["status"] == note_two["status"] == "SUCCEEDED"
    assert note_one["task"]["id"] == note_two["task"]["id"] == "reused-id"
    assert {note_one["input"]["key"], note_two["input"]["key"]} == {"twice/first.wav", "twice/second.wav"}


def test_a_huge_vendor_reason_is_cut_and_the_state_stays_small(vendor_pipeline, vendor):
    reason = "decoder crashed: " + "stack frame\n" * (HUGE // 12)
    vendor.script_create(Reply.created("huge-reason"))
    vendor.script_task("huge-reason", Reply.result(4, reason=reason))
    upload = vendor_pipeline.upload("huge/reason.wav", audio.wav())
    (note,) = settle(vendor_pipeline, [upload])
    assert_notification_shape(note, "FAILED")
    assert note["error"]["code"] == "REMOTE_TASK_FAILED"
    assert note["error"]["message"].startswith("decoder crashed: stack frame stack frame")
    assert len(note["error"]["message"]) <= 1000
    assert len(json.dumps(note)) < 8_000


def test_a_huge_refusal_message_is_rejected_with_the_vendor_words(vendor_pipeline, vendor):
    vendor.script_create(Reply.error(1002, "unsupported sample format; " + "x" * HUGE))
    upload = vendor_pipeline.upload("huge/msg.wav", audio.wav())
    (note,) = settle(vendor_pipeline, [upload])
    assert_notification_shape(note, "REJECTED")
    assert note["error"]["code"] == "REMOTE_REJECTED"
    assert "unsupported sample format" in note["error"]["message"]
    assert len(note["error"]["message"]) <= 1200


def test_an_empty_task_id_fails_at_once(vendor_pipeline, vendor):
    vendor.script_create(Reply.created(""))
    before = len(vendor.created_tasks())
    upload = vendor_pipeline.upload("empty/id.wav", audio.wav())
    (note,) = settle(vendor_pipeline, [upload])
    assert_notification_shape(note, "FAILED", has_task=False)
    assert note["error"]["code"] == "REMOTE_API_BAD_RESPONSE"
    assert len(vendor.created_tasks()) - before == 1


def test_refused_credentials_fail_at_once(vendor_pipeline, vendor):
    vendor.script_create(Reply.http(401, body={"code": 401, "msg": "invalid appkey"}))
    before = len(vendor.created_tasks())
    upload = vendor_pipeline.upload("auth/refused.wav", audio.wav())
    (note,) = settle(vendor_pipeline, [upload])
    assert_notification_shape(note, "FAILED", has_task=False)
    assert note["error"]["code"] == "REMOTE_API_AUTH_FAILED"
    assert len(vendor.created_tasks()) - before == 1


def test_a_vendor_blip_is_retried_in_seconds_not_after_the_queue_visibility(vendor_pipeline, vendor):
    """Two 503s, one attempt per receive: the message comes back after the handler's backoff.
    Left to the queue's visibility timeout (92 s on the emulator's clock) two retries could not
    finish within the 60 s allowed here."""
    url = _result_url(vendor, "blip.mp3")
    vendor.script_create(Reply.http(503), Reply.http(503, retry_after="1"), Reply.created("after-blip"))
    vendor.script_task("after-blip", Reply.result(3, voice_result=url))
    before = len(vendor.created_tasks())
    upload = vendor_pipeline.upload("blip/retried.wav", audio.wav())
    (note,) = settle(vendor_pipeline, [upload], timeout=60)
    assert_notification_shape(note, "SUCCEEDED")
    assert len(vendor.created_tasks()) - before == 3


def test_underscore_metadata_is_used_and_a_near_miss_rejected(vendor_pipeline, vendor):
    url = _result_url(vendor, "meta.mp3")
    vendor.script_create(Reply.created("meta-underscore"))
    vendor.script_task("meta-underscore", Reply.result(3, voice_result=url))
    before = len(vendor.created_tasks())
    good = vendor_pipeline.upload("meta/underscore.wav", audio.wav(), {"detection_mult": "7"})
    (note,) = settle(vendor_pipeline, [good])
    assert note["status"] == "SUCCEEDED"
    assert note["task"]["parameters"]["detection_mult"] == 7.0
    assert vendor.created_tasks()[before].json["detection_mult"] == 7.0

    typo = vendor_pipeline.upload("meta/typo.wav", audio.wav(), {"detection-mul": "7"})
    (note,) = settle(vendor_pipeline, [typo])
    assert_notification_shape(note, "REJECTED")
    assert note["error"]["code"] == "INVALID_PARAMETER"
    assert "detection-mult" in note["error"]["message"]


def _wav(channels: int, rate: int) -> bytes:
    buffer = io.BytesIO()
    samples = 0.1 * np.random.default_rng(3).standard_normal((rate // 2, channels))
    soundfile.write(buffer, samples, rate, format="WAV")
    return buffer.getvalue()


def test_audio_mp3_cannot_hold_is_rejected_at_upload_and_broken_audio_names_no_path(vendor_pipeline, vendor):
    before = len(vendor.created_tasks())
    wide = vendor_pipeline.upload("shape/six-channels.wav", _wav(6, 16000))
    fast = vendor_pipeline.upload("shape/96k.wav", _wav(1, 96000))
    broken = vendor_pipeline.upload("shape/broken.wav", audio.wav()[:30])
    notes = settle(vendor_pipeline, [wide, fast, broken])
    assert [n["error"]["code"] for n in notes] == [
        "OUTPUT_FORMAT_UNSUPPORTED",
        "OUTPUT_FORMAT_UNSUPPORTED",
        "UNREADABLE_AUDIO",
    ]
    assert "/tmp" not in notes[2]["error"]["message"] and "declick-" not in notes[2]["error"]["message"]
    assert len(vendor.created_tasks()) == before
