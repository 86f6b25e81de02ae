"""An emulated AWS account, in this process, running the synthesized stack with our real handlers.

Pieces and why they are the way they are:

* moto runs as a real HTTP server on a free 127.0.0.1 port (``ThreadedMotoServer``) and the
  handlers reach it through ``AWS_ENDPOINT_URL``, with plain boto3. Presigned S3 URLs are then
  genuine loopback URLs that other processes (the service's workers) can download.
* Step Functions executions are run by moto's ASL interpreter (``execute_state_machine``), on the
  definition taken from the template. The interpreter calls Lambda through the moto server;
  we intercept ``LambdaFunction.invoke`` inside moto and call the handler function in process
  with a Powertools-compatible context, returning errors the way the Lambda runtime does
  (``FunctionError`` + ``errorType``), so the definition's Retry/Catch see the real error names.
* The Lambda event source mappings (SQS → function, batches, partial batch failures) are emulated
  by one poller per mapping. Failed messages are made visible again after a short delay so that
  the redrive policy (moto moves a message to the DLQ after ``maxReceiveCount`` receives) plays
  out in seconds instead of the production visibility timeout.
* Notifications are collected through a queue subscribed (raw delivery) to every topic.

Handlers read their settings from the environment and often build clients at import time, as
Lambda code should. In one process all functions share ``os.environ``, so the emulator sets the
union of the functions' environments (refusing conflicting values), and imports the handler
package afresh for each emulator — a new deployment — restoring the previous module objects
afterwards so that other code in the same process is unaffected. One emulator runs at a time.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from declick.local.template import (
    ACCOUNT_ID,
    PARTITION,
    REGION,
    Resolver,
    Template,
    TemplateError,
    state_machine_definition,
)

LOG = logging.getLogger("declick.local")

_ONE_AT_A_TIME = threading.Lock()
_ACTIVE: EmulatedAws | None = None

# Dummy credentials: moto accepts anything, and real AWS must never be reached from here.
_BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
}
_CLEARED_ENV = ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN")


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    memory_mb: int
    timeout_s: int
    environment: Mapping[str, str]


@dataclass(frozen=True)
class EventSourceMapping:
    function_name: str
    queue_arn: str
    queue_url: str
    batch_size: int
    report_batch_item_failures: bool
    max_concurrency: int


@dataclass(frozen=True)
class Batch:
    """One event source mapping invocation: which messages went in, which were reported failed."""

    function: str
    message_ids: list[str]
    failed_ids: list[str]
    bodies: list[str]


@dataclass
class Invocation:
    function: str
    started: float
    seconds: float
    error_type: str | None


@dataclass
class Notification:
    message: dict[str, Any]
    attributes: dict[str, str]
    received_at: float
    topic_queue_body: str = field(repr=False, default="")


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
        self._lock = threading.Lock()
        self.invocations: list[Invocation] = []
        # The function running on the current thread, if any: lets tools attribute SDK calls.
        self.current = threading.local()

    def load(self) -> None:
        """Import every handler now, so that a broken import fails the deployment, not a task."""
        import importlib

        for spec in self.functions.values():
            module_name, _, attr = spec.handler.rpartition(".")
            module = importlib.import_module(module_name)
            self._handlers[spec.name] = getattr(module, attr)

    def invoke(self, name: str, event: Any) -> tuple[bytes, str | None]:
        spec = self.functions[name]
        handler = self._handlers[name]
        context = LambdaContext(spec)
        started = time.monotonic()
        error_type: str | None = None
        self.current.function = name
        try:
            result = handler(event, context)
            payload = json.dumps(result).encode()
        except Exception as exc:  # noqa: BLE001 - the Lambda runtime reports every handler error
            error_type = type(exc).__name__
            if isinstance(exc, TypeError) and "JSON serializable" in str(exc):
                error_type = "Runtime.MarshalError"
            LOG.info("%s raised %s: %s", name, error_type, exc)
            payload = json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": error_type,
                    "requestId": context.aws_request_id,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
            ).encode()
        finally:
            self.current.function = None
        seconds = time.monotonic() - started
        if seconds > spec.timeout_s:
            LOG.warning("%s ran %.1f s, over its %d s timeout", name, seconds, spec.timeout_s)
        with self._lock:
            self.invocations.append(Invocation(name, started, seconds, error_type))
        return payload, error_type

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(i.function for i in self.invocations)


def _patched_lambda_invoke(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a moto Lambda backend's `invoke` so that our functions run in process."""

    def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> Any:
        emulator = _ACTIVE
        name = function_name.split(":")[6] if function_name.startswith("arn:") else function_name.split(":")[0]
        if emulator is None or name not in emulator.runtime.functions:
            return original(backend, function_name, qualifier, body, headers, response_headers)
        event = json.loads(body) if body else {}
        payload, error = emulator.runtime.invoke(name, event)
        if error:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    return invoke


def _patched_s3_event(original: Callable[..., Any]) -> Callable[..., Any]:
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


def _tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "# code runs in process, see declick.local.emulator\n")
    return buffer.getvalue()


def _sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = {
        name: message.get("Attributes", {}).get(name, "")
        for name in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
    }
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        entry = {"dataType": value.get("DataType"), "stringListValues": [], "binaryListValues": []}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        message_attributes[name] = entry
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


class EmulatedAws:
    """Deploys a synthesized template on an in-process moto server and runs it.

    `env_overrides` are applied over the template's function environments (local-only values:
    the API endpoint, short waits, loopback download exemptions). `secret_values` maps the
    logical id of a secret to the string it should hold; secrets the template generates get
    `default_secret_value`. `port` 0 picks a free port.
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        env_overrides: Mapping[str, str] | None = None,
        secret_values: Mapping[str, str] | None = None,
        handler_packages: tuple[str, ...] = ("declick_pipeline",),
        retry_delay_seconds: int = 1,
        poll_wait_seconds: int = 1,
        port: int = 0,
        default_secret_value: str | None = None,
    ):
        self.template = Template.from_dict(template)
        self.env_overrides = dict(env_overrides or {})
        self.secret_values = dict(secret_values or {})
        self.handler_packages = handler_packages
        self.retry_delay_seconds = retry_delay_seconds
        self.poll_wait_seconds = poll_wait_seconds
        self.port = port
        self.default_secret_value = default_secret_value

        self.endpoint_url = ""
        self.physical: dict[str, str] = {}
        self.arns: dict[str, str] = {}
        self.queue_urls: dict[str, str] = {}  # logical id -> url
        self.functions: dict[str, FunctionSpec] = {}  # logical id -> spec
        self.mappings: list[EventSourceMapping] = []
        self.state_machines: dict[str, str] = {}  # logical id -> arn
        self.dead_letter_queues: list[str] = []  # logical ids of queues named in a redrive policy
        self.notified_buckets: list[str] = []  # bucket names with event notifications
        self.runtime = LambdaRuntime(())
        self.notifications: list[Notification] = []
        self.batches_in_flight = 0
        self.batch_log: list[Batch] = []

        self._server: Any = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pools: list[ThreadPoolExecutor] = []
        self._cond = threading.Condition()
        self._saved_env: dict[str, str | None] = {}
        self._saved_modules: dict[str, Any] = {}
        self._patches: list[tuple[Any, str, Any]] = []
        self._saved_config: Any = None
        self._notification_queue_url = ""
        self._started = False
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._owns_lock = False

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> EmulatedAws:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        global _ACTIVE
        if not _ONE_AT_A_TIME.acquire(blocking=False):
            raise RuntimeError("another emulated AWS is already running in this process")
        self._owns_lock = True
        try:
            self._start_server()
            _ACTIVE = self
            self._started = True
            self._deploy()
            self._start_pollers()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        global _ACTIVE
        if not self._owns_lock:
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=False)
        self._threads.clear()
        self._pools.clear()
        if self._server is not None:
            self._stop_sfn_executions()
            self._server.stop()
            self._server = None
        self._clients.clear()
        _ACTIVE = None
        for target, attr, original in reversed(self._patches):
            setattr(target, attr, original)
        self._patches.clear()
        self._restore_modules()
        self._restore_env()
        if self._saved_config is not None:
            from moto.core.config import default_user_config

            default_user_config.clear()
            default_user_config.update(self._saved_config)
            self._saved_config = None
        self._reset_moto()
        self._started = False
        self._owns_lock = False
        _ONE_AT_A_TIME.release()

    def _start_server(self) -> None:
        import copy

        from moto.awslambda import models as lambda_models
        from moto.awslambda_simple import models as lambda_simple_models
        from moto.core.config import default_user_config
        from moto.s3 import notifications as s3_notifications
        from moto.server import ThreadedMotoServer

        self._saved_config = copy.deepcopy(default_user_config)
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
        default_user_config.setdefault("lambda", {})["use_docker"] = False
        self._reset_moto()
        # Which backend serves Lambda depends on moto's `use_docker` setting: wrap both.
        self._patch(lambda_models.LambdaBackend, "invoke", _patched_lambda_invoke)
        self._patch(lambda_simple_models.LambdaSimpleBackend, "invoke", _patched_lambda_invoke)
        self._patch(s3_notifications, "_get_s3_event", _patched_s3_event)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto's ASL interpreter calls services at http://localhost:$MOTO_PORT.
        self._set_env({**_BASE_ENV, "AWS_ENDPOINT_URL": self.endpoint_url, "MOTO_PORT": str(port)})
        for name in _CLEARED_ENV:
            self._set_env({name: None})

    def _patch(self, target: Any, attr: str, wrapper: Callable[[Any], Any]) -> None:
        original = getattr(target, attr)
        self._patches.append((target, attr, original))
        setattr(target, attr, wrapper(original))

    @staticmethod
    def _reset_moto() -> None:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    def _stop_sfn_executions(self) -> None:
        """Stop still-running executions so their interpreter threads end with the server."""
        try:
            sfn = self.client("stepfunctions")
            for arn in self.state_machines.values():
                for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING"):
                    for execution in page["executions"]:
                        sfn.stop_execution(executionArn=execution["executionArn"], cause="emulator stopped")
        except Exception as exc:  # noqa: BLE001 - best effort on the way out
            LOG.debug("could not stop executions: %s", exc)

    def _set_env(self, values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def _fresh_modules(self) -> None:
        """Import the handler packages anew: settings and clients built at import see this stack."""
        for name in list(sys.modules):
            if self._ours(name):
                self._saved_modules[name] = sys.modules.pop(name)
        self._forget_sdk_caches()

    @staticmethod
    def _forget_sdk_caches() -> None:
        """SDK objects cached at process level would keep talking to a previous emulator."""
        import boto3
        from aws_lambda_powertools.utilities import parameters

        boto3.DEFAULT_SESSION = None
        parameters.clear_caches()

    def _ours(self, dotted: str) -> bool:
        return any(dotted == p or dotted.startswith(p + ".") for p in self.handler_packages)

    def _restore_modules(self) -> None:
        for name in list(sys.modules):
            if self._ours(name):
                del sys.modules[name]
        sys.modules.update(self._saved_modules)
        self._saved_modules.clear()
        self._forget_sdk_caches()

    def client(self, service: str) -> Any:
        """A boto3 client on the emulator, shared (clients are thread-safe and slow to build)."""
        with self._clients_lock:
            if service not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[service] = boto3.session.Session(
                    aws_access_key_id="testing",
                    aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credentials
                    region_name=REGION,
                ).client(
                    service,
                    endpoint_url=self.endpoint_url,
                    config=Config(retries={"max_attempts": 2}, max_pool_connections=50),
                )
            return self._clients[service]

    # ------------------------------------------------------------------ deployment

    def _name_for(self, logical_id: str, prefix: str = "declick-local-", limit: int = 64) -> str:
        return (prefix + logical_id)[:limit]

    def _ref(self, logical_id: str) -> Any:
        resource = self.template.resources[logical_id]
        if resource.type == "AWS::SQS::Queue":
            return self.queue_urls[logical_id]
        if resource.type in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret", "AWS::StepFunctions::StateMachine"):
            return self.arns[logical_id]
        return self.physical.get(logical_id, logical_id)

    def _get_att(self, logical_id: str, attr: str) -> Any:
        resource = self.template.resources[logical_id]
        name = self.physical.get(logical_id, logical_id)
        if attr in ("Arn", "TopicArn") and logical_id in self.arns:
            return self.arns[logical_id]
        if resource.type == "AWS::SQS::Queue" and attr == "QueueUrl":
            return self.queue_urls[logical_id]
        if attr in ("QueueName", "TopicName", "Name"):
            return name
        if resource.type == "AWS::S3::Bucket" and attr == "Arn":
            return f"arn:{PARTITION}:s3:::{name}"
        if resource.type == "AWS::S3::Bucket" and attr in ("DomainName", "RegionalDomainName"):
            return f"{name}.s3.{REGION}.amazonaws.com"
        if attr == "Arn":
            service = resource.type.split("::")[1].lower()
            return f"arn:{PARTITION}:{service}:{REGION}:{ACCOUNT_ID}:{logical_id}/{name}"
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attr} is not emulated")

    def _deploy(self) -> None:
        resolver = Resolver(self.template, self._ref, self._get_att)
        resolve = resolver.resolve
        iam = self.client("iam")
        role_arn = iam.create_role(
            RoleName="declick-local-lambda",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]

        for res in self.template.of_type("AWS::KMS::Key"):
            key = self.client("kms").create_key(Description=res.logical_id)["KeyMetadata"]
            self.physical[res.logical_id] = key["KeyId"]
            self.arns[res.logical_id] = key["Arn"]

        for res in self.template.of_type("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable"):
            self._deploy_table(res, resolve)
        for res in self.template.of_type("AWS::SecretsManager::Secret"):
            props = res.properties
            name = resolve(props.get("Name")) or self._name_for(res.logical_id)
            value = self.secret_values.get(res.logical_id)
            if value is None:
                value = resolve(props.get("SecretString")) or self.default_secret_value
            if value is None:
                value = json.dumps({"local": uuid.uuid4().hex})
            arn = self.client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
            self.physical[res.logical_id], self.arns[res.logical_id] = name, arn
        for res in self.template.of_type("AWS::SNS::Topic"):
            name = resolve(res.properties.get("TopicName")) or self._name_for(res.logical_id, limit=256)
            self.physical[res.logical_id] = name
            self.arns[res.logical_id] = self.client("sns").create_topic(Name=name)["TopicArn"]
        self._deploy_queues(resolve)
        for res in self.template.of_type("AWS::S3::Bucket"):
            props = res.properties
            name = resolve(props.get("BucketName")) or self._name_for(res.logical_id.lower(), limit=63)
            name = name.lower().replace("_", "-")
            self.physical[res.logical_id] = name
            s3 = self.client("s3")
            s3.create_bucket(Bucket=name)
            if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})

        functions = [
            res
            for res in self.template.of_type("AWS::Lambda::Function")
            if self._ours(str(res.properties.get("Handler", "")))
        ]
        if not functions:
            raise TemplateError(f"no function in the template has a handler in {self.handler_packages}")
        for res in functions:
            name = resolve(res.properties.get("FunctionName")) or self._name_for(res.logical_id)
            self.physical[res.logical_id] = name
            self.arns[res.logical_id] = f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
        for res in self.template.of_type("AWS::StepFunctions::StateMachine"):
            name = resolve(res.properties.get("StateMachineName")) or self._name_for(res.logical_id, limit=80)
            self.physical[res.logical_id] = name
            self.arns[res.logical_id] = f"arn:{PARTITION}:states:{REGION}:{ACCOUNT_ID}:stateMachine:{name}"

        environment: dict[str, str] = {}
        for res in functions:
            props = res.properties
            env = {k: str(v) for k, v in resolve((props.get("Environment") or {}).get("Variables") or {}).items()}
            env.update(self.env_overrides)
            for key, value in env.items():
                if environment.get(key, value) != value:
                    raise TemplateError(
                        f"functions disagree on {key} ({environment[key]!r} vs {value!r}); "
                        "they cannot share one process"
                    )
                environment[key] = value
            self.functions[res.logical_id] = FunctionSpec(
                logical_id=res.logical_id,
                name=self.physical[res.logical_id],
                arn=self.arns[res.logical_id],
                handler=props["Handler"],
                memory_mb=int(props.get("MemorySize", 128)),
                timeout_s=int(props.get("Timeout", 3)),
                environment=env,
            )
        self._set_env(environment)
        self._fresh_modules()
        self.runtime = LambdaRuntime(self.functions.values())
        self.runtime.load()

        lam = self.client("lambda")
        for spec in self.functions.values():
            lam.create_function(
                FunctionName=spec.name,
                Runtime="python3.12",
                Role=role_arn,
                Handler=spec.handler,
                Code={"ZipFile": _tiny_zip()},
                MemorySize=spec.memory_mb,
                Timeout=spec.timeout_s,
                Environment={"Variables": dict(spec.environment)},
            )

        sfn = self.client("stepfunctions")
        for res in self.template.of_type("AWS::StepFunctions::StateMachine"):
            definition = state_machine_definition(resolver, res.properties)
            arn = sfn.create_state_machine(
                name=self.physical[res.logical_id],
                definition=json.dumps(definition),
                roleArn=role_arn,
                type=res.properties.get("StateMachineType", "STANDARD"),
            )["stateMachineArn"]
            self.state_machines[res.logical_id] = arn

        self._deploy_bucket_notifications(resolve)
        self._deploy_subscriptions(resolve)
        self._deploy_event_source_mappings(resolve)

    def _deploy_table(self, res: Any, resolve: Callable[[Any], Any]) -> None:
        props = resolve(dict(res.properties))
        name = props.get("TableName") or self._name_for(res.logical_id, limit=255)
        self.physical[res.logical_id] = name
        ddb = self.client("dynamodb")
        table = ddb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )["TableDescription"]
        self.arns[res.logical_id] = table["TableArn"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )

    def _deploy_queues(self, resolve: Callable[[Any], Any]) -> None:
        sqs = self.client("sqs")
        queues = self.template.of_type("AWS::SQS::Queue")
        for res in queues:
            props = res.properties
            name = resolve(props.get("QueueName")) or self._name_for(res.logical_id, limit=80)
            attributes = {}
            for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
                if key in props:
                    attributes[key] = str(resolve(props[key]))
            if props.get("FifoQueue"):
                attributes["FifoQueue"] = "true"
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            self.physical[res.logical_id] = name
            self.queue_urls[res.logical_id] = url
            self.arns[res.logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        for res in queues:
            policy = res.properties.get("RedrivePolicy")
            if policy:
                policy = resolve(policy)
                sqs.set_queue_attributes(
                    QueueUrl=self.queue_urls[res.logical_id], Attributes={"RedrivePolicy": json.dumps(policy)}
                )
                self.dead_letter_queues += [
                    lid for lid, arn in self.arns.items() if arn == policy.get("deadLetterTargetArn")
                ]

    def _deploy_bucket_notifications(self, resolve: Callable[[Any], Any]) -> None:
        s3 = self.client("s3")
        configured: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for res in self.template.of_type("Custom::S3BucketNotifications"):
            bucket = resolve(res.properties["BucketName"])
            config = resolve(res.properties.get("NotificationConfiguration") or {})
            for kind, items in config.items():
                configured[bucket][kind].extend(items)
        for res in self.template.of_type("AWS::S3::Bucket"):
            config = res.properties.get("NotificationConfiguration")
            if config:
                for kind, items in resolve(config).items():
                    configured[self.physical[res.logical_id]][kind].extend(items)
        for bucket, config in configured.items():
            for kind in ("QueueConfigurations", "TopicConfigurations"):
                for item in config.get(kind, []):
                    key = "QueueArn" if kind == "QueueConfigurations" else "TopicArn"
                    item.setdefault(key, item.pop("Queue" if kind == "QueueConfigurations" else "Topic", None))
                    if "Event" in item:
                        item["Events"] = [item.pop("Event")]
            unsupported = set(config) - {"QueueConfigurations", "TopicConfigurations"}
            if unsupported:
                raise TemplateError(f"bucket notifications {sorted(unsupported)} are not emulated")
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={k: v for k, v in config.items() if v}
            )
            self.notified_buckets.append(bucket)

    def _deploy_subscriptions(self, resolve: Callable[[Any], Any]) -> None:
        sns = self.client("sns")
        for res in self.template.of_type("AWS::SNS::Subscription"):
            props = resolve(dict(res.properties))
            if props.get("Protocol") == "sqs":
                attributes = {}
                if props.get("RawMessageDelivery"):
                    attributes["RawMessageDelivery"] = "true"
                sns.subscribe(
                    TopicArn=props["TopicArn"], Protocol="sqs", Endpoint=props["Endpoint"], Attributes=attributes
                )
        sqs = self.client("sqs")
        self._notification_queue_url = sqs.create_queue(QueueName="declick-local-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._notification_queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        for res in self.template.of_type("AWS::SNS::Topic"):
            sns.subscribe(
                TopicArn=self.arns[res.logical_id],
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true"},
            )

    def _deploy_event_source_mappings(self, resolve: Callable[[Any], Any]) -> None:
        by_name = {spec.name: spec for spec in self.functions.values()}
        by_arn = {spec.arn: spec for spec in self.functions.values()}
        queue_by_arn = {self.arns[r.logical_id]: r.logical_id for r in self.template.of_type("AWS::SQS::Queue")}
        for res in self.template.of_type("AWS::Lambda::EventSourceMapping"):
            props = resolve(dict(res.properties))
            if props.get("Enabled") is False:
                continue
            spec = by_name.get(props["FunctionName"]) or by_arn.get(props["FunctionName"])
            source = props.get("EventSourceArn", "")
            if spec is None or source not in queue_by_arn:
                continue
            self.mappings.append(
                EventSourceMapping(
                    function_name=spec.name,
                    queue_arn=source,
                    queue_url=self.queue_urls[queue_by_arn[source]],
                    batch_size=int(props.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                    max_concurrency=int((props.get("ScalingConfig") or {}).get("MaximumConcurrency", 5)),
                )
            )

    # ------------------------------------------------------------------ running

    def _start_pollers(self) -> None:
        for mapping in self.mappings:
            pool = ThreadPoolExecutor(max_workers=mapping.max_concurrency, thread_name_prefix=mapping.function_name)
            self._pools.append(pool)
            thread = threading.Thread(
                target=self._poll_mapping, args=(mapping, pool), name=f"esm-{mapping.function_name}", daemon=True
            )
            self._threads.append(thread)
        thread = threading.Thread(target=self._collect_notifications, name="notifications", daemon=True)
        self._threads.append(thread)
        for thread in self._threads:
            thread.start()

    def _poll_mapping(self, mapping: EventSourceMapping, pool: ThreadPoolExecutor) -> None:
        sqs = self.client("sqs")
        slots = threading.Semaphore(mapping.max_concurrency)
        spec = next(s for s in self.functions.values() if s.name == mapping.function_name)
        while not self._stop.is_set():
            if not slots.acquire(timeout=0.5):
                continue
            try:
                messages = sqs.receive_message(
                    QueueUrl=mapping.queue_url,
                    MaxNumberOfMessages=min(mapping.batch_size, 10),
                    WaitTimeSeconds=self.poll_wait_seconds,
                    VisibilityTimeout=spec.timeout_s + 30,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # noqa: BLE001 - keep polling, like the managed poller
                LOG.warning("polling %s failed: %s", mapping.queue_url, exc)
                slots.release()
                time.sleep(0.2)
                continue
            if not messages:
                slots.release()
                continue
            with self._cond:
                self.batches_in_flight += 1
            pool.submit(self._run_batch, mapping, messages, sqs, slots)

    def _run_batch(self, mapping: EventSourceMapping, messages: list[dict[str, Any]], sqs: Any, slots: Any) -> None:
        try:
            event = {"Records": [_sqs_record(m, mapping.queue_arn) for m in messages]}
            ids = [m["MessageId"] for m in messages]
            payload, error = self.runtime.invoke(mapping.function_name, event)
            failed = set(ids) if error else self._failed_items(mapping, payload, ids)
            with self._cond:
                self.batch_log.append(Batch(mapping.function_name, ids, sorted(failed), [m["Body"] for m in messages]))
            done = [m for m in messages if m["MessageId"] not in failed]
            for start in range(0, len(done), 10):
                sqs.delete_message_batch(
                    QueueUrl=mapping.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[start : start + 10])
                    ],
                )
            for message in messages:
                if message["MessageId"] in failed:
                    sqs.change_message_visibility(
                        QueueUrl=mapping.queue_url,
                        ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=self.retry_delay_seconds,
                    )
        except Exception:  # noqa: BLE001 - a poller must survive; the message stays and is retried
            LOG.exception("event source mapping for %s failed", mapping.function_name)
        finally:
            with self._cond:
                self.batches_in_flight -= 1
                self._cond.notify_all()
            slots.release()

    @staticmethod
    def _failed_items(mapping: EventSourceMapping, payload: bytes, ids: list[str]) -> set[str]:
        """Partial batch response semantics of the SQS event source mapping."""
        if not mapping.report_batch_item_failures:
            return set()
        try:
            response = json.loads(payload)
        except ValueError:
            return set(ids)
        if response is None or response == {}:
            return set()
        if not isinstance(response, dict):
            return set(ids)
        items = response.get("batchItemFailures") or []
        failed = set()
        for item in items:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if identifier not in ids:
                return set(ids)  # an unknown or empty identifier fails the whole batch
            failed.add(identifier)
        return failed

    def _collect_notifications(self) -> None:
        sqs = self.client("sqs")
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self._notification_queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=self.poll_wait_seconds,
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # noqa: BLE001 - keep collecting
                LOG.warning("collecting notifications failed: %s", exc)
                time.sleep(0.2)
                continue
            for message in messages:
                try:
                    body = json.loads(message["Body"])
                except ValueError:
                    body = {"raw": message["Body"]}
                attributes = {k: v.get("StringValue", "") for k, v in (message.get("MessageAttributes") or {}).items()}
                with self._cond:
                    self.notifications.append(Notification(body, attributes, time.time(), message["Body"]))
                    self._cond.notify_all()
                sqs.delete_message(QueueUrl=self._notification_queue_url, ReceiptHandle=message["ReceiptHandle"])

    # ------------------------------------------------------------------ observing

    def wait_for(self, predicate: Callable[[list[Notification]], bool], timeout: float) -> bool:
        """Wait until `predicate(notifications)` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self.notifications)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def queue_depth(self, logical_id_or_url: str) -> int:
        url = self.queue_urls.get(logical_id_or_url, logical_id_or_url)
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def running_executions(self) -> int:
        sfn = self.client("stepfunctions")
        total = 0
        for arn in self.state_machines.values():
            total += len(sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"])
        return total

    def wait_idle(self, timeout: float, settle: float = 0.6) -> bool:
        """Wait until nothing is queued, in flight or running, and has stayed so for `settle` s.

        Only then can "exactly one notification per upload" be asserted: nothing more can come.
        """
        deadline = time.monotonic() + timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            busy = (
                self.batches_in_flight
                or any(self.queue_depth(url) for url in self.queue_urls.values())
                or self.queue_depth(self._notification_queue_url)
                or self.running_executions()
            )
            now = time.monotonic()
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= settle:
                return True
            time.sleep(0.2)
        return False

    def executions(self) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        result = []
        for arn in self.state_machines.values():
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
                result.extend(page["executions"])
        return result

    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def function_by_handler(self, suffix: str) -> FunctionSpec:
        """The deployed function whose handler module ends with `suffix` (e.g. `submit_task`)."""
        for spec in self.functions.values():
            if spec.handler.rsplit(".", 1)[0].endswith(suffix):
                return spec
        raise KeyError(suffix)

    def queue_for_function(self, suffix: str) -> str:
        """URL of the queue that triggers the function whose handler module ends with `suffix`."""
        name = self.function_by_handler(suffix).name
        for mapping in self.mappings:
            if mapping.function_name == name:
                return mapping.queue_url
        raise KeyError(suffix)


def active() -> EmulatedAws | None:
    return _ACTIVE
