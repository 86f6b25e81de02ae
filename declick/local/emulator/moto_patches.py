"""Everything the emulator does to moto beyond its HTTP API, in one place, for one moto range.

moto has no public hooks for what the emulator needs, so it relies on private names:

* `LambdaBackend.invoke` / `LambdaSimpleBackend.invoke`: wrapped so that the state machine
  interpreter's Lambda calls run our handlers in process (errors reported the way the Lambda
  runtime does, so the definition's Retry/Catch see the real error names);
* `moto.s3.notifications._get_s3_event`: wrapped to add the `versionId` and `sequencer` that
  S3 sends and moto leaves out (reads the key's private `_is_versioned`);
* `moto.sns.models.Subscription.publish`: HTTP(S) subscriptions are delivered the way SNS does,
  off the publisher's path (moto posts inline, with no timeout, so a subscriber that is down or
  slow would fail or stall the handler that publishes), with SNS's `x-amz-sns-*` headers and the
  message attributes (reads `_filter_policy_matcher`, `_parse_message_structure`);
* `ThreadedMotoServer._server_entry`: a port that cannot be bound is an error, not a hang;
* `moto.core.config.default_user_config`: Step Functions executions on, Lambda without Docker;
* `moto_api_backend.reset()`: a clean account per emulator.

`check_moto()` refuses a moto outside `SUPPORTED` with a clear message, and
tests/unit/local/test_moto_patches.py fails when one of these names changes shape.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from declick.local.emulator.lambda_runtime import LambdaRuntime
from declick.local.emulator.sandbox import ProcessSandbox

# The moto versions these patches were written and tested for: [low, high).
SUPPORTED = ((5, 2, 0), (5, 3, 0))

# What each wrapped function must accept, by parameter name (self included for methods).
LAMBDA_INVOKE_PARAMETERS = ("self", "function_name", "qualifier", "body", "headers", "response_headers")
S3_EVENT_PARAMETERS = ("event_name", "bucket", "key", "notification_id")
SNS_PUBLISH_PARAMETERS = (
    "self",
    "message",
    "message_id",
    "subject",
    "message_attributes",
    "group_id",
    "deduplication_id",
    "message_structure",
)
SERVER_ENTRY_PARAMETERS = ("self",)

LOG = logging.getLogger("declick.local")

# HTTP(S) subscribers: how long one delivery may take, and how many run at once.
HTTP_DELIVERY_TIMEOUT = (3.0, 10.0)  # connect, read (seconds)
HTTP_DELIVERY_WORKERS = 4


class PortUnavailableError(RuntimeError):
    pass


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
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.s3 import notifications as s3_notifications
    from moto.sns import models as sns_models

    return {
        "moto.awslambda.models.LambdaBackend.invoke": (lambda_models.LambdaBackend.invoke, LAMBDA_INVOKE_PARAMETERS),
        "moto.awslambda_simple.models.LambdaSimpleBackend.invoke": (
            lambda_simple_models.LambdaSimpleBackend.invoke,
            LAMBDA_INVOKE_PARAMETERS,
        ),
        "moto.s3.notifications._get_s3_event": (s3_notifications._get_s3_event, S3_EVENT_PARAMETERS),
        "moto.sns.models.Subscription.publish": (sns_models.Subscription.publish, SNS_PUBLISH_PARAMETERS),
        "moto.moto_server.threaded_moto_server.ThreadedMotoServer._server_entry": (
            ThreadedMotoServer._server_entry,
            SERVER_ENTRY_PARAMETERS,
        ),
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
    """Wrap moto's Lambda invoke (both backends: which one serves depends on `use_docker`), S3 event
    and SNS HTTP(S) delivery."""
    from moto.awslambda import models as lambda_models
    from moto.awslambda_simple import models as lambda_simple_models
    from moto.s3 import notifications as s3_notifications
    from moto.sns import models as sns_models

    wrapper = _in_process_invoke(runtime)
    sandbox.patch(lambda_models.LambdaBackend, "invoke", wrapper)
    sandbox.patch(lambda_simple_models.LambdaSimpleBackend, "invoke", wrapper)
    sandbox.patch(s3_notifications, "_get_s3_event", _complete_s3_event)
    deliveries = ThreadPoolExecutor(max_workers=HTTP_DELIVERY_WORKERS, thread_name_prefix="sns-http")
    sandbox.on_restore(lambda: deliveries.shutdown(wait=False, cancel_futures=True))
    sandbox.patch(sns_models.Subscription, "publish", _http_delivery_off_the_publisher(deliveries))


def start_server(host: str, port: int) -> Any:
    """moto's `ThreadedMotoServer`, started; `PortUnavailableError` if `host:port` cannot be bound.

    moto binds in its server thread, where werkzeug answers a bind failure with `sys.exit`:
    the thread dies and `start()` would wait for it forever.
    """
    from moto.server import ThreadedMotoServer

    class Server(ThreadedMotoServer):
        failure: BaseException | None = None

        def _server_entry(self) -> None:
            try:
                super()._server_entry()
            except BaseException as exc:  # noqa: BLE001 - SystemExit from werkzeug included
                self.failure = exc
                self._server_ready_event.set()

    server = Server(ip_address=host, port=port, verbose=False)
    server.start()
    if server.failure is not None:
        raise PortUnavailableError(f"cannot listen on {host}:{port} (in use by another program, or not permitted)")
    return server


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


def _http_delivery_off_the_publisher(
    deliveries: ThreadPoolExecutor,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """SNS delivers to HTTP(S) subscribers asynchronously: `Publish` never waits for, or fails
    because of, a subscriber. Other protocols keep moto's own delivery."""

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def publish(
            subscription: Any,
            message: str,
            message_id: str,
            subject: str | None = None,
            message_attributes: dict[str, Any] | None = None,
            group_id: str | None = None,
            deduplication_id: str | None = None,
            message_structure: str | None = None,
        ) -> None:
            if subscription.protocol not in ("http", "https"):
                return original(
                    subscription,
                    message,
                    message_id,
                    subject,
                    message_attributes,
                    group_id,
                    deduplication_id,
                    message_structure,
                )
            matcher = subscription._filter_policy_matcher
            if matcher is not None and not matcher.matches(message_attributes, message):
                return None
            if message_structure == "json":
                message = subscription._parse_message_structure(message, subscription.protocol)
            body = subscription.get_post_data(message, message_id, subject, message_attributes=message_attributes)
            deliveries.submit(_post_notification, subscription.endpoint, subscription.arn, body)
            return None

        return publish

    return wrap


def _post_notification(endpoint: str, subscription_arn: str, body: dict[str, Any]) -> None:
    import requests

    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": body["Type"],
        "x-amz-sns-message-id": body["MessageId"],
        "x-amz-sns-topic-arn": body["TopicArn"],
        "x-amz-sns-subscription-arn": subscription_arn,
        "User-Agent": "Amazon Simple Notification Service Agent",
    }
    try:
        response = requests.post(
            endpoint, data=json.dumps(body).encode(), headers=headers, timeout=HTTP_DELIVERY_TIMEOUT
        )
        if response.status_code >= 300:
            LOG.warning("SNS delivery to %s answered HTTP %s", endpoint, response.status_code)
    except requests.RequestException as exc:
        LOG.warning("SNS delivery to %s failed: %s", endpoint, exc)


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
