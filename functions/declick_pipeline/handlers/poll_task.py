"""Step Functions task: look at the remote task once; the result goes to `$.poll`."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from declick_pipeline.observability import logger, metrics, tracer
from declick_pipeline.pipeline_state import PipelineState
from declick_pipeline.polling import poll_task


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    state = parse(event=event, model=PipelineState)
    logger.append_keys(task_id=state.task_id, object_key=state.input.key)
    return poll_task(state)
