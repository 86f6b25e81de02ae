"""From an uploaded object to a remote task and a running state machine.

An upload is either submitted (remote task created, execution started) or rejected with a
REJECTED notification when it can never succeed: missing, empty, too large, not WAV/MP3 by its
bytes, unreadable, bad parameters, or refused by the vendor. Anything else (throttling, vendor
5xx, timeouts) is raised so SQS delivers the message again; after the queue's max receive count
it reaches the dead-letter queue and `report_dead_letter` tells the user.

Two idempotency records make duplicates harmless: one per upload around the whole step (a
duplicate S3 event neither creates a task nor notifies twice) and one per upload around the
remote task creation alone (if starting the execution fails after the task was created, the
retry reuses the task instead of paying for a second one).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from declick_contract.api import CLICK_LEN_RANGE, DETECTION_MULT_RANGE, OUTPUT_FORMATS, PRIORITY_RANGE
from declick_contract.audio_format import ACCEPTED_FORMATS, SNIFF_BYTES, sniff_format
from declick_contract.errors import RemoteApiAuthError, RemoteApiRejectedError
from declick_contract.models import CreateTaskRequest, FileInfo
from declick_pipeline import ledger, notifications, runtime
from declick_pipeline.audio_probe import UnreadableAudio, duration_seconds
from declick_pipeline.idempotency import run_once
from declick_pipeline.observability import MetricUnit, logger, metrics, tracer
from declick_pipeline.pipeline_state import PipelineState, SourceObject, TaskParameters
from declick_pipeline.s3_events import Upload
from declick_pipeline.settings import Settings

CHUNK_BYTES = 1 << 20
EXECUTION_NAME_MAX = 80

# User metadata keys (sent as x-amz-meta-<name>); S3 lower-cases them.
META_DETECTION_MULT = "detection-mult"
META_CLICK_LEN = "click-len"
META_OUTPUT_FORMAT = "output-format"
META_PRIORITY = "priority"

_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "412", "PreconditionFailed"})


class Rejection(Exception):
    """The upload can never succeed; `code` and `message` go into the REJECTED notification."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class UploadParameters:
    detection_mult: float
    click_len: int
    output_format: str
    priority: int


@dataclass(frozen=True)
class AudioFacts:
    size: int
    md5: str
    duration_s: int
    format: str


def _integral(field: str, raw: str, low: int, high: int) -> int:
    try:
        number = float(raw)
    except ValueError:
        raise Rejection("INVALID_PARAMETER", f"{field} must be an integer, got {raw!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise Rejection("INVALID_PARAMETER", f"{field} must be an integer, got {raw!r}")
    value = int(number)
    if not low <= value <= high:
        raise Rejection("INVALID_PARAMETER", f"{field} must be between {low} and {high}, got {value}")
    return value


def parameters_from_metadata(metadata: Mapping[str, str], settings: Settings) -> UploadParameters:
    """Per-upload parameters from the object's user metadata, defaults from settings for the rest."""
    meta = {name.lower(): value.strip() for name, value in metadata.items()}
    detection_mult = settings.default_detection_mult
    if meta.get(META_DETECTION_MULT):
        raw = meta[META_DETECTION_MULT]
        try:
            detection_mult = float(raw)
        except ValueError:
            raise Rejection("INVALID_PARAMETER", f"{META_DETECTION_MULT} must be a number, got {raw!r}") from None
        low, high = DETECTION_MULT_RANGE
        if not math.isfinite(detection_mult) or not low <= detection_mult <= high:
            raise Rejection("INVALID_PARAMETER", f"{META_DETECTION_MULT} must be between {low} and {high}, got {raw}")
    click_len = settings.default_click_len
    if meta.get(META_CLICK_LEN):
        click_len = _integral(META_CLICK_LEN, meta[META_CLICK_LEN], *CLICK_LEN_RANGE)
    priority = settings.default_priority
    if meta.get(META_PRIORITY):
        priority = _integral(META_PRIORITY, meta[META_PRIORITY], *PRIORITY_RANGE)
    output_format = settings.default_output_format
    if meta.get(META_OUTPUT_FORMAT):
        output_format = meta[META_OUTPUT_FORMAT].lower().lstrip(".")
        if output_format not in OUTPUT_FORMATS:
            raise Rejection(
                "INVALID_PARAMETER",
                f"{META_OUTPUT_FORMAT} must be one of {', '.join(OUTPUT_FORMATS)}, got {meta[META_OUTPUT_FORMAT]!r}",
            )
    return UploadParameters(detection_mult, click_len, output_format, priority)


def check_size(size: int | None, max_bytes: int) -> None:
    if size is None:
        return
    if size <= 0:
        raise Rejection("EMPTY_FILE", "the uploaded file is empty")
    if size > max_bytes:
        raise Rejection("FILE_TOO_LARGE", f"the uploaded file is {size} bytes; the limit is {max_bytes} bytes")


def execution_name(task_id: str) -> str:
    """A Step Functions execution name for the task: [A-Za-z0-9_-], at most 80 characters.

    A task id that had to be changed gets a hash suffix, so two ids that clean up to the same
    text still get different names.
    """
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", task_id)
    if cleaned == task_id and 0 < len(cleaned) <= EXECUTION_NAME_MAX:
        return cleaned
    digest = hashlib.sha256(task_id.encode()).hexdigest()[:12]
    return f"{cleaned[: EXECUTION_NAME_MAX - len(digest) - 1]}-{digest}"


def _object_args(upload: Upload) -> dict[str, str]:
    """Pin the exact object we were told about: its version, or its ETag when the bucket is unversioned."""
    args = {"Bucket": upload.bucket, "Key": upload.key}
    if upload.version_id:
        args["VersionId"] = upload.version_id
    elif upload.etag:
        args["IfMatch"] = f'"{upload.etag}"'
    return args


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in _MISSING_OBJECT_CODES


@tracer.capture_method(capture_response=False)
def inspect_object(upload: Upload, max_bytes: int) -> AudioFacts:
    """Stream the object once into /tmp, hashing as it goes, then read its audio header.

    The ETag is not an MD5 for multipart or KMS-encrypted objects, so the MD5 the vendor wants
    is computed here. Duration is whole seconds rounded up, at least 1 (the vendor wants an int).
    """
    s3 = runtime.client("s3")
    try:
        response = s3.get_object(**_object_args(upload))
    except ClientError as exc:
        if _missing(exc):
            raise Rejection("OBJECT_NOT_FOUND", "the object was deleted or replaced before it could be read") from None
        raise
    body = response["Body"]
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    head = b""
    fmt: str | None = None
    handle = tempfile.NamedTemporaryFile(prefix="declick-", suffix=".audio", delete=False)  # noqa: SIM115
    try:
        with handle:
            for chunk in body.iter_chunks(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise Rejection("FILE_TOO_LARGE", f"the uploaded file is over the {max_bytes}-byte limit")
                md5.update(chunk)
                handle.write(chunk)
                if fmt is None:
                    head += chunk[:SNIFF_BYTES]
                    if len(head) >= SNIFF_BYTES:
                        fmt = _accepted_format(head)
            if fmt is None:
                fmt = _accepted_format(head)
        if size == 0:
            raise Rejection("EMPTY_FILE", "the uploaded file is empty")
        duration = _duration_seconds(handle.name, fmt)
    finally:
        body.close()
        os.unlink(handle.name)
    return AudioFacts(size=size, md5=md5.hexdigest(), duration_s=duration, format=fmt)


def _accepted_format(head: bytes) -> str:
    if not head:
        raise Rejection("EMPTY_FILE", "the uploaded file is empty")
    fmt = sniff_format(head)
    if fmt is None:
        raise Rejection("NOT_AUDIO", "the file content is not WAV or MP3 audio")
    if fmt not in ACCEPTED_FORMATS:
        raise Rejection("UNSUPPORTED_FORMAT", f"the file is {fmt.upper()} audio; only WAV and MP3 are accepted")
    return fmt


def _duration_seconds(path: str, fmt: str) -> int:
    try:
        return duration_seconds(path, fmt)
    except UnreadableAudio as exc:
        raise Rejection("UNREADABLE_AUDIO", f"the {fmt.upper()} file cannot be read: {exc}") from None


def _create_remote_task(key: dict[str, str], request: CreateTaskRequest) -> dict[str, str]:
    """Runs at most once per upload (Powertools hashes only `key`); the stored result is what a retry gets back."""
    task_id = runtime.remote_api().create_task(request)
    return {"task_id": task_id, "submitted_at": notifications.utc_now()}


def _presign(upload: Upload, expiry_seconds: int) -> str:
    """The vendor's `file_link`, pinned to the version we inspected.

    Signed with the link-signing user's long-term key (infra/link_signing.py), not the function
    role's session credentials, which would end the link's life when the session ends.
    """
    params = {"Bucket": upload.bucket, "Key": upload.key}
    if upload.version_id:
        params["VersionId"] = upload.version_id
    return runtime.link_signing_client().generate_presigned_url("get_object", Params=params, ExpiresIn=expiry_seconds)


def _start_execution(state_machine_arn: str, task_id: str, state: PipelineState) -> str:
    """Start (or find already started) the execution; return its ARN."""
    sfn = runtime.client("stepfunctions")
    # Only what was set: `$.poll` and `$.error` must stay absent (the Choice states test presence).
    execution_input = state.model_dump_json(exclude_unset=True)
    name = execution_name(task_id)
    try:
        return sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=execution_input)["executionArn"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            logger.info("execution already exists; treating as started")
            return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        raise


def _reject(upload: Upload, rejection: Rejection, known: dict[str, Any]) -> dict[str, Any]:
    logger.warning("upload rejected", extra={"error_code": rejection.code, "reason": rejection.message})
    described = upload.describe() | known
    notifications.publish(
        notifications.build_notification(
            notifications.REJECTED,
            input=described,
            error={"code": rejection.code, "message": rejection.message},
            uploaded_at=upload.uploaded_at,
        )
    )
    metrics.add_metric(name="Rejected", unit=MetricUnit.Count, value=1)
    ledger.record(
        ledger.REJECTED,
        bucket=upload.bucket,
        key=upload.key,
        version=upload.version,
        reason={"code": rejection.code, "message": rejection.message},
    )
    return {"outcome": "rejected", "code": rejection.code}


def _submit(key: dict[str, str], item: Upload, context: Any = None) -> dict[str, Any]:
    current = runtime.settings()
    known: dict[str, Any] = {}
    ledger.record(
        ledger.RECEIVED,
        bucket=item.bucket,
        key=item.key,
        version=item.version,
        uploaded_at=item.uploaded_at,
        version_id=item.version_id,
        etag=item.etag,
        replay_id=item.replay_id,
    )
    try:
        check_size(item.size, current.max_input_bytes)
        s3 = runtime.client("s3")
        try:
            head = s3.head_object(**_object_args(item))
        except ClientError as exc:
            if _missing(exc):
                raise Rejection(
                    "OBJECT_NOT_FOUND", "the object was deleted or replaced before it could be read"
                ) from None
            raise
        known["size"] = head["ContentLength"]
        check_size(head["ContentLength"], current.max_input_bytes)
        parameters = parameters_from_metadata(head.get("Metadata") or {}, current)
        facts = inspect_object(item, current.max_input_bytes)
        known.update(size=facts.size, md5=facts.md5, duration_s=facts.duration_s, format=facts.format)
        request = CreateTaskRequest(
            file_link=_presign(item, current.presign_expiry_seconds),
            file_info=FileInfo(
                file_size=facts.size, file_md5=facts.md5, file_time=facts.duration_s, file_ext=facts.format
            ),
            detection_mult=parameters.detection_mult,
            click_len=parameters.click_len,
            output_ext=parameters.output_format,
            priority=parameters.priority,
        )
        try:
            created = run_once(
                _create_remote_task,
                key_prefix="create_remote_task",
                key=key,
                request=request,
                lambda_context=context,
            )
        except RemoteApiAuthError:
            raise
        except RemoteApiRejectedError as exc:
            raise Rejection("REMOTE_REJECTED", f"the processing service refused the file: {exc.msg or exc}") from None
    except Rejection as rejection:
        return _reject(item, rejection, known)

    task_id = created["task_id"]
    logger.append_keys(task_id=task_id)
    state = PipelineState(
        task_id=task_id,
        submitted_at=created["submitted_at"],
        uploaded_at=item.uploaded_at,
        input=SourceObject(
            bucket=item.bucket,
            key=item.key,
            version_id=item.version_id,
            etag=item.etag,
            size=facts.size,
            md5=facts.md5,
            duration_s=facts.duration_s,
            format=facts.format,
        ),
        parameters=TaskParameters.model_validate(parameters, from_attributes=True),
    )
    execution_arn = _start_execution(current.state_machine_arn, task_id, state)
    metrics.add_metric(name="Submitted", unit=MetricUnit.Count, value=1)
    ledger.record(
        ledger.SUBMITTED,
        bucket=item.bucket,
        key=item.key,
        version=item.version,
        task_id=task_id,
        execution_arn=execution_arn,
        submitted_at=created["submitted_at"],
        only_from=(ledger.RECEIVED, ledger.SUBMITTED),
    )
    logger.info("upload submitted", extra={"format": facts.format, "size": facts.size, "duration_s": facts.duration_s})
    return {"outcome": "submitted", "task_id": task_id}


@tracer.capture_method(capture_response=False)
def submit_upload(upload: Upload, lambda_context: Any = None) -> dict[str, Any]:
    """Submit or reject one upload, at most once per object version."""
    runtime.settings().require(
        "API_BASE_URL", "API_SECRET_ARN", "TOPIC_ARN", "STATE_MACHINE_ARN", "IDEMPOTENCY_TABLE", "SIGNING_SECRET_ARN"
    )
    return run_once(
        _submit,
        key_prefix="submit_upload",
        key=upload.identity(),
        item=upload,
        context=lambda_context,
        lambda_context=lambda_context,
    )
