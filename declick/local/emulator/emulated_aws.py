"""An emulated AWS account, in this process, running the synthesized stack with our real handlers.

moto runs as a real HTTP server on a free 127.0.0.1 port (``ThreadedMotoServer``) and the
handlers reach it through ``AWS_ENDPOINT_URL``, with plain boto3. Presigned S3 URLs are then
genuine loopback URLs that other processes (the service's workers) can download. Step Functions
executions are run by moto's ASL interpreter on the definition taken from the template; its
Lambda calls run our handlers in process (`moto_patches`, `lambda_runtime`).

`EmulatedAws` puts the parts together, in order: the process sandbox, moto, the deployer (whose
environment is set before the handler packages are imported afresh), the SQS pollers and the
notification inbox; `stop()` undoes it all. One emulator runs at a time in a process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from declick.local.emulator import moto_patches
from declick.local.emulator.deployer import StackDeployer
from declick.local.emulator.event_sources import Batch, SqsPollers
from declick.local.emulator.inbox import Notification, NotificationInbox
from declick.local.emulator.lambda_runtime import FunctionSpec, LambdaRuntime
from declick.local.emulator.sandbox import ProcessSandbox
from declick.local.template import REGION, Template

LOG = logging.getLogger("declick.local")

_ONE_AT_A_TIME = threading.Lock()

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


class EmulatedAws:
    """Deploys a synthesized template on an in-process moto server and runs it.

    `env_overrides` are applied over the template's function environments (local-only values:
    the API endpoint, short waits, loopback download exemptions). Secrets the template generates
    get `default_secret_value`. `port` 0 picks a free port.

    In one process all functions share ``os.environ``, so the emulator sets the union of the
    functions' environments (refusing conflicting values).
    """

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        env_overrides: Mapping[str, str] | None = None,
        handler_packages: tuple[str, ...] = ("declick_pipeline",),
        port: int = 0,
        default_secret_value: str | None = None,
    ):
        self.template = Template.from_dict(template)
        self.port = port
        self.endpoint_url = ""
        self.runtime = LambdaRuntime(())
        self._sandbox = ProcessSandbox(handler_packages)
        self._stack = StackDeployer(
            self.template,
            self.client,
            handler_packages,
            env_overrides=env_overrides or {},
            default_secret_value=default_secret_value,
        )
        # What start() deploys: the deployer's own records (logical id -> physical name, ARN,
        # queue URL, function; state machine ARNs; dead-letter queues; buckets that notify).
        self.physical = self._stack.physical
        self.arns = self._stack.arns
        self.queue_urls = self._stack.queue_urls
        self.functions = self._stack.functions
        self.mappings = self._stack.mappings
        self.state_machines = self._stack.state_machines
        self.dead_letter_queues = self._stack.dead_letter_queues
        self.notified_buckets = self._stack.notified_buckets
        self._stop = threading.Event()
        self._pollers: SqsPollers | None = None
        self._inbox = NotificationInbox(self.client, self._stop)
        self._server: Any = None
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
        if not _ONE_AT_A_TIME.acquire(blocking=False):
            raise RuntimeError("another emulated AWS is already running in this process")
        self._owns_lock = True
        try:
            self._start_server()
            self._deploy()
            self._pollers.start()
            self._inbox.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if not self._owns_lock:
            return
        self._stop.set()
        if self._pollers is not None:
            self._pollers.join()
        self._inbox.join()
        if self._server is not None:
            self._stop_sfn_executions()
            self._server.stop()
            self._server = None
        self._clients.clear()
        self._sandbox.restore()
        moto_patches.reset_moto()
        self._owns_lock = False
        _ONE_AT_A_TIME.release()

    def _start_server(self) -> None:
        from moto.server import ThreadedMotoServer

        moto_patches.check_moto()
        moto_patches.configure(self._sandbox)
        moto_patches.reset_moto()
        moto_patches.install(self._sandbox, lambda: self.runtime)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto's ASL interpreter calls services at http://localhost:$MOTO_PORT.
        self._sandbox.set_env({**_BASE_ENV, "AWS_ENDPOINT_URL": self.endpoint_url, "MOTO_PORT": str(port)})
        self._sandbox.set_env(dict.fromkeys(_CLEARED_ENV))

    def _deploy(self) -> None:
        self._stack.deploy_resources()
        self._sandbox.set_env(self._stack.environment)
        self._sandbox.fresh_modules()
        self.runtime = LambdaRuntime(self._stack.functions.values())
        self.runtime.load()
        self._stack.deploy_wiring()
        self._inbox.subscribe(self._stack.topic_arns())
        self._pollers = SqsPollers(self._stack.mappings, self._stack.functions, self.runtime, self.client, self._stop)

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

    def own_clients(self) -> list[Any]:
        """The emulator's own clients (not the handlers'), e.g. to leave them out of SDK call counts."""
        with self._clients_lock:
            return list(self._clients.values())

    # ------------------------------------------------------------------ what was deployed

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

    # ------------------------------------------------------------------ observing

    @property
    def notifications(self) -> list[Notification]:
        return self._inbox.notifications

    @property
    def batch_log(self) -> list[Batch]:
        return self._pollers.batch_log if self._pollers is not None else []

    def wait_for(self, predicate: Callable[[list[Notification]], bool], timeout: float) -> bool:
        """Wait until `predicate(notifications)` holds; False on timeout."""
        return self._inbox.wait_for(predicate, timeout)

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
                (self._pollers is not None and self._pollers.batches_in_flight)
                or any(self.queue_depth(url) for url in self.queue_urls.values())
                or self.queue_depth(self._inbox.queue_url)
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
