"""Step Functions task: publish FAILED for a remote failure, a give-up or a caught error (`$.error`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from declick_pipeline import runtime
from declick_pipeline.failure_report import report_failure
from declick_pipeline.observability import logger, metrics, tracer
from declick_pipeline.pipeline_state import PipelineState


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.settings().require("TOPIC_ARN")
    state = parse(event=event, model=PipelineState)
    logger.append_keys(task_id=state.task_id, object_key=state.input.key)
    return report_failure(state)
