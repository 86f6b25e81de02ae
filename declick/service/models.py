"""Bodies of the service's API, shaped by compatibility with the vendor.

Every answer is the `{code, msg, data}` envelope; `status` and `wait_time` are strings. The
request rules are the contract's (declick_contract.api), checked strictly: the server is where
a client's mistake must be named, not silently coerced.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from declick_contract.api import (
    CLICK_LEN_RANGE,
    DEFAULT_OUTPUT_FORMAT,
    DETECTION_MULT_RANGE,
    INPUT_FORMATS,
    MAX_INPUT_BYTES,
    OUTPUT_FORMATS,
    PRIORITY_RANGE,
)


class FileInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    file_size: int = Field(strict=True, ge=1, le=MAX_INPUT_BYTES, description="File size in bytes (at most 50 MB).")
    file_md5: str = Field(pattern=r"^[0-9a-fA-F]{32}$", description="MD5 of the file, 32 hex digits.")
    file_time: float = Field(
        strict=True, ge=0, le=86400 * 7, allow_inf_nan=False, description="Audio duration in seconds."
    )
    file_ext: Literal[INPUT_FORMATS] = Field(description="Format of the input file.")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    file_link: str = Field(min_length=1, max_length=4096, description="URL the service downloads the audio from.")
    file_info: FileInfo
    detection_mult: float = Field(
        strict=True,
        ge=DETECTION_MULT_RANGE[0],
        le=DETECTION_MULT_RANGE[1],
        allow_inf_nan=False,
        description=f"{DETECTION_MULT_RANGE[0]:.1f} to {DETECTION_MULT_RANGE[1]:.1f}.",
    )
    click_len: int = Field(
        strict=True,
        ge=CLICK_LEN_RANGE[0],
        le=CLICK_LEN_RANGE[1],
        description=f"Click length in ms, {CLICK_LEN_RANGE[0]} to {CLICK_LEN_RANGE[1]}.",
    )
    file_ext: Literal[OUTPUT_FORMATS] = Field(
        default=DEFAULT_OUTPUT_FORMAT, description="Output format, mp3 (default) or wav."
    )
    priority: int = Field(
        strict=True,
        ge=PRIORITY_RANGE[0],
        le=PRIORITY_RANGE[1],
        description="0 is served first, 9 last; then oldest first.",
    )

    @field_validator("file_link")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("file_link is not a valid URL") from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("file_link must be an http(s) URL with a host")
        return value


class TaskCreated(BaseModel):
    task_id: str


class TaskResult(BaseModel):
    status: str = Field(description="1 waiting, 2 in progress, 3 complete, 4 failed, 5 closed, 6 timed out.")
    wait_time: str = Field(description="Seconds to wait before polling again; 0 once the task is final.")
    voice_result: str = Field(description="Download link of the result when status is 3, else empty.")
    reason: str = Field(description="Why the task failed, closed or timed out, else empty.")


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchEnvelope(BaseModel):
    code: int
    msg: str
    data: TaskCreated | Empty


class ResultEnvelope(BaseModel):
    code: int
    msg: str
    data: TaskResult | Empty


class ErrorEnvelope(BaseModel):
    code: int
    msg: str
    data: Empty


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    workers: int
    alive_workers: int
    ready_workers: int
    waiting: int
    in_progress: int
