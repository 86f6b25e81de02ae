"""Request errors as envelopes: `ApiError`, and the mapping of validation errors to result codes."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from declick.service.codes import MESSAGES, Code


class ApiError(Exception):
    def __init__(self, code: Code, detail: str = "", http_status: int = 200):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.http_status = http_status


def envelope(code: Code, msg: str = "", data: dict | None = None, status_code: int = 200, headers=None) -> JSONResponse:
    return JSONResponse({"code": int(code), "msg": msg, "data": data or {}}, status_code=status_code, headers=headers)


def error_message(code: Code, detail: str) -> str:
    return f"{MESSAGES[code]}: {detail}" if detail else MESSAGES[code]


def validation_code(errors: list[dict]) -> Code:
    codes = set()
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc == ("body", "file_info", "file_ext") and error.get("type") == "literal_error":
            codes.add(Code.UNSUPPORTED_FORMAT)
        elif loc == ("body", "file_info", "file_size") and error.get("type") == "less_than_equal":
            codes.add(Code.FILE_TOO_LARGE)
        else:
            codes.add(Code.BAD_PARAMETERS)
    return codes.pop() if len(codes) == 1 else Code.BAD_PARAMETERS


def describe(errors: list[dict]) -> str:
    parts = []
    for error in errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)
