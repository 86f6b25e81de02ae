"""The HTTP face of the service: the vendor's two endpoints, result downloads, health.

Compatibility with the vendor decides the shapes: every answer is the `{code, msg, data}`
envelope, request errors are HTTP 200 with a non-zero `code`, `status` and `wait_time` are
strings. See docs/service.md for the codes and the HTTP statuses we chose where the vendor
document is silent.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from declick.service.codes import MESSAGES, Code
from declick.service.dispatch import Estimator, Runner
from declick.service.settings import ServiceSettings
from declick.service.store import NewTask, TaskStore
from declick_contract.api import Status
from declick_contract.basic_auth import AuthenticationFailed, BasicAuthenticator, digest
from declick_contract.safe_download import UnsafeUrlError, check_link
from declick_contract.task_request import (
    MAX_BODY_BYTES,
    BatchRequest,
    describe,
    error_message,
    validation_code,
)

log = logging.getLogger("declick.service")

_MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav"}


# models (the request models are the contract's: declick_contract.task_request) ----------------------
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


# errors ---------------------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, code: Code, detail: str = "", http_status: int = 200):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.http_status = http_status


def envelope(code: Code, msg: str = "", data: dict | None = None, status_code: int = 200, headers=None) -> JSONResponse:
    return JSONResponse({"code": int(code), "msg": msg, "data": data or {}}, status_code=status_code, headers=headers)


# auth -----------------------------------------------------------------------------------------------
class BasicAuth(SecurityBase):
    """Declares HTTP Basic in the OpenAPI document; the check itself is `Service.authenticate`."""

    def __init__(self) -> None:
        self.model = HTTPBaseModel(scheme="basic", description="Basic base64(appkey:appsecret)")
        self.scheme_name = "BasicAuth"

    async def __call__(self, request: Request) -> str | None:
        return request.headers.get("Authorization")


_basic = BasicAuth()


class Service:
    """Wires settings, the store, the estimator and (optionally) the worker pool together."""

    def __init__(self, settings: ServiceSettings, start_workers: bool = True):
        self.settings = settings
        self.store = TaskStore(settings.db_path)
        self.estimator = Estimator(settings, self.store)
        self.runner = Runner(settings, self.store, self.estimator) if start_workers else None
        self._authenticator = BasicAuthenticator(settings.credentials)

    def authenticate(self, header: str | None) -> str:
        """The appkey of a valid `Authorization: Basic` header, else ApiError(AUTH_FAILED)."""
        try:
            return self._authenticator.authenticate(header)
        except AuthenticationFailed as exc:
            if exc.appkey:
                log.warning("authentication failed", extra={"appkey": exc.appkey})
            raise ApiError(Code.AUTH_FAILED, str(exc), 401) from None

    def check_link(self, url: str) -> None:
        """Refuse links the worker would refuse anyway, without resolving names (no network here)."""
        try:
            check_link(url, self.settings.download_policy())
        except UnsafeUrlError as exc:
            raise ApiError(Code.BAD_PARAMETERS, f"file_link: {exc}") from None

    def result_url(self, request: Request, task) -> str:
        base = (self.settings.public_url or str(request.base_url)).rstrip("/")
        return f"{base}/files/{task.result_token}/{task.id}.{task.output_ext}"

    def expire_if_due(self, task):
        if task.status == Status.COMPLETE and task.expires_at is not None and task.expires_at <= time.time():
            if self.runner is not None:
                self.runner.expire(task)
            else:
                self.store.finish(task.id, Status.CLOSED, "result expired", only_from=[Status.COMPLETE])
                if task.result_path:
                    Path(task.result_path).unlink(missing_ok=True)
                self.store.clear_result(task.id)
            return self.store.get(task.id)
        return task


def create_app(settings: ServiceSettings, *, start_workers: bool = True) -> FastAPI:
    """The ASGI app. `start_workers=False` gives an API that queues tasks but never runs them
    (for schema fuzzing: generated `file_link`s must never be fetched)."""
    service = Service(settings, start_workers=start_workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if service.runner is not None:
            service.runner.start()
        log.info("service started", extra={"workers": settings.workers, "db": str(settings.db_path)})
        try:
            yield
        finally:
            if service.runner is not None:
                service.runner.stop()
            service.store.close()
            log.info("service stopped")

    app = FastAPI(
        title="Declick click-removal service",
        version="1.0.0",
        description="Self-hosted implementation of the vendor's click-noise removal API (v3 ecr).",
        lifespan=lifespan,
    )
    app.state.service = service

    def authenticated(header: Annotated[str | None, Depends(_basic)]) -> str:
        return service.authenticate(header)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return envelope(Code.BAD_PARAMETERS, f"request body over {MAX_BODY_BYTES} bytes", status_code=413)
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="declick"'} if exc.http_status == 401 else None
        return envelope(exc.code, error_message(exc.code, exc.detail), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return envelope(validation_code(errors), error_message(validation_code(errors), describe(errors)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # an unparsable body: a request error like any other, HTTP 200
            return envelope(Code.BAD_PARAMETERS, error_message(Code.BAD_PARAMETERS, str(exc.detail)))
        code = Code.NOT_FOUND if exc.status_code == 404 else Code.BAD_PARAMETERS
        return envelope(code, error_message(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return envelope(Code.INTERNAL_ERROR, MESSAGES[Code.INTERNAL_ERROR], status_code=500)

    auth_responses = {
        200: {
            "description": "The envelope: `code` 0 on success, else a request error code (HTTP 200 like the vendor)."
        },
        401: {"model": ErrorEnvelope, "description": "Missing or wrong credentials (code 1001)."},
        413: {"model": ErrorEnvelope, "description": "Request body too large."},
        500: {"model": ErrorEnvelope, "description": "Internal error (code 1500)."},
    }

    @app.post(
        "/v3/pic/ecr/batch",
        response_model=BatchEnvelope,
        responses={**auth_responses, 429: {"model": ErrorEnvelope, "description": "Queue full (code 1010)."}},
        summary="Create a click-removal task",
    )
    def create_task(body: BatchRequest, appkey: str = Depends(authenticated)) -> JSONResponse:
        if body.file_info.file_size > settings.max_input_bytes:
            raise ApiError(Code.FILE_TOO_LARGE, f"file_size over {settings.max_input_bytes} bytes")
        service.check_link(body.file_link)
        task_id = str(uuid.uuid4())
        new = NewTask(
            id=task_id,
            appkey=appkey,
            priority=body.priority,
            file_link=body.file_link,
            file_size=body.file_info.file_size,
            file_md5=body.file_info.file_md5.lower(),
            file_time=float(body.file_info.file_time),
            input_ext=body.file_info.file_ext,
            detection_mult=float(body.detection_mult),
            click_len=body.click_len,
            output_ext=body.file_ext,
        )
        if not service.store.insert(new, max_waiting=settings.max_queued_tasks):
            raise ApiError(Code.QUEUE_FULL, f"{settings.max_queued_tasks} tasks are waiting", 429)
        if service.runner is not None:
            service.runner.wake()
        log.info(
            "task submitted",
            extra={"task_id": task_id, "appkey": appkey, "priority": body.priority, "file_time": new.file_time},
        )
        return envelope(Code.OK, "", {"task_id": task_id})

    @app.get(
        "/v3/pic/ecr/result/{task_id}",
        response_model=ResultEnvelope,
        responses=auth_responses,
        summary="Get a task's status and result",
    )
    def task_result(task_id: str, request: Request, appkey: str = Depends(authenticated)) -> JSONResponse:
        task = service.store.get(task_id)
        if task is None or not secrets.compare_digest(task.appkey.encode(), appkey.encode()):
            raise ApiError(Code.UNKNOWN_TASK, "no such task")
        task = service.expire_if_due(task)
        voice_result = service.result_url(request, task) if task.status == Status.COMPLETE else ""
        data = {
            "status": str(task.status),
            "wait_time": str(service.estimator.wait_time(task)),
            "voice_result": voice_result,
            "reason": task.reason or "",
        }
        return envelope(Code.OK, "", data)

    @app.get(
        "/files/{token}/{name}",
        responses={
            200: {"content": {"audio/mpeg": {}, "audio/wav": {}}, "description": "The cleaned audio."},
            404: {"model": ErrorEnvelope, "description": "Unknown or expired link (code 1011)."},
        },
        response_class=FileResponse,
        summary="Download a result (the `voice_result` link; the token is the credential)",
    )
    def download(token: str, name: str):
        task = service.store.by_token(token) if len(token) >= 32 else None
        if task is not None:
            task = service.expire_if_due(task)
        if (
            task is None
            or task.status != Status.COMPLETE
            or not task.result_path
            or name != f"{task.id}.{task.output_ext}"
            or not Path(task.result_path).is_file()
        ):
            return envelope(Code.NOT_FOUND, "no such result (wrong or expired link)", status_code=404)
        return FileResponse(task.result_path, media_type=_MEDIA_TYPES[task.output_ext], filename=name)

    @app.get("/health", response_model=Health, summary="Liveness and queue size")
    def health() -> Health:
        counts = service.store.counts()
        alive = service.runner.alive_workers() if service.runner is not None else 0
        ready = service.runner.ready_workers() if service.runner is not None else 0
        expected = settings.workers if service.runner is not None else 0
        return Health(
            status="ok" if alive == expected else "degraded",
            workers=expected,
            alive_workers=alive,
            ready_workers=ready,
            waiting=counts.get(int(Status.WAITING), 0),
            in_progress=counts.get(int(Status.IN_PROGRESS), 0),
        )

    @app.post("/admin/tasks/{task_id}/close", include_in_schema=False)
    def close_task(task_id: str, request: Request) -> JSONResponse:
        token = settings.admin_token
        given = request.headers.get("Authorization", "")
        if not token or not secrets.compare_digest(digest(given), digest(f"Bearer {token}")):
            return envelope(Code.NOT_FOUND, MESSAGES[Code.NOT_FOUND], status_code=404)
        task = service.store.get(task_id)
        if task is None:
            raise ApiError(Code.UNKNOWN_TASK, "no such task")
        active = [Status.WAITING, Status.IN_PROGRESS, Status.COMPLETE]
        if not service.store.finish(task_id, Status.CLOSED, "closed by the operator", only_from=active):
            raise ApiError(Code.BAD_PARAMETERS, f"task is already final (status {task.status})")
        if task.result_path:
            Path(task.result_path).unlink(missing_ok=True)
            service.store.clear_result(task_id)
        if service.runner is not None and task.status == Status.IN_PROGRESS:
            service.runner.close_task(task_id)
        log.info("task closed by operator", extra={"task_id": task_id})
        return envelope(Code.OK, "", {"task_id": task_id})

    def openapi() -> dict:
        # We never answer 422 (request errors are envelopes with HTTP 200), so do not document it.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
