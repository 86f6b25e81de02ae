"""The remote click-removal API as both ends see it: paths, parameter ranges, formats, limits.

The vendor document fixes these; our client (the Lambdas), our server (declick.service), the
engine and the stack's configuration all check against the same numbers, so a value one side
accepts is never refused by another.
"""

from __future__ import annotations

from enum import IntEnum

CREATE_PATH = "/v3/pic/ecr/batch"
RESULT_PATH = "/v3/pic/ecr/result/{task_id}"

DETECTION_MULT_RANGE = (6.0, 10.0)
DEFAULT_DETECTION_MULT = 8.0
# Milliseconds (the vendor gives no unit; see declick.engine.params.DeclickParams).
CLICK_LEN_RANGE = (5, 30)
DEFAULT_CLICK_LEN = 10
# Remote queue priority: 0 is served first, 9 last.
PRIORITY_RANGE = (0, 9)
DEFAULT_PRIORITY = 5

INPUT_FORMATS = ("wav", "mp3")
OUTPUT_FORMATS = ("mp3", "wav")
DEFAULT_OUTPUT_FORMAT = "mp3"
MEDIA_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg"}

# MPEG-1/2/2.5 Layer III can store these sample rates only, in at most two channels.
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
MP3_MAX_CHANNELS = 2

# cdk.json's `declick:apiBaseUrl` until an operator sets the real one: deploying it is refused at
# synth (infra/config.py) and a function configured with it fails uploads at once (submission).
PLACEHOLDER_API_BASE_URL = "https://api.vendor.example"

# The vendor's documented input limit.
MAX_INPUT_BYTES = 50 * 1024 * 1024


class Status(IntEnum):
    """`data.status` of GET /v3/pic/ecr/result/{id}."""

    WAITING = 1
    IN_PROGRESS = 2
    COMPLETE = 3
    FAILED = 4
    CLOSED = 5
    TIMED_OUT = 6


# Poll again later.
PENDING_STATUSES = frozenset({Status.WAITING, Status.IN_PROGRESS})
# The task ended without a result.
FAILED_STATUSES = frozenset({Status.FAILED, Status.CLOSED, Status.TIMED_OUT})
