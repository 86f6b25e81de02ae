"""Uploads that can never succeed: one REJECTED notification naming the reason, and no remote task."""

from __future__ import annotations

import struct

import pytest

from tests.e2e import audio
from tests.e2e.helpers import assert_notification_shape, settle

LIMIT = 52_428_800  # MAX_INPUT_BYTES, the vendor's 50 MB


def _truncated_wav_header() -> bytes:
    """`RIFF....WAVEfmt ` and then nothing: recognisably WAV, not decodable."""
    return b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<I", 16) + b"\x01\x00"


CASES = [
    ("empty.wav", lambda: b"", {}, "EMPTY_FILE", "empty"),
    ("too-large.wav", lambda: b"\0" * (LIMIT + 1), {}, "FILE_TOO_LARGE", "52428800"),
    ("text.wav", lambda: b"this is a text file, not audio\n" * 20, {}, "NOT_AUDIO", "not WAV or MP3"),
    ("truncated-header.wav", _truncated_wav_header, {}, "UNREADABLE_AUDIO", "cannot be read"),
    ("lossless.flac", audio.flac, {}, "UNSUPPORTED_FORMAT", "FLAC"),
    ("mult-low.wav", audio.wav, {"detection-mult": "5.9"}, "INVALID_PARAMETER", "detection-mult"),
    ("mult-high.wav", audio.wav, {"detection-mult": "10.5"}, "INVALID_PARAMETER", "detection-mult"),
    ("mult-text.wav", audio.wav, {"detection-mult": "loud"}, "INVALID_PARAMETER", "detection-mult"),
    ("click-short.wav", audio.wav, {"click-len": "4"}, "INVALID_PARAMETER", "click-len"),
    ("click-long.wav", audio.wav, {"click-len": "31"}, "INVALID_PARAMETER", "click-len"),
    ("click-fraction.wav", audio.wav, {"click-len": "10.5"}, "INVALID_PARAMETER", "click-len"),
    ("priority-low.wav", audio.wav, {"priority": "-1"}, "INVALID_PARAMETER", "priority"),
    ("priority-high.wav", audio.wav, {"priority": "10"}, "INVALID_PARAMETER", "priority"),
    ("format.wav", audio.wav, {"output-format": "ogg"}, "INVALID_PARAMETER", "output-format"),
]


@pytest.mark.parametrize(("key", "body", "meta", "code", "words"), CASES, ids=[case[0] for case in CASES])
def test_rejected_without_a_remote_task(vendor_pipeline, vendor, key, body, meta, code, words):
    posts_before = len(vendor.created_tasks())
    data = body()
    upload = vendor_pipeline.upload(f"rejected/{key}", data, meta)
    (note,) = settle(vendor_pipeline, [upload])
    assert_notification_shape(note, "REJECTED")
    assert note["error"]["code"] == code
    assert words in note["error"]["message"]
    assert note["input"]["key"] == f"rejected/{key}" and note["input"]["size"] == len(data)
    assert len(vendor.created_tasks()) == posts_before
    assert not vendor_pipeline.output_objects()


def test_a_file_of_exactly_the_limit_is_not_rejected_for_its_size(vendor_pipeline, vendor):
    """The boundary: 50 MB is allowed (it is then refused as not audio, after being read)."""
    upload = vendor_pipeline.upload("rejected/at-limit.wav", b"\1" * LIMIT)
    (note,) = settle(vendor_pipeline, [upload])
    assert note["status"] == "REJECTED" and note["error"]["code"] == "NOT_AUDIO"
