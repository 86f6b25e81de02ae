"""The Lambda Python runtime, in process: handler, context object, error payloads.

Real Lambda runs one invocation at a time in an execution environment; module-level state
(Powertools' `BatchProcessor`, logger keys, cached clients) is never shared by two invocations
running at once. In this process every function has a single module state, so each function
has one execution environment: a lock that invocations of that function take in turn.
Different functions still run concurrently. The wait for the environment is not part of the
invocation's recorded duration, as Lambda does not bill a queued invocation.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger("declick.local")


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    memory_mb: int
    timeout_s: int
    environment: Mapping[str, str]


@dataclass
class Invocation:
    function: str
    started: float
    seconds: float
    error_type: str | None


class LambdaContext:
    """What Powertools and handlers read from the Lambda context object."""

    def __init__(self, spec: FunctionSpec):
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaRuntime:
    """Calls handler functions in process, like the Lambda Python runtime would."""

    def __init__(self, functions: Iterable[FunctionSpec]):
        self.functions = {f.name: f for f in functions}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._environments = {name: threading.Lock() for name in self.functions}
        self._lock = threading.Lock()
        self.invocations: list[Invocation] = []

    def load(self) -> None:
        """Import every handler now, so that a broken import fails the deployment, not a task."""
        for spec in self.functions.values():
            module_name, _, attr = spec.handler.rpartition(".")
            module = importlib.import_module(module_name)
            self._handlers[spec.name] = getattr(module, attr)

    def invoke(self, name: str, event: Any) -> tuple[bytes, str | None]:
        """Run the handler; return the response payload and, if it failed, the error type."""
        spec = self.functions[name]
        handler = self._handlers[name]
        with self._environments[name]:
            context = LambdaContext(spec)
            started = time.monotonic()
            payload, error_type = self._run(name, handler, event, context)
            seconds = time.monotonic() - started
        if seconds > spec.timeout_s:
            LOG.warning("%s ran %.1f s, over its %d s timeout", name, seconds, spec.timeout_s)
        with self._lock:
            self.invocations.append(Invocation(name, started, seconds, error_type))
        return payload, error_type

    @staticmethod
    def _run(
        name: str, handler: Callable[[Any, Any], Any], event: Any, context: LambdaContext
    ) -> tuple[bytes, str | None]:
        try:
            return json.dumps(handler(event, context)).encode(), None
        except Exception as exc:  # noqa: BLE001 - the Lambda runtime reports every handler error
            error_type = type(exc).__name__
            if isinstance(exc, TypeError) and "JSON serializable" in str(exc):
                error_type = "Runtime.MarshalError"
            LOG.info("%s raised %s: %s", name, error_type, exc)
            payload = {
                "errorMessage": str(exc),
                "errorType": error_type,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            return json.dumps(payload).encode(), error_type

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(i.function for i in self.invocations)
