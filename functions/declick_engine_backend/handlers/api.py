"""API Gateway (HTTP API, payload 2.0) -> the two endpoints of the click-removal API.

Answers as `declick engine serve` does: the `{code, msg, data}` envelope, request errors with
HTTP 200 and a non-zero code, 401 for credentials, 413 for an oversized body, 500 for the rest.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from declick_contract.codes import MESSAGES, Code
from declick_contract.task_request import RequestRefused, envelope, error_envelope, parse_batch
from declick_engine_backend import runtime
from declick_engine_backend.task_api import TaskApi

logger = Logger(service="declick-engine-api")
app = APIGatewayHttpResolver()


def _api() -> TaskApi:
    return TaskApi(
        runtime.settings(),
        runtime.table(),
        runtime.client("sqs"),
        runtime.client("s3"),
        runtime.authenticator,
    )


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


def _body() -> bytes:
    event = app.current_event
    raw = event.decoded_body if event.is_base64_encoded else event.body
    return raw.encode() if isinstance(raw, str) else (raw or b"")


@app.post("/v3/pic/ecr/batch")
def create_task() -> Response:
    api = _api()
    appkey = api.authenticate(app.current_event.headers.get("authorization"))
    data = api.create(parse_batch(_body()), appkey)
    logger.info("task submitted", extra={"task_id": data["task_id"], "appkey": appkey})
    return _json(200, envelope(Code.OK, "", data))


@app.get("/v3/pic/ecr/result/<task_id>")
def task_result(task_id: str) -> Response:
    api = _api()
    appkey = api.authenticate(app.current_event.headers.get("authorization"))
    return _json(200, envelope(Code.OK, "", api.result(task_id, appkey)))


@app.exception_handler(RequestRefused)
def refused(error: RequestRefused) -> Response:
    if error.code == Code.AUTH_FAILED:
        logger.warning("authentication failed", extra={"detail": error.detail})
        return _json(401, error_envelope(error), {"WWW-Authenticate": 'Basic realm="declick"'})
    return _json(error.http_status, error_envelope(error))


@app.not_found
def not_found(_error: Exception) -> Response:
    return _json(404, envelope(Code.NOT_FOUND, MESSAGES[Code.NOT_FOUND]))


@app.exception_handler(Exception)
def crashed(error: Exception) -> Response:
    logger.exception("unhandled error")
    return _json(500, envelope(Code.INTERNAL_ERROR, MESSAGES[Code.INTERNAL_ERROR]))


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
