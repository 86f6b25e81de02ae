"""The Powertools logger, tracer and metrics shared by every handler.

Service name, namespace and log level come from the POWERTOOLS_* variables. Never log a
presigned URL with its query string or anything from the API secret: use `redact_url`. Traced
functions use `capture_response=False`: a poll's response carries `voice_result`, which may be a
presigned URL, and X-Ray metadata is a log too.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

# The contract's defaults apply when the POWERTOOLS_* variables are absent (metrics would
# otherwise fail to flush for want of a namespace).
SERVICE_NAME = os.environ.get("POWERTOOLS_SERVICE_NAME") or "declick"
METRICS_NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Declick"

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)

__all__ = ["MetricUnit", "count_failure", "logger", "metrics", "redact_url", "tracer"]

# Alarmed in infra/monitoring.py by these names and dimensions.
FAILED_BY_CODE_METRIC = "FailedByCode"
CODE_DIMENSION = "code"


def count_failure(code: str) -> None:
    """One FAILED upload: `Failed` (all causes) plus `FailedByCode` with the cause as a dimension.

    The code dimension is emitted on its own metric (a single-metric EMF line) so it does not
    leak onto every other metric of the invocation.
    """
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
    with single_metric(
        name=FAILED_BY_CODE_METRIC,
        unit=MetricUnit.Count,
        value=1,
        namespace=METRICS_NAMESPACE,
        default_dimensions={"service": SERVICE_NAME},
    ) as metric:
        metric.add_dimension(name=CODE_DIMENSION, value=code)


def redact_url(url: str | None) -> str | None:
    """Drop query, fragment and userinfo: presigned URLs carry their signature in the query."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path, "", ""))
    except ValueError:
        return "(unparseable URL)"
