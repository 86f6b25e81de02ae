"""Copy the vendor's result into the output bucket and tell the user.

`voice_result` is a URL chosen by a third party, so it is fetched only through `safe_download`
(https, public addresses, size and time caps). The bytes are streamed straight into a multipart
upload (never held whole in memory) after the first bytes proved they are the requested format.

Errors that can never succeed on retry derive from `DeliveryRejectedError`; the state machine
should not retry them, and its Catch hands them to `report_failure` under their class name.
`ResultDownloadError` is the transient kind (vendor storage hiccup), worth the Retry.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from boto3.s3.transfer import TransferConfig

from declick_contract.audio_format import SNIFF_BYTES, content_type, sniff_format
from declick_contract.errors import (
    ResultDownloadError,
    ResultDownloadRefusedError,
    ResultFormatError,
    ResultMissingError,
    ResultUrlRefusedError,
)
from declick_contract.safe_download import DownloadError, DownloadPolicy, UnsafeUrlError, stream_download
from declick_pipeline import ledger, notifications, runtime
from declick_pipeline.idempotency import run_once
from declick_pipeline.observability import MetricUnit, logger, metrics, redact_url, tracer
from declick_pipeline.pipeline_state import PipelineState, PollOutcome

CHUNK_BYTES = 1 << 20
_TRANSFER = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=2)
# A non-seekable stream is uploaded from parts buffered in memory; s3transfer keeps up to 10 of them
# by default (80 MB here). Two in flight plus one being read is all the concurrency can use.
_TRANSFER.max_in_memory_upload_chunks = 3


def output_key(input_key: str, output_format: str) -> str:
    """`a/b c.wav` → `a/b c.mp3`: folders kept, extension replaced (or added when there is none)."""
    folder, slash, name = input_key.rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
    return f"{folder}{slash}{stem}.{output_format}"


class _ChunkStream(io.RawIOBase):
    """A read-only file over an iterator of byte chunks, for `upload_fileobj`."""

    def __init__(self, first: bytes, rest: Iterator[bytes]):
        self._pending = memoryview(first)
        self._rest = rest
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                self._pending = memoryview(next(self._rest))
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        self.size += count
        return count


def _first_bytes(chunks: Iterator[bytes]) -> bytes:
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    return head


def _check_format(head: bytes, expected: str) -> None:
    if not head:
        raise ResultFormatError("the result file is empty")
    found = sniff_format(head)
    if found != expected:
        what = f"{found.upper()} audio" if found else "not recognisable audio"
        raise ResultFormatError(f"the result is {what}, but {expected.upper()} was requested")


@tracer.capture_method(capture_response=False)
def copy_result(url: str, bucket: str, key: str, output_format: str, metadata: dict[str, str]) -> int:
    """Stream `url` into s3://bucket/key; return the number of bytes written."""
    current = runtime.settings()
    policy = DownloadPolicy(
        max_bytes=current.download_max_bytes,
        timeout_seconds=current.download_timeout_seconds,
        allowed_hosts=current.download_allowed_hosts,
    )
    try:
        with stream_download(url, policy, chunk_size=CHUNK_BYTES) as chunks:
            head = _first_bytes(chunks)
            _check_format(head, output_format)
            raw = _ChunkStream(head, chunks)
            runtime.client("s3").upload_fileobj(
                io.BufferedReader(raw, buffer_size=CHUNK_BYTES),
                bucket,
                key,
                ExtraArgs={"Metadata": metadata, "ContentType": content_type(output_format)},
                Config=_TRANSFER,
            )
            return raw.size
    except UnsafeUrlError as exc:
        raise ResultUrlRefusedError(f"refusing to download the result: {exc}") from None
    except DownloadError as exc:
        if exc.transient:
            raise ResultDownloadError(f"downloading the result failed: {exc}") from None
        raise ResultDownloadRefusedError(f"downloading the result failed: {exc}") from None


def _deliver(key: dict[str, str], state: PipelineState) -> dict[str, Any]:
    current = runtime.settings()
    source = state.input
    poll = state.poll or PollOutcome()
    output_format = state.parameters.output_format or current.default_output_format
    if not poll.voice_result:
        raise ResultMissingError("the remote task is complete but gave no result URL")
    url = poll.voice_result
    target_key = output_key(source.key or state.task_id, output_format)
    logger.info("delivering result", extra={"result_url": redact_url(url), "output_key": target_key})
    metadata = {
        "source-bucket": source.bucket or "",
        "source-key": quote(source.key or "", safe="/"),
        "source-version-id": source.version_id or "",
        "task-id": quote(state.task_id, safe=""),
    }
    size = copy_result(url, current.output_bucket, target_key, output_format, metadata)
    output = {"bucket": current.output_bucket, "key": target_key, "size": size, "format": output_format}
    message = notifications.build_notification(
        notifications.SUCCEEDED,
        input=source.for_notification(),
        output=output,
        task=state.task_summary(),
        uploaded_at=state.uploaded_at,
        submitted_at=state.submitted_at,
    )
    notifications.publish(message)
    metrics.add_metric(name="Succeeded", unit=MetricUnit.Count, value=1)
    ledger.record(
        ledger.SUCCEEDED,
        bucket=source.bucket,
        key=source.key,
        version=source.version_id or source.etag,
        task_id=state.task_id,
        output_key=target_key,
    )
    uploaded = notifications.parse_timestamp(state.uploaded_at or state.submitted_at)
    notified = notifications.parse_timestamp(message["timestamps"]["notified_at"])
    if uploaded and notified:
        seconds = max(0.0, (notified - uploaded).total_seconds())
        metrics.add_metric(name="SecondsFromUploadToResult", unit=MetricUnit.Seconds, value=seconds)
    return {"output": output}


def deliver_result(state: PipelineState, lambda_context: Any = None) -> dict[str, Any]:
    """Deliver once per upload's task: a retried or re-driven deliver returns the first result, no second
    notification. The upload is part of the key because a vendor may hand one task id to two uploads."""
    runtime.settings().require("OUTPUT_BUCKET", "TOPIC_ARN", "IDEMPOTENCY_TABLE")
    source = state.input
    return run_once(
        _deliver,
        key_prefix="deliver_result",
        key={
            "task_id": state.task_id,
            "bucket": source.bucket or "",
            "key": source.key or "",
            "version": source.version_id or source.etag or "",
        },
        state=state,
        lambda_context=lambda_context,
    )
