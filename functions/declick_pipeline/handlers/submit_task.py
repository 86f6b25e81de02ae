"""SQS (S3 ObjectCreated notifications) → submit or reject each upload; partial batch failures.

A record fails (and SQS redelivers it, finally to the DLQ) only for transient trouble; uploads
that can never succeed are answered with a REJECTED (or FAILED) notification and count as
processed. Each failed record's message is made visible again after its own backoff
(declick_pipeline.submit_retry), not after the queue's hour-long visibility timeout.

The batch processor is module state: that is safe because a Lambda execution environment runs
one invocation at a time (the local emulator keeps that model).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from declick_contract.errors import RemoteApiTransientError
from declick_pipeline import runtime
from declick_pipeline.observability import logger, metrics, tracer
from declick_pipeline.s3_events import uploads_in_message
from declick_pipeline.submission import submit_upload
from declick_pipeline.submit_retry import defer_failed_records

# A batch where every record failed is still answered with batchItemFailures (not an exception):
# SQS then retries exactly those records, the same as for a partial failure.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# Message id → the vendor's Retry-After for records that failed with one (this invocation only).
_retry_after: dict[str, float] = {}


def _record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> list[dict[str, Any]]:
    outcomes = []
    for upload in uploads_in_message(record.body):
        logger.append_keys(object_key=upload.key, bucket=upload.bucket)
        try:
            outcomes.append(submit_upload(upload, lambda_context=lambda_context))
        except RemoteApiTransientError as exc:
            if exc.retry_after is not None:
                _retry_after[record.message_id] = exc.retry_after
            raise
        finally:
            logger.remove_keys(["object_key", "bucket", "task_id"])
    return outcomes


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.settings().require("API_BASE_URL", "API_SECRET_ARN", "TOPIC_ARN", "STATE_MACHINE_ARN", "IDEMPOTENCY_TABLE")
    _retry_after.clear()
    response = process_partial_response(
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
    failed = [item["itemIdentifier"] for item in response.get("batchItemFailures", [])]
    if failed:
        defer_failed_records(event.get("Records", []), failed, _retry_after)
    return response
