"""Request errors as envelopes: the contract's `RequestRefused` (here `ApiError`) and its mapping
of validation errors to result codes, shared with the engine backend (declick_contract.task_request)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from declick.service.codes import Code
from declick_contract.task_request import RequestRefused as ApiError
from declick_contract.task_request import describe, error_message, validation_code

__all__ = ["ApiError", "describe", "envelope", "error_message", "validation_code"]


def envelope(code: Code, msg: str = "", data: dict | None = None, status_code: int = 200, headers=None) -> JSONResponse:
    return JSONResponse({"code": int(code), "msg": msg, "data": data or {}}, status_code=status_code, headers=headers)
