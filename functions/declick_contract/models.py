"""Bodies of the remote API as the client reads and writes them (declick_pipeline.remote_api).

The vendor document is loose: `status` and `wait_time` are documented as strings but may come
as numbers, fields may be missing. `parse_task_result` normalises all of that into `TaskResult`.

The create body has two fields named `file_ext`: the *input* format inside `file_info` and the
*output* format at the top level. They are different attributes here (`FileInfo.file_ext`,
`CreateTaskRequest.output_ext`) and only meet at serialisation time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from declick_contract.api import (
    CLICK_LEN_RANGE,
    DEFAULT_OUTPUT_FORMAT,
    DETECTION_MULT_RANGE,
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    PRIORITY_RANGE,
    Status,
)
from declick_contract.errors import RemoteApiResponseError


class FileInfo(BaseModel):
    """What we tell the vendor about the input file; `file_ext` is the *input* format."""

    model_config = ConfigDict(frozen=True)

    file_size: int = Field(gt=0)
    file_md5: str = Field(pattern=r"^[0-9a-f]{32}$")
    file_time: int = Field(ge=1)
    file_ext: Literal[INPUT_FORMATS]


class CreateTaskRequest(BaseModel):
    """Body of POST /v3/pic/ecr/batch; `output_ext` is sent as the top-level `file_ext`."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    file_link: str
    file_info: FileInfo
    detection_mult: float = Field(ge=DETECTION_MULT_RANGE[0], le=DETECTION_MULT_RANGE[1])
    click_len: int = Field(ge=CLICK_LEN_RANGE[0], le=CLICK_LEN_RANGE[1])
    output_ext: Literal[OUTPUT_FORMATS] = Field(default=DEFAULT_OUTPUT_FORMAT, serialization_alias="file_ext")
    priority: int = Field(ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1])

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class TaskResult(BaseModel):
    """`data` of GET /v3/pic/ecr/result/{id}, normalised: numbers are numbers, blanks are None."""

    model_config = ConfigDict(frozen=True)

    status: int
    wait_time: int | None = None
    voice_result: str | None = None
    reason: str | None = None

    @property
    def status_name(self) -> str:
        return Status(self.status).name


def as_int(value: Any) -> int | None:
    """`"15"`, `15`, `15.0`, `" 15 "` → 15; anything else (None, "", "soon", NaN, True) → None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return math.ceil(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return math.ceil(number) if math.isfinite(number) else None
    return None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_task_result(data: Any) -> TaskResult:
    if not isinstance(data, Mapping):
        raise RemoteApiResponseError(f"result response has no `data` object (got {type(data).__name__})")
    status = as_int(data.get("status"))
    if status is None:
        raise RemoteApiResponseError(f"result response has no readable `status` (got {data.get('status')!r})")
    if status not in Status._value2member_map_:
        raise RemoteApiResponseError(f"result response has unknown status {status}")
    return TaskResult(
        status=status,
        wait_time=as_int(data.get("wait_time")),
        voice_result=as_text(data.get("voice_result")),
        reason=as_text(data.get("reason")),
    )
