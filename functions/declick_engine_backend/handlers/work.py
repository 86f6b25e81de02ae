"""SQS (one band's work queue) -> one task on the engine (declick_engine_backend.work).

Batch size 1: a task may take minutes, and a batch would hold every other message invisible
meanwhile. An error escaping here (DynamoDB or S3 unreachable) fails the record, SQS redelivers
it, and after the queue's receive limit it lands in the dead-letter queue (alarmed).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from declick_engine_backend import runtime
from declick_engine_backend.work import process

logger = Logger(service="declick-engine-worker")
processor = BatchProcessor(event_type=EventType.SQS)


def _record(record: SQSRecord) -> None:
    task_id = json.loads(record.body)["task_id"]
    status = process(task_id, runtime.settings(), runtime.table(), runtime.client("s3"))
    logger.info("task handled", extra={"task_id": task_id, "status": status.name if status else None})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
