"""The knobs the CDK stack sets (infra/config.py, from context) and the Lambdas read (from the environment).

Both sides validate them with these fields, so a value `cdk synth` accepts is never refused by a
handler on its first event. Knobs whose limits differ on purpose (the stack is stricter about
sizes and timeouts it must provision for) stay on each side.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from declick_contract.api import (
    CLICK_LEN_RANGE,
    DEFAULT_CLICK_LEN,
    DEFAULT_DETECTION_MULT,
    DEFAULT_OUTPUT_FORMAT,
    DEFAULT_PRIORITY,
    DETECTION_MULT_RANGE,
    OUTPUT_FORMATS,
    PRIORITY_RANGE,
)


class PipelineKnobs(BaseModel):
    # Remote API client
    api_connect_timeout_seconds: float = Field(3.05, ge=0.1, le=60, allow_inf_nan=False)
    api_read_timeout_seconds: float = Field(20.0, ge=0.1, le=300, allow_inf_nan=False)
    api_max_retries: int = Field(4, ge=0, le=10)

    # Per-upload defaults (the user may override them per object, see docs/operations.md)
    default_detection_mult: float = Field(
        DEFAULT_DETECTION_MULT, ge=DETECTION_MULT_RANGE[0], le=DETECTION_MULT_RANGE[1], allow_inf_nan=False
    )
    default_click_len: int = Field(DEFAULT_CLICK_LEN, ge=CLICK_LEN_RANGE[0], le=CLICK_LEN_RANGE[1])
    default_output_format: Literal[OUTPUT_FORMATS] = DEFAULT_OUTPUT_FORMAT
    # Remote queue priority: 0 is served first, 9 last (vendor semantics).
    default_priority: int = Field(DEFAULT_PRIORITY, ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1])

    # Submission and polling
    # Lifetime of the vendor's file_link (SigV4 presigned URLs live at most 7 days); at least the
    # processing deadline, which the stack config checks at synth.
    presign_expiry_seconds: int = Field(43_200, ge=60, le=7 * 86_400)
    wait_min_seconds: int = Field(5, ge=0, le=86_400)
    wait_max_seconds: int = Field(300, ge=1, le=86_400)
    wait_default_seconds: int = Field(15, ge=0, le=86_400)
    max_polls: int = Field(720, ge=1)
    # Continuous vendor trouble while polling (429/5xx/network after the client's retries, or an
    # unreadable answer) is waited out with backoff for this long before the upload is FAILED.
    vendor_outage_tolerance_seconds: int = Field(7_200, ge=0, le=7 * 86_400)
    idempotency_ttl_seconds: int = Field(172_800, ge=60, le=30 * 86_400)
