"""The endpoints: the vendor's two, result downloads, health and the operator's close."""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse

from declick.service.auth import basic_auth
from declick.service.codes import MESSAGES, Code
from declick.service.errors import ApiError, envelope
from declick.service.models import BatchEnvelope, BatchRequest, ErrorEnvelope, Health, ResultEnvelope
from declick.service.results import close_task
from declick.service.store import NewTask
from declick.service.wiring import Service
from declick_contract.api import CREATE_PATH, MEDIA_TYPES, RESULT_PATH, Status

log = logging.getLogger("declick.service")

router = APIRouter()


def current_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(current_service)]


def authenticated(service: ServiceDep, header: Annotated[str | None, Depends(basic_auth)]) -> str:
    return service.auth.authenticate(header)


AUTH_RESPONSES = {
    200: {"description": "The envelope: `code` 0 on success, else a request error code (HTTP 200 like the vendor)."},
    401: {"model": ErrorEnvelope, "description": "Missing or wrong credentials (code 1001)."},
    413: {"model": ErrorEnvelope, "description": "Request body too large (code 1002)."},
    431: {"model": ErrorEnvelope, "description": "Request line and headers too large (code 1002)."},
    500: {"model": ErrorEnvelope, "description": "Internal error (code 1500)."},
}


@router.post(
    CREATE_PATH,
    response_model=BatchEnvelope,
    responses={**AUTH_RESPONSES, 429: {"model": ErrorEnvelope, "description": "Queue full (code 1010)."}},
    summary="Create a click-removal task",
)
def create_task(body: BatchRequest, service: ServiceDep, appkey: str = Depends(authenticated)) -> JSONResponse:
    settings = service.settings
    if body.file_info.file_size > settings.max_input_bytes:
        raise ApiError(Code.FILE_TOO_LARGE, f"file_size over {settings.max_input_bytes} bytes")
    service.check_link(body.file_link)
    task_id = str(uuid.uuid4())
    new = NewTask(id=task_id, appkey=appkey, priority=body.priority, **asdict(body.requested_task()))
    if not service.store.insert(new, max_waiting=settings.max_queued_tasks):
        raise ApiError(Code.QUEUE_FULL, f"{settings.max_queued_tasks} tasks are waiting", 429)
    if service.runner is not None:
        service.runner.wake()
    log.info(
        "task submitted",
        extra={"task_id": task_id, "appkey": appkey, "priority": body.priority, "file_time": new.file_time},
    )
    return envelope(Code.OK, "", {"task_id": task_id})


@router.get(
    RESULT_PATH,
    response_model=ResultEnvelope,
    responses=AUTH_RESPONSES,
    summary="Get a task's status and result",
)
def task_result(
    task_id: str, request: Request, service: ServiceDep, appkey: str = Depends(authenticated)
) -> JSONResponse:
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


@router.get(
    "/files/{token}/{name}",
    responses={
        200: {"content": {media: {} for media in MEDIA_TYPES.values()}, "description": "The cleaned audio."},
        404: {"model": ErrorEnvelope, "description": "Unknown or expired link (code 1011)."},
    },
    response_class=FileResponse,
    summary="Download a result (the `voice_result` link; the token is the credential)",
)
def download(token: str, name: str, service: ServiceDep):
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
    return FileResponse(task.result_path, media_type=MEDIA_TYPES[task.output_ext], filename=name)


@router.get("/health", response_model=Health, summary="Liveness and queue size")
def health(service: ServiceDep) -> Health:
    counts = service.store.counts()
    runner = service.runner
    alive = runner.alive_workers() if runner is not None else 0
    ready = runner.ready_workers() if runner is not None else 0
    expected = service.settings.workers if runner is not None else 0
    return Health(
        status="ok" if alive == expected else "degraded",
        workers=expected,
        alive_workers=alive,
        ready_workers=ready,
        waiting=counts.get(int(Status.WAITING), 0),
        in_progress=counts.get(int(Status.IN_PROGRESS), 0),
    )


@router.post("/admin/tasks/{task_id}/close", include_in_schema=False)
def close_by_operator(task_id: str, request: Request, service: ServiceDep) -> JSONResponse:
    if not service.auth.is_operator(request.headers.get("Authorization")):
        return envelope(Code.NOT_FOUND, MESSAGES[Code.NOT_FOUND], status_code=404)
    task = service.store.get(task_id)
    if task is None:
        raise ApiError(Code.UNKNOWN_TASK, "no such task")
    active = [Status.WAITING, Status.IN_PROGRESS, Status.COMPLETE]
    if not close_task(service.store, task, "closed by the operator", only_from=active):
        raise ApiError(Code.BAD_PARAMETERS, f"task is already final (status {task.status})")
    if service.runner is not None and task.status == Status.IN_PROGRESS:
        service.runner.close_task(task_id)
    log.info("task closed by operator", extra={"task_id": task_id})
    return envelope(Code.OK, "", {"task_id": task_id})
