"""The whole pipeline on one machine: emulated AWS + an API endpoint + upload and collect.

`LocalPipeline` synthesizes the CDK app (unless given a template), deploys it on the emulator,
and points the handlers at an API endpoint: our own service started on a free loopback port,
or any URL given (the vendor, a fake vendor in tests), or, with `backend="engine"`, the engine
backend deployed from the same template (`-c declick:backend=engine`): its API function served
on a loopback port through an API Gateway adapter (declick.local.http_api), its worker fed by
its SQS queues like every other queue-triggered function. The stack is synthesized with
`LOCAL_CONTEXT` (short waits, so a run takes seconds); on top of the synthesized environment only
`LOCAL_ENV` and the endpoint are set, and the endpoint's own host:port is exempt from the
https/public-address rule so that results on 127.0.0.1 can be downloaded.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from declick.local.emulator import EmulatedAws, Notification

# Local-only stack configuration (CDK context): the remote side's `wait_time` is clamped to
# 0..2 s and failed tasks are retried after 1 s, because moto's Wait states and retry intervals
# really sleep. Everything else is the stack's own configuration.
LOCAL_CONTEXT: dict[str, Any] = {
    "declick:waitMinSeconds": 0,
    "declick:waitDefaultSeconds": 1,
    "declick:waitMaxSeconds": 2,
    "declick:taskRetryIntervalSeconds": 1,
}
# Local-only handler environment, on top of the synthesized one. The API URL is set here rather
# than through the context because the stack (rightly) accepts only https endpoints.
LOCAL_ENV = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    # A failed submit record is retried after 1-2 s instead of 10 s doubling to 5 minutes.
    "SUBMIT_RETRY_BASE_SECONDS": "1",
    "SUBMIT_RETRY_MAX_SECONDS": "2",
}

# The engine backend's handlers (functions/declick_engine_backend).
ENGINE_PACKAGE = "declick_engine_backend"

_TEMPLATES: dict[str, dict[str, Any]] = {}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def host_port(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


def _quiet_node_banner() -> None:
    """CDK's jsii runtime prints a boxed Node.js support notice on every synth unless the running
    Node major version is listed as acknowledged; in a demo's output it is only noise."""
    node = shutil.which("node")
    if not node:
        return
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return
    major = version.strip().lstrip("v").split(".")[0]
    if major.isdigit():
        for kind in ("END_OF_LIFE", "DEPRECATED", "UNTESTED"):
            os.environ.setdefault(f"JSII_SILENCE_WARNING_{kind}_NODE_VERSION", major)


def synthesized_template(context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The CDK app's template with `LOCAL_CONTEXT` (+ `context`); synthesized once per process."""
    _quiet_node_banner()
    from infra.stack import synth_template

    merged = {**LOCAL_CONTEXT, **(context or {})}
    cache_key = json.dumps(merged, sort_keys=True)
    if cache_key not in _TEMPLATES:
        _TEMPLATES[cache_key] = synth_template(context=merged)
    return json.loads(json.dumps(_TEMPLATES[cache_key]))


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    version_id: str | None
    size: int

    def matches(self, message: Mapping[str, Any]) -> bool:
        described = message.get("input") or {}
        if described.get("bucket") not in (None, self.bucket) or described.get("key") != self.key:
            return False
        version = described.get("version_id")
        return self.version_id is None or version is None or version == self.version_id


class LocalPipeline:
    """Context manager: the deployed stack, ready for uploads.

    With `api_url` None, our own service is started and used; `service_overrides` tune it
    (e.g. `workers`). `env` overrides handler settings on top of `LOCAL_ENV`. `port` is the emulated
    AWS endpoint's port on 127.0.0.1 (default: a free one).
    """

    def __init__(
        self,
        *,
        template: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        api_url: str | None = None,
        appkey: str | None = None,
        appsecret: str | None = None,
        env: Mapping[str, str] | None = None,
        service_overrides: Mapping[str, Any] | None = None,
        handler_packages: tuple[str, ...] = ("declick_pipeline",),
        workdir: Path | None = None,
        port: int | None = None,
        backend: str = "vendor",
    ):
        if backend not in ("vendor", "engine"):
            raise ValueError(f"backend must be 'vendor' or 'engine', not {backend!r}")
        if backend == "engine" and api_url is not None:
            raise ValueError("the engine backend is deployed with the stack: it takes no api_url")
        self.backend = backend
        if backend == "engine":
            context = {**(context or {}), "declick:backend": "engine"}
            handler_packages = (*handler_packages, ENGINE_PACKAGE)
        self._template = template
        self._context = context
        self.api_url = api_url
        self.appkey = appkey or "local"
        self.appsecret = appsecret or secrets.token_urlsafe(16)
        self._env = dict(env or {})
        self._service_overrides = dict(service_overrides or {})
        self._handler_packages = handler_packages
        self._workdir = workdir
        self._port = port
        self._own_workdir: str | None = None
        self.service: Any = None
        self.gateway: Any = None
        self.aws: EmulatedAws | None = None
        self.uploads: list[Upload] = []

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalPipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        template = self._template if self._template is not None else synthesized_template(self._context)
        if self._workdir is None:
            self._own_workdir = tempfile.mkdtemp(prefix="declick-local-")
            self._workdir = Path(self._own_workdir)
        moto_port = self._port or free_port()
        api_url = self.api_url
        if self.backend == "engine":
            api_url = f"http://127.0.0.1:{free_port()}"
            # The worker fetches file_link and deliver_result fetches voice_result: both on moto.
            allowed = f"127.0.0.1:{moto_port}"
        elif api_url is None:
            self.service = self._start_service(allowed_hosts={f"127.0.0.1:{moto_port}"})
            api_url = self.service.url
        self.api_base_url = api_url.rstrip("/")
        if self.backend != "engine":
            allowed = host_port(self.api_base_url)
        env = {
            **LOCAL_ENV,
            "API_BASE_URL": self.api_base_url,
            "DOWNLOAD_ALLOWED_HOSTS": allowed,
            **self._env,
        }
        self.aws = EmulatedAws(
            template,
            env_overrides=env,
            handler_packages=self._handler_packages,
            port=moto_port,
            default_secret_value=json.dumps({"appkey": self.appkey, "appsecret": self.appsecret}),
        )
        self.aws.start()
        if self.backend == "engine":
            self.gateway = self._start_gateway(int(urlsplit(self.api_base_url).port or 0))

    def _start_gateway(self, port: int) -> Any:
        from declick.local.http_api import ApiGatewayServer

        aws = self.emulator
        try:
            name = aws.function_by_handler(f"{ENGINE_PACKAGE}.handlers.api").name
        except KeyError:
            raise RuntimeError("the template has no engine backend (synth with declick:backend=engine)") from None
        gateway = ApiGatewayServer(lambda event: aws.runtime.invoke(name, event), port)
        gateway.start()
        return gateway

    def _start_service(self, allowed_hosts: set[str]) -> Any:
        from declick.service import run_in_thread
        from declick.service.settings import ServiceSettings

        assert self._workdir is not None
        settings = ServiceSettings(
            db_path=self._workdir / "service" / "tasks.sqlite3",
            credentials={self.appkey: self.appsecret},
            allowed_hosts=frozenset(allowed_hosts),
            min_wait_seconds=0,
            max_wait_seconds=2,
            workers=2,
            log_level="WARNING",
        ).with_(**self._service_overrides)
        (self._workdir / "service").mkdir(parents=True, exist_ok=True)
        return run_in_thread(settings)

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self.aws is not None:
            self.aws.stop()
        if self.service is not None:
            self.service.stop()
            self.service = None
        if self._own_workdir:
            shutil.rmtree(self._own_workdir, ignore_errors=True)
            self._own_workdir = None
            self._workdir = None

    # ------------------------------------------------------------------ using it

    @property
    def emulator(self) -> EmulatedAws:
        if self.aws is None:
            raise RuntimeError("the pipeline is not started")
        return self.aws

    @property
    def input_bucket(self) -> str:
        buckets = self.emulator.notified_buckets
        if len(buckets) != 1:
            raise RuntimeError(f"expected one bucket with upload notifications, found {buckets}")
        return buckets[0]

    @property
    def output_bucket(self) -> str:
        return self.emulator.function_by_handler("deliver_result").environment["OUTPUT_BUCKET"]

    def upload(self, key: str, body: bytes | Path, metadata: Mapping[str, str] | None = None) -> Upload:
        s3 = self.emulator.client("s3")
        if isinstance(body, Path):
            # A user's file may be up to the 50 MB limit (or over it): stream it, don't load it.
            size = body.stat().st_size
            with body.open("rb") as handle:
                response = s3.put_object(Bucket=self.input_bucket, Key=key, Body=handle, Metadata=dict(metadata or {}))
        else:
            size = len(body)
            response = s3.put_object(Bucket=self.input_bucket, Key=key, Body=body, Metadata=dict(metadata or {}))
        upload = Upload(self.input_bucket, key, response.get("VersionId"), size)
        self.uploads.append(upload)
        return upload

    def notifications_for(self, upload: Upload) -> list[dict[str, Any]]:
        return [n.message for n in list(self.emulator.notifications) if upload.matches(n.message)]

    def all_notifications(self) -> list[Notification]:
        return list(self.emulator.notifications)

    def wait_for(
        self,
        uploads: Iterable[Upload],
        timeout: float,
        progress: Callable[[int, int, float], None] | None = None,
        progress_every: float = 2.0,
    ) -> bool:
        """Wait until each upload has a notification; `progress(done, total, elapsed)` meanwhile."""
        pending = list(uploads)
        started = time.monotonic()
        last = started
        while True:
            done = sum(1 for u in pending if self.notifications_for(u))
            if done == len(pending):
                return True
            now = time.monotonic()
            if now - started > timeout:
                return False
            if progress is not None and now - last >= progress_every:
                progress(done, len(pending), now - started)
                last = now
            self.emulator.wait_for(lambda ns: False, timeout=0.3)

    def output_objects(self) -> dict[str, bytes]:
        s3 = self.emulator.client("s3")
        objects = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.output_bucket):
            for item in page.get("Contents", []):
                objects[item["Key"]] = s3.get_object(Bucket=self.output_bucket, Key=item["Key"])["Body"].read()
        return objects

    def download_output(self, message: Mapping[str, Any], out_dir: Path) -> Path:
        output = message["output"]
        relative = Path(*[part for part in Path(output["key"]).parts if part not in ("..", "/", "")])
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        self.emulator.client("s3").download_file(output["bucket"], output["key"], str(target))
        return target

    def engine_tasks(self) -> list[dict[str, Any]]:
        """The engine backend's task records (DynamoDB items), oldest first."""
        if self.backend != "engine":
            raise RuntimeError("this pipeline does not use the engine backend")
        spec = self.emulator.function_by_handler(f"{ENGINE_PACKAGE}.handlers.work")
        ddb = self.emulator.client("dynamodb")
        items = []
        for page in ddb.get_paginator("scan").paginate(TableName=spec.environment["ENGINE_TASKS_TABLE"]):
            items.extend(page["Items"])
        from boto3.dynamodb.types import TypeDeserializer

        plain = [{k: TypeDeserializer().deserialize(v) for k, v in item.items()} for item in items]
        return sorted((item for item in plain if "created_at" in item), key=lambda item: item["created_at"])

    def service_tasks(self) -> list[Any]:
        """The tasks our own service holds (`declick.service.store.Task`), oldest first."""
        if self.service is None:
            raise RuntimeError("this pipeline uses an external API, not our service")
        from declick.service.store import TaskStore
        from declick_contract.api import Status

        store = TaskStore(self.service.settings.db_path)
        try:
            return sorted(store.with_status(*Status), key=lambda task: task.seq)
        finally:
            store.close()

    def dead_letters(self) -> int:
        """Messages currently in the dead-letter queue(s)."""
        aws = self.emulator
        return sum(aws.queue_depth(aws.queue_urls[lid]) for lid in aws.dead_letter_queues)
