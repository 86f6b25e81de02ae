"""`declick local up`: the pipeline on an emulated AWS, as an endpoint the user's own clients use.

`local run` uploads for the user and exits; `up` deploys the same stack (same emulator, same
handlers, same state machine) and then stays up until Ctrl-C or SIGTERM, so that the AWS CLI,
boto3 code, SQS subscribers and HTTP endpoints can be tried against it as they would be against
the deployed stack. The emulated endpoint listens on 127.0.0.1 only: nothing else on the network
can reach it.

Streams, as in `local run`: stdout carries only the notifications, one line each, as they are
published (a readable line, or the JSON document with `--json`); what a client needs (endpoint,
region, credentials, stack outputs, `export` lines) and the stop report go to stderr; the
handlers' own logs go to a file.

Stopping: the first signal lets the uploads already in the pipeline finish (up to `--drain`
seconds, printing their notifications; the endpoint still answers meanwhile); a second signal, or
the end of that time, stops at once and lists the uploads left without a notification. State
lives in memory (moto has no persistence), so nothing survives a stop.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

DEFAULT_PORT = 4566
DEFAULT_DRAIN_SECONDS = 60.0
HOST = "127.0.0.1"
# What the emulator accepts as credentials: any value. Real-looking ones would risk being real.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}  # noqa: S105


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port of the emulated AWS endpoint on {HOST} (default: {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument("--api-url", help="remote API base URL (default: our own service on a free local port)")
    parser.add_argument("--appkey", help="API appkey (with --api-url; default: generated for the local service)")
    parser.add_argument(
        "--appsecret",
        help="API appsecret (prefer the DECLICK_APPSECRET environment variable: arguments show in `ps`)",
    )
    parser.add_argument(
        "--log", type=Path, default=Path("declick-local.log"), help="handler log file (default: declick-local.log)"
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=DEFAULT_DRAIN_SECONDS,
        metavar="SECONDS",
        help="on Ctrl-C/SIGTERM, wait this long for uploads already in the pipeline (default: %(default).0f)",
    )
    parser.add_argument("--json", action="store_true", help="print each notification as its JSON document")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on, or None. Binds the way the server will
    (SO_REUSEADDR), so a port left in TIME_WAIT by a previous run is not reported as taken."""
    if not 0 <= port <= 65535:
        return f"--port {port} is not a TCP port"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (
                    f"{host}:{port} is taken (another `declick local up`, or another program, listens there); "
                    "stop it or choose another port with --port"
                )
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


class StopSignals:
    """SIGINT and SIGTERM, both: while starting they interrupt (KeyboardInterrupt); once up, the
    first sets `requested` (drain) and the next sets `urgent` (stop now)."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.urgent = threading.Event()
        self.starting = True
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.starting:
            self.starting = False  # once only: a second signal must not break the clean-up it starts
            self.requested.set()
            raise KeyboardInterrupt
        if self.requested.is_set():
            self.urgent.set()
        self.requested.set()

    def __enter__(self) -> StopSignals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def describe(message: Mapping[str, Any]) -> str:
    """One line for a notification: status, the upload, and the result or the reason."""
    status = message.get("status")
    if not status:
        return "notification: " + json.dumps(message, ensure_ascii=False)[:300]
    source = message.get("input") or {}
    line = f"{status} s3://{source.get('bucket')}/{source.get('key')}"
    if status == "SUCCEEDED":
        output = message.get("output") or {}
        line += f" -> s3://{output.get('bucket')}/{output.get('key')}"
        if output.get("size") is not None:
            line += f" ({output['size']} bytes)"
    else:
        error = message.get("error") or {}
        line += f": {error.get('code', 'UNKNOWN')} {error.get('message', '')}".rstrip()
    return " ".join(line.split())  # one line, whatever the reason text holds


def client_setup(endpoint_url: str, region: str, outputs: Mapping[str, Any]) -> str:
    """What a client needs, for stderr: endpoint, region, credentials, outputs, `export` lines."""
    width = max((len(name) for name in outputs), default=0)
    lines = [
        f"Declick is up: the pipeline on an emulated AWS (moto) at {endpoint_url}",
        f"  region       {region}",
        "  credentials  any (the emulator does not check them); the exports below use dummy ones",
        "",
        "Stack outputs:",
        *(f"  {name.ljust(width)}  {value}" for name, value in outputs.items()),
        "",
        "In another shell (AWS CLI, boto3 and the other AWS SDKs read these):",
        f"  export AWS_ENDPOINT_URL={endpoint_url}",
        f"  export AWS_DEFAULT_REGION={region} AWS_REGION={region}",
        *(f"  export {name}={value}" for name, value in DUMMY_CREDENTIALS.items()),
    ]
    for variable, output in (
        ("DECLICK_INPUT_BUCKET", "InputBucketName"),
        ("DECLICK_OUTPUT_BUCKET", "OutputBucketName"),
        ("DECLICK_TOPIC_ARN", "NotificationsTopicArn"),
    ):
        if output in outputs:
            lines.append(f"  export {variable}={outputs[output]}")
    if "InputBucketName" in outputs:
        lines += ["then, e.g.:", "  aws s3 cp talk.wav s3://$DECLICK_INPUT_BUCKET/ --metadata detection-mult=7"]
    lines.append(
        'AWS CLI v1 ignores AWS_ENDPOINT_URL for `aws sqs` (aws/aws-cli#8737): add --endpoint-url "$AWS_ENDPOINT_URL".'
    )
    return "\n".join(lines)


@dataclass
class InFlight:
    """Work the pipeline holds: uploads being processed (by S3 URL) and messages not yet handled."""

    running: list[str] = field(default_factory=list)
    queued: int = 0
    batches: int = 0

    def empty(self) -> bool:
        return not (self.running or self.queued or self.batches)

    def summary(self) -> str:
        parts = []
        if self.running:
            parts.append(f"{len(self.running)} upload(s) in progress ({', '.join(self.running)})")
        if self.queued:
            parts.append(f"{self.queued} message(s) queued (uploads not yet submitted, or dead letters)")
        if self.batches:
            parts.append(f"{self.batches} handler invocation(s) running")
        return "; ".join(parts) or "nothing"


def in_flight(pipeline: Any, inbox_queue_url: str) -> InFlight:
    aws = pipeline.emulator
    sfn = aws.client("stepfunctions")
    running = []
    for arn in aws.state_machines.values():
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING"):
            for execution in page["executions"]:
                running.append(_execution_upload(sfn, execution))
    queued = sum(aws.queue_depth(url) for url in aws.queue_urls.values()) + aws.queue_depth(inbox_queue_url)
    return InFlight(running=running, queued=queued, batches=aws.batches_in_flight)


def _execution_upload(sfn: Any, execution: Mapping[str, Any]) -> str:
    try:
        state = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
        source = state["input"]
        return f"s3://{source['bucket']}/{source['key']}"
    except (KeyError, TypeError, ValueError):
        return f"execution {execution['name']}"


class NotificationPrinter:
    def __init__(self, pipeline: Any, stream: TextIO, as_json: bool):
        self._pipeline = pipeline
        self._stream = stream
        self._as_json = as_json
        self.printed = 0

    def flush(self, wait: float = 0.0) -> None:
        aws = self._pipeline.emulator
        if wait > 0:
            aws.wait_for(lambda notes: len(notes) > self.printed, timeout=wait)
        notes = aws.notifications
        for note in notes[self.printed :]:
            if self._as_json:
                line = json.dumps(note.message, ensure_ascii=False)
            else:
                line = f"{time.strftime('%H:%M:%S')} {describe(note.message)}"
            self._stream.write(line + "\n")
            self.printed += 1
        self._stream.flush()


def _release_cdk_runtime() -> None:
    """Stop the Node.js child (jsii) that ran `cdk synth`: nothing synthesizes again, and Ctrl-C
    reaches the whole foreground process group, so that child would otherwise die first and its
    exit hook print a BrokenPipeError traceback over the stop report."""
    jsii = sys.modules.get("jsii")
    if jsii is None:
        return
    try:
        jsii.kernel.provider._process.stop()  # created by the synthesis, so this starts nothing
    except Exception as exc:  # noqa: BLE001 - cosmetic; the child exits with this process anyway
        logging.getLogger("declick.local").debug("could not stop the jsii runtime: %s", exc)


@contextlib.contextmanager
def _handler_logs_to(path: Path) -> Iterator[None]:
    """The handlers print and log to stdout (as on Lambda); here that is the log file."""
    with open(path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        handler = logging.StreamHandler(log)
        logging.getLogger().addHandler(handler)
        logging.captureWarnings(True)
        try:
            yield
        finally:
            logging.captureWarnings(False)
            logging.getLogger().removeHandler(handler)


def run(args: argparse.Namespace) -> int:
    appsecret = args.appsecret or os.environ.get("DECLICK_APPSECRET")
    if args.api_url and not (args.appkey and appsecret):
        _say("error: --api-url needs --appkey and an appsecret (--appsecret or DECLICK_APPSECRET)")
        return 2
    # Refuse a taken port now, not after the minute of synthesis and deployment.
    problem = port_problem(HOST, args.port)
    if problem:
        _say(f"error: {problem}")
        return 1
    stdout = sys.stdout
    log_path: Path = args.log.resolve()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with StopSignals() as signals, _handler_logs_to(log_path):
        try:
            return _serve(args, appsecret, signals, stdout, log_path)
        except KeyboardInterrupt:  # a signal in the instant between "started" and "serving"
            return 1
        finally:
            # Everything is stopped and the process exits next. Left to the collector, the
            # emulator's and the CDK's object graphs kept the interpreter's shutdown busy for
            # ~7 s after "stopped" (0.6 s frozen), long enough to look like a hang.
            gc.freeze()


def _serve(args: argparse.Namespace, appsecret: str | None, signals: StopSignals, stdout: TextIO, log: Path) -> int:
    from declick.local.emulator import PortUnavailableError
    from declick.local.emulator.inbox import QUEUE_NAME
    from declick.local.runner import LocalPipeline, free_port
    from declick.local.template import REGION

    port = args.port or free_port(HOST)
    pipeline = LocalPipeline(api_url=args.api_url, appkey=args.appkey, appsecret=appsecret, port=port)
    _say(f"starting the emulated AWS (moto) on {HOST}:{port} and deploying the synthesized stack...")
    try:  # from here on, whatever happens, pipeline.stop() (idempotent) runs
        try:
            pipeline.start()
        except PortUnavailableError as exc:
            _say(f"error: {exc}; choose another port with --port")
            return 1
        except KeyboardInterrupt:
            _say("interrupted while starting")
            return 1
        except Exception:
            if not signals.requested.is_set():
                raise
            # Ctrl-C also reaches the CDK's Node.js child, whose death fails the synthesis first.
            _say("interrupted while starting")
            return 1
        signals.starting = False
        _release_cdk_runtime()
        aws = pipeline.emulator
        inbox_queue_url = aws.client("sqs").get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
        where = "our own service" if pipeline.service is not None else "the given API"
        _say(client_setup(aws.endpoint_url, REGION, aws.stack_outputs()))
        _say("")
        _say(f"remote API: {where} at {pipeline.api_base_url}; handler log: {log}")
        _say(f"notifications are printed below as they are published. Ctrl-C to stop. Ready at {aws.endpoint_url}")
        printer = NotificationPrinter(pipeline, stdout, args.json)
        while not signals.requested.is_set():
            printer.flush(wait=0.5)
        return _drain(pipeline, printer, signals, inbox_queue_url, args.drain)
    finally:
        signals.starting = False
        pipeline.stop()
        _say("stopped: nothing is left running (the emulated AWS, its state and the service are gone)")


def _drain(
    pipeline: Any, printer: NotificationPrinter, signals: StopSignals, inbox_queue_url: str, seconds: float
) -> int:
    work = in_flight(pipeline, inbox_queue_url)
    waited = not work.empty()
    if waited:
        _say(f"stopping: waiting up to {seconds:.0f} s for {work.summary()}; Ctrl-C again to stop now")
        deadline = time.monotonic() + seconds
        while not work.empty() and not signals.urgent.is_set() and time.monotonic() < deadline:
            printer.flush(wait=0.5)
            work = in_flight(pipeline, inbox_queue_url)
    printer.flush()
    if work.empty():
        _say("stopping: every upload in progress got its notification" if waited else "stopping: no upload in progress")
        return 0
    _say(f"stopping with work left, these uploads get no notification: {work.summary()}")
    return 0
