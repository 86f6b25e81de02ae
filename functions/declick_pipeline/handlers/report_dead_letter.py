"""SQS dead-letter queue of the submit queue → one FAILED notification per upload in each message.

Messages that are not S3 events at all are logged and dropped: there is nobody to notify.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from declick_pipeline import runtime
from declick_pipeline.failure_report import report_dead_upload
from declick_pipeline.observability import logger, metrics, tracer
from declick_pipeline.s3_events import UnreadableMessageError, uploads_in_message

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _record_handler(record: SQSRecord) -> int:
    try:
        uploads = uploads_in_message(record.body)
    except UnreadableMessageError as exc:
        logger.error(
            "dead message is not an S3 event; dropping it", extra={"message_id": record.message_id, "problem": str(exc)}
        )
        return 0
    for upload in uploads:
        logger.append_keys(object_key=upload.key, bucket=upload.bucket)
        try:
            report_dead_upload(upload)
        finally:
            logger.remove_keys(["object_key", "bucket"])
    return len(uploads)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.settings().require("TOPIC_ARN")
    return process_partial_response(event=event, record_handler=_record_handler, processor=processor, context=context)
