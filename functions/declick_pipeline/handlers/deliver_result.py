"""Step Functions task: copy the result to the output bucket, publish SUCCEEDED; result goes to `$.delivery`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from declick_pipeline.delivery import deliver_result
from declick_pipeline.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    logger.append_keys(task_id=event.get("task_id"), object_key=(event.get("input") or {}).get("key"))
    return deliver_result(event, lambda_context=context)
