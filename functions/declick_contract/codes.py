"""Result codes of the `{code, msg, data}` envelope (task status numbers: declick_contract.api.Status).

The vendor answers HTTP 200 with a non-zero `code` for request errors, and so do we, except for
authentication (HTTP 401, so that ordinary HTTP clients and proxies recognise it), a full queue
(HTTP 429, which clients treat as "try again later") and internal errors (HTTP 500). The same
codes appear in the `reason` of a failed task as `"<text> (code <n>)"` so an operator can tell a
checksum problem from a download problem without reading logs.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0
    AUTH_FAILED = 1001
    BAD_PARAMETERS = 1002
    UNKNOWN_TASK = 1003
    FILE_TOO_LARGE = 1004
    DOWNLOAD_FAILED = 1005
    CHECKSUM_MISMATCH = 1006
    UNSUPPORTED_FORMAT = 1007
    INVALID_AUDIO = 1008
    PROCESSING_FAILED = 1009
    QUEUE_FULL = 1010
    NOT_FOUND = 1011
    INTERNAL_ERROR = 1500


MESSAGES: dict[Code, str] = {
    Code.OK: "",
    Code.AUTH_FAILED: "authentication failed",
    Code.BAD_PARAMETERS: "bad parameters",
    Code.UNKNOWN_TASK: "unknown task",
    Code.FILE_TOO_LARGE: "file too large",
    Code.DOWNLOAD_FAILED: "download failed",
    Code.CHECKSUM_MISMATCH: "checksum mismatch",
    Code.UNSUPPORTED_FORMAT: "unsupported format",
    Code.INVALID_AUDIO: "invalid audio",
    Code.PROCESSING_FAILED: "processing failed",
    Code.QUEUE_FULL: "queue full, retry later",
    Code.NOT_FOUND: "not found",
    Code.INTERNAL_ERROR: "internal error",
}


def reason_text(code: Code, detail: str) -> str:
    return f"{MESSAGES[code]}: {detail} (code {int(code)})"
