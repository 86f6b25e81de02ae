"""Everything the emulator does to moto beyond its HTTP API, in one place, for one moto range.

moto has no public hooks for what the emulator needs, so it relies on private names:

* `LambdaBackend.invoke` / `LambdaSimpleBackend.invoke`: wrapped so that the state machine
  interpreter's Lambda calls run our handlers in process (errors reported the way the Lambda
  runtime does, so the definition's Retry/Catch see the real error names);
* `moto.s3.notifications._get_s3_event`: wrapped to add the `versionId` and `sequencer` that
  S3 sends and moto leaves out (reads the key's private `_is_versioned`);
* `moto.core.config.default_user_config`: Step Functions executions on, Lambda without Docker;
* `moto_api_backend.reset()`: a clean account per emulator.

`check_moto()` refuses a moto outside `SUPPORTED` with a clear message, and
tests/unit/local/test_moto_patches.py fails when one of these names changes shape.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from declick.local.emulator.lambda_runtime import LambdaRuntime
from declick.local.emulator.sandbox import ProcessSandbox

# The moto versions these patches were written and tested for: [low, high).
SUPPORTED = ((5, 2, 0), (5, 3, 0))

# What each wrapped function must accept, by parameter name (self included for methods).
LAMBDA_INVOKE_PARAMETERS = ("self", "function_name", "qualifier", "body", "headers", "response_headers")
S3_EVENT_PARAMETERS = ("event_name", "bucket", "key", "notification_id")


class UnsupportedMotoError(RuntimeError):
    pass


def _version_tuple(version: str) -> tuple[int, int, int]:
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not match:
        raise UnsupportedMotoError(f"cannot read moto's version {version!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def check_version(version: str) -> None:
    low, high = SUPPORTED
    if not low <= _version_tuple(version) < high:
        raise UnsupportedMotoError(
            f"the local emulator patches private moto APIs written for moto "
            f">={'.'.join(map(str, low))},<{'.'.join(map(str, high))}; moto {version} is installed. "
            "Install the version pinned in requirements.txt, or update "
            "declick/local/emulator/moto_patches.py and run tests/unit/local/test_moto_patches.py."
        )


def patched_functions() -> dict[str, tuple[Callable[..., Any], tuple[str, ...]]]:
    """Each private function the emulator wraps, with the parameters the wrapper relies on."""
    from moto.awslambda import models as lambda_models
    from moto.awslambda_simple import models as lambda_simple_models
    from moto.s3 import notifications as s3_notifications

    return {
        "moto.awslambda.models.LambdaBackend.invoke": (lambda_models.LambdaBackend.invoke, LAMBDA_INVOKE_PARAMETERS),
        "moto.awslambda_simple.models.LambdaSimpleBackend.invoke": (
            lambda_simple_models.LambdaSimpleBackend.invoke,
            LAMBDA_INVOKE_PARAMETERS,
        ),
        "moto.s3.notifications._get_s3_event": (s3_notifications._get_s3_event, S3_EVENT_PARAMETERS),
    }


def check_moto() -> None:
    """Fail now, with a clear message, rather than with a confusing error in a handler later."""
    import moto

    check_version(moto.__version__)
    for name, (function, expected) in patched_functions().items():
        parameters = tuple(inspect.signature(function).parameters)
        if parameters != expected:
            raise UnsupportedMotoError(f"{name} takes {parameters}, the emulator expects {expected}")


def configure(sandbox: ProcessSandbox) -> None:
    """Executions run by moto's interpreter, Lambda invoked in process; undone on restore."""
    from moto.core.config import default_user_config

    saved = copy.deepcopy(default_user_config)

    def restore() -> None:
        default_user_config.clear()
        default_user_config.update(saved)

    sandbox.on_restore(restore)
    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    default_user_config.setdefault("lambda", {})["use_docker"] = False


def reset_moto() -> None:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def install(sandbox: ProcessSandbox, runtime: Callable[[], LambdaRuntime]) -> None:
    """Wrap moto's Lambda invoke (both backends: which one serves depends on `use_docker`) and S3 event."""
    from moto.awslambda import models as lambda_models
    from moto.awslambda_simple import models as lambda_simple_models
    from moto.s3 import notifications as s3_notifications

    wrapper = _in_process_invoke(runtime)
    sandbox.patch(lambda_models.LambdaBackend, "invoke", wrapper)
    sandbox.patch(lambda_simple_models.LambdaSimpleBackend, "invoke", wrapper)
    sandbox.patch(s3_notifications, "_get_s3_event", _complete_s3_event)


def _in_process_invoke(runtime: Callable[[], LambdaRuntime]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> Any:
            functions = runtime()
            name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name.split(":")[0]
            if name not in functions.functions:
                return original(backend, function_name, qualifier, body, headers, response_headers)
            event = json.loads(body) if body else {}
            payload, error = functions.invoke(name, event)
            if error:
                response_headers["x-amz-function-error"] = "Unhandled"
            response_headers["Content-Length"] = str(len(payload))
            return payload

        return invoke

    return wrap


def _complete_s3_event(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's S3 event lacks `versionId` and `sequencer`; S3 sends both for versioned buckets."""

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event = original(event_name, bucket, key, notification_id)
        record = event["Records"][0]
        obj = record["s3"]["object"]
        if getattr(key, "_is_versioned", False) and key.version_id and key.version_id != "null":
            obj["versionId"] = key.version_id
        obj["sequencer"] = f"{time.time_ns():X}"
        record.setdefault("userIdentity", {"principalId": "LOCAL"})
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault("responseElements", {"x-amz-request-id": uuid.uuid4().hex[:16].upper()})
        return event

    return get_s3_event
