"""The server side of the API: how a create request is validated and every answer is shaped.

The self-hosted service (FastAPI) and the engine backend (API Gateway + Lambda) both validate
`POST /v3/pic/ecr/batch` with these models and map validation errors to result codes with the
same rules, so both answer a given request with the same `{code, msg, data}` envelope.
(`declick_contract.models` is the client side, which builds the request the pipeline sends.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from declick_contract.api import (
    CLICK_LEN_RANGE,
    DETECTION_MULT_RANGE,
    INPUT_FORMATS,
    MAX_INPUT_BYTES,
    OUTPUT_FORMATS,
    PRIORITY_RANGE,
)
from declick_contract.codes import MESSAGES, Code

# Request bodies are a few hundred bytes; anything much larger is not a create request.
MAX_BODY_BYTES = 64 * 1024


class FileInfo(BaseModel):
    model_config = ConfigDict(extra="ignore")

    file_size: int = Field(strict=True, ge=1, le=MAX_INPUT_BYTES, description="File size in bytes (at most 50 MB).")
    file_md5: str = Field(pattern=r"^[0-9a-fA-F]{32}$", description="MD5 of the file, 32 hex digits.")
    file_time: float = Field(
        strict=True, ge=0, le=86400 * 7, allow_inf_nan=False, description="Audio duration in seconds."
    )
    file_ext: Literal[INPUT_FORMATS] = Field(description="Format of the input file.")


@dataclass(frozen=True)
class RequestedTask:
    """What a create request asks for, as both servers keep it with their tasks.

    The self-hosted service's store and the engine backend's table extend it with their own
    bookkeeping; keeping the requested part in one place means a request field cannot be stored
    by one server and dropped by the other.
    """

    file_link: str
    file_size: int
    file_md5: str  # lower-case hex
    file_time: float
    input_ext: str
    detection_mult: float
    click_len: int
    output_ext: str


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    file_link: str = Field(min_length=1, max_length=4096, description="URL the service downloads the audio from.")
    file_info: FileInfo
    detection_mult: float = Field(
        strict=True,
        ge=DETECTION_MULT_RANGE[0],
        le=DETECTION_MULT_RANGE[1],
        allow_inf_nan=False,
        description="6.0 to 10.0.",
    )
    click_len: int = Field(
        strict=True, ge=CLICK_LEN_RANGE[0], le=CLICK_LEN_RANGE[1], description="Click length in ms, 5 to 30."
    )
    file_ext: Literal[OUTPUT_FORMATS] = Field(default="mp3", description="Output format, mp3 (default) or wav.")
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

    def requested_task(self) -> RequestedTask:
        """The request as a task keeps it: the MD5 in lower case, numbers as the engine takes them."""
        return RequestedTask(
            file_link=self.file_link,
            file_size=self.file_info.file_size,
            file_md5=self.file_info.file_md5.lower(),
            file_time=float(self.file_info.file_time),
            input_ext=self.file_info.file_ext,
            detection_mult=float(self.detection_mult),
            click_len=self.click_len,
            output_ext=self.file_ext,
        )


class RequestRefused(Exception):
    """A request error: answered with `code` (and `http_status`, 200 for ordinary request errors)."""

    def __init__(self, code: Code, detail: str = "", http_status: int = 200):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.http_status = http_status


def _location(error: Any) -> tuple:
    """Where a validation error is, without FastAPI's leading "body"."""
    loc = tuple(error.get("loc", ()))
    return loc[1:] if loc[:1] == ("body",) else loc


def validation_code(errors: Sequence[Any]) -> Code:
    """One code for a set of validation errors: a specific one only when every error agrees."""
    codes = set()
    for error in errors:
        loc = _location(error)
        if loc == ("file_info", "file_ext") and error.get("type") == "literal_error":
            codes.add(Code.UNSUPPORTED_FORMAT)
        elif loc == ("file_info", "file_size") and error.get("type") == "less_than_equal":
            codes.add(Code.FILE_TOO_LARGE)
        else:
            codes.add(Code.BAD_PARAMETERS)
    return codes.pop() if len(codes) == 1 else Code.BAD_PARAMETERS


def describe(errors: Sequence[Any]) -> str:
    parts = []
    for error in list(errors)[:5]:
        loc = ".".join(str(p) for p in _location(error)) or "body"
        parts.append(f"{loc}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def error_message(code: Code, detail: str) -> str:
    return f"{MESSAGES[code]}: {detail}" if detail else MESSAGES[code]


def envelope(code: Code, msg: str = "", data: dict | None = None) -> dict[str, Any]:
    return {"code": int(code), "msg": msg, "data": data or {}}


def error_envelope(error: RequestRefused) -> dict[str, Any]:
    return envelope(error.code, error_message(error.code, error.detail))


def parse_batch(body: bytes | str | None) -> BatchRequest:
    """Validate a create request body; RequestRefused with the code the service would answer."""
    raw = body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise RequestRefused(Code.BAD_PARAMETERS, f"request body over {MAX_BODY_BYTES} bytes", 413)
    try:
        return BatchRequest.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors()
        raise RequestRefused(validation_code(errors), describe(errors)) from None


def result_data(status: int, wait_time: int, voice_result: str = "", reason: str = "") -> dict[str, str]:
    """`data` of GET /v3/pic/ecr/result/{id}: strings, as the vendor documents them."""
    return {
        "status": str(int(status)),
        "wait_time": str(int(wait_time)),
        "voice_result": voice_result,
        "reason": reason,
    }
