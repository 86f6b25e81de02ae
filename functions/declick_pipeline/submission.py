"""From an uploaded object to a remote task and a running state machine.

An upload is either submitted (remote task created, execution started) or rejected with a
REJECTED notification when it can never succeed: missing, empty, too large, not WAV/MP3 by its
bytes, unreadable, not storable in the requested output format, bad parameters, or refused by
the vendor. Causes on our side that no retry can fix (wrong API credentials, a vendor answer we
cannot use, the placeholder API URL) end in FAILED at once with the real reason. Anything else
(throttling, vendor 5xx, timeouts) is raised so SQS delivers the message again, soon (the
handler sets the message's visibility per attempt, declick_pipeline.submit_retry); after the
queue's max receive count it reaches the dead-letter queue and `report_dead_letter` tells the user.

Two idempotency records make duplicates harmless: one per upload around the whole step (a
duplicate S3 event neither creates a task nor notifies twice) and one per upload around the
remote task creation alone (if starting the execution fails after the task was created, the
retry reuses the task instead of paying for a second one).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from declick_contract.api import (
    CLICK_LEN_RANGE,
    DETECTION_MULT_RANGE,
    MP3_MAX_CHANNELS,
    MP3_SAMPLE_RATES,
    OUTPUT_FORMATS,
    PLACEHOLDER_API_BASE_URL,
    PRIORITY_RANGE,
)
from declick_contract.audio_format import ACCEPTED_FORMATS, SNIFF_BYTES, sniff_format
from declick_contract.errors import RemoteApiAuthError, RemoteApiRejectedError, RemoteApiResponseError
from declick_contract.models import CreateTaskRequest, FileInfo
from declick_pipeline import ledger, notifications, runtime, upload_records
from declick_pipeline.audio_probe import UnreadableAudio, probe
from declick_pipeline.idempotency import run_once
from declick_pipeline.observability import MetricUnit, count_failure, logger, metrics, tracer
from declick_pipeline.pipeline_state import PipelineState, SourceObject, TaskParameters
from declick_pipeline.s3_events import Upload
from declick_pipeline.settings import Settings
from declick_pipeline.vendor_text import clean_text

CHUNK_BYTES = 1 << 20
EXECUTION_NAME_MAX = 80

# User metadata keys (sent as x-amz-meta-<name>); S3 lower-cases them.
META_DETECTION_MULT = "detection-mult"
META_CLICK_LEN = "click-len"
META_OUTPUT_FORMAT = "output-format"
META_PRIORITY = "priority"
METADATA_KEYS = (META_DETECTION_MULT, META_CLICK_LEN, META_OUTPUT_FORMAT, META_PRIORITY)
# How alike an unknown key must be to one of ours to be taken for a misspelling of it (difflib
# ratio): catches `detection-mul`, `clicklen`, `click_length`, `priorty`, leaves `project` alone.
NEAR_MISS_RATIO = 0.8

_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NoSuchVersion", "412", "PreconditionFailed"})


class Rejection(Exception):
    """The upload can never succeed; `code` and `message` go into the REJECTED notification."""

    status = notifications.REJECTED

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PermanentFailure(Rejection):
    """Our side cannot submit the upload and no retry will change that: FAILED, at once."""

    status = notifications.FAILED


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


def recognised_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Our keys from the object's user metadata, each under its dashed name.

    `detection_mult` is the same key as `detection-mult` (S3 keeps underscores, and people type
    them). A key that is not ours but looks like a misspelling of one rejects the upload, naming
    the right key: silently running with the default would give the user a result they did not
    ask for. Other keys (the user's own tags) are left alone.
    """
    meta: dict[str, str] = {}
    for name, value in metadata.items():
        spelled = name.strip().lower().replace("_", "-")
        if spelled in METADATA_KEYS:
            if spelled in meta and meta[spelled] != value.strip():
                raise Rejection("INVALID_PARAMETER", f"{spelled} is given twice with different values")
            meta[spelled] = value.strip()
            continue
        near = difflib.get_close_matches(spelled, METADATA_KEYS, n=1, cutoff=NEAR_MISS_RATIO)
        if near:
            raise Rejection(
                "INVALID_PARAMETER",
                f"unknown metadata key {clean_text(name, 80)!r}: did you mean {near[0]!r} (x-amz-meta-{near[0]})?",
            )
    return meta


def parameters_from_metadata(metadata: Mapping[str, str], settings: Settings) -> UploadParameters:
    """Per-upload parameters from the object's user metadata, defaults from settings for the rest."""
    meta = recognised_metadata(metadata)
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


def execution_name(task_id: str, upload_identity: Mapping[str, str]) -> str:
    """The Step Functions execution name of one upload's task: [A-Za-z0-9_-], at most 80 characters.

    Derived from the upload (bucket, key, version) *and* the task id, never the task id alone: a
    vendor that hands the same task id to two uploads must not make the second start collide with
    the first and be taken for a duplicate event. Still deterministic, so a retried start of the
    same upload's task finds its execution (ExecutionAlreadyExists) instead of starting another.
    The task id's readable prefix helps ops find an execution; the digest makes it unique.
    """
    identity = json.dumps(dict(upload_identity), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{identity}\n{task_id}".encode()).hexdigest()[:20]
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", task_id)[: EXECUTION_NAME_MAX - len(digest) - 1]
    return f"{readable}-{digest}" if readable else digest


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
def inspect_object(upload: Upload, max_bytes: int, output_format: str | None = None) -> AudioFacts:
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
        duration = _duration_seconds(handle.name, fmt, output_format)
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


def _duration_seconds(path: str, fmt: str, output_format: str | None = None) -> int:
    try:
        facts = probe(path, fmt)
    except UnreadableAudio as exc:
        raise Rejection("UNREADABLE_AUDIO", f"the {fmt.upper()} file cannot be read: {exc}") from None
    check_output_format(facts.channels, facts.sample_rate, output_format)
    return facts.duration_s


def check_output_format(channels: int, samplerate: int, output_format: str | None) -> None:
    """Refuse at upload what the requested output format cannot hold, instead of a remote failure later."""
    if output_format != "mp3":
        return
    if channels > MP3_MAX_CHANNELS:
        raise Rejection(
            "OUTPUT_FORMAT_UNSUPPORTED",
            f"MP3 output holds at most {MP3_MAX_CHANNELS} channels and the file has {channels}; "
            f"ask for WAV output (metadata {META_OUTPUT_FORMAT}=wav) or upload stereo or mono audio",
        )
    if samplerate not in MP3_SAMPLE_RATES:
        rates = ", ".join(str(rate) for rate in MP3_SAMPLE_RATES)
        raise Rejection(
            "OUTPUT_FORMAT_UNSUPPORTED",
            f"MP3 output cannot store {samplerate} Hz audio (MP3 rates: {rates} Hz); "
            f"ask for WAV output (metadata {META_OUTPUT_FORMAT}=wav) or resample the file",
        )


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


def _start_execution(state_machine_arn: str, name: str, state: PipelineState) -> str:
    """Start (or find already started) the execution; return its ARN."""
    sfn = runtime.client("stepfunctions")
    # Only what was set: `$.poll` and `$.error` must stay absent (the Choice states test presence).
    execution_input = state.model_dump_json(exclude_unset=True)
    try:
        return sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=execution_input)["executionArn"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            logger.info("execution already exists; treating as started")
            return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        raise


def _reject(upload: Upload, rejection: Rejection, known: dict[str, Any]) -> dict[str, Any]:
    outcome = rejection.status.lower()
    logger.warning(f"upload {outcome}", extra={"error_code": rejection.code, "reason": rejection.message})
    if not upload_records.claim_notification(upload.identity(), upload_records.SUBMIT):
        return {"outcome": outcome, "code": rejection.code, "notified": False}
    described = upload.describe() | known
    notifications.publish(
        notifications.build_notification(
            rejection.status,
            input=described,
            error={"code": rejection.code, "message": rejection.message},
            uploaded_at=upload.uploaded_at,
        )
    )
    if rejection.status == "FAILED":
        count_failure(rejection.code)  # Failed + FailedByCode: the cause's own alarm (infra/monitoring.py)
    else:
        metrics.add_metric(name="Rejected", unit=MetricUnit.Count, value=1)
    ledger.record(
        ledger.FAILED if rejection.status == "FAILED" else ledger.REJECTED,
        bucket=upload.bucket,
        key=upload.key,
        version=upload.version,
        reason={"code": rejection.code, "message": rejection.message},
    )
    return {"outcome": outcome, "code": rejection.code}


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
        if (current.api_base_url or "").rstrip("/").lower() == PLACEHOLDER_API_BASE_URL:
            raise PermanentFailure(
                "REMOTE_API_NOT_CONFIGURED",
                f"the pipeline's remote API URL is still the placeholder {PLACEHOLDER_API_BASE_URL}; "
                "an operator has to set declick:apiBaseUrl and deploy again",
            )
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
        facts = inspect_object(item, current.max_input_bytes, parameters.output_format)
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
        except RemoteApiAuthError as exc:
            raise PermanentFailure(
                "REMOTE_API_AUTH_FAILED", f"the processing service refused our API credentials: {exc}"
            ) from None
        except RemoteApiRejectedError as exc:
            raise Rejection("REMOTE_REJECTED", f"the processing service refused the file: {exc.msg or exc}") from None
        except RemoteApiResponseError as exc:
            raise PermanentFailure(
                "REMOTE_API_BAD_RESPONSE", f"the processing service answered something we cannot use: {exc}"
            ) from None
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
    upload_records.record_task_owner(task_id, item.identity())
    execution_arn = _start_execution(current.state_machine_arn, execution_name(task_id, item.identity()), state)
    # From here on the execution owns the upload's one notification.
    upload_records.claim_notification(item.identity(), upload_records.EXECUTION)
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
