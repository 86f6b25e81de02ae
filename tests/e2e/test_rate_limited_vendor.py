"""Many uploads against a vendor that refuses more than RATE_LIMIT calls a second (HTTP 429 beyond):
nothing lost, no upload failed by our own retries, and the calls the vendor served stay under its cap.

The 500-upload version of this run is bench/vendor_load_bench.py (results in bench/results/).
"""

from __future__ import annotations

from collections import Counter

import pytest

from declick.local.fake_vendor import FakeVendor, Reply
from declick.local.runner import LocalPipeline
from tests.e2e import audio
from tests.e2e.helpers import assert_every_upload_notified_once, assert_notification_shape, settle

UPLOADS = 60
# Low enough that the emulated pipeline (5 concurrent submit batches of 5, polls 0-2 s apart)
# really runs into it on a small machine.
RATE_LIMIT = 4


@pytest.fixture(scope="module")
def limited_vendor():
    with FakeVendor(rate_limit=RATE_LIMIT) as fake:
        yield fake


@pytest.fixture(scope="module")
def pipeline(template, limited_vendor):
    with LocalPipeline(
        template=template,
        api_url=limited_vendor.url,
        appkey=limited_vendor.appkey,
        appsecret=limited_vendor.appsecret,
    ) as running:
        yield running
        assert_every_upload_notified_once(running)


@pytest.mark.slow
def test_uploads_against_a_rate_limited_vendor_all_succeed(pipeline, limited_vendor):
    result_url = limited_vendor.serve_file("limited.mp3", audio.mp3(seed=6), "audio/mpeg")
    limited_vendor.script_any_task(Reply.result(2, wait_time="1"), Reply.result(3, voice_result=result_url))
    body = audio.wav(seconds=0.4, seed=6)
    uploads = [pipeline.upload(f"limited/{i:03d}.wav", body) for i in range(UPLOADS)]
    notes = settle(pipeline, uploads, timeout=600)

    assert Counter(n["status"] for n in notes) == {"SUCCEEDED": UPLOADS}, [
        n["error"] for n in notes if n["status"] != "SUCCEEDED"
    ]
    for note in notes:
        assert_notification_shape(note, "SUCCEEDED")
    assert limited_vendor.rate_limited > 0, "the vendor's limit was never reached: the test proves nothing"
    assert limited_vendor.max_calls_in_window(served_only=True) <= RATE_LIMIT
    # One remote task per upload however often its creation was refused with 429.
    assert len({n["task"]["id"] for n in notes}) == UPLOADS
    assert len(limited_vendor.served_calls) >= UPLOADS * 3  # create + 2 polls each, at least
    assert pipeline.dead_letters() == 0
