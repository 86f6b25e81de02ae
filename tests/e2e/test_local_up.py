"""`declick local up` as users run it: a separate process, driven only by real AWS clients.

One `up` process serves the whole module (starting it synthesizes and deploys the stack). The
clients get only what `up` printed (the `export` lines and stack outputs): the AWS CLI (its own
process, its own vendored botocore) for uploads, a multipart upload over its 8 MB threshold,
an HTTP subscription and downloads; boto3 for an SQS subscription with a filter policy. That
`up` is then stopped with Ctrl-C (SIGINT) when idle; another, on a vendor that holds a task, is
stopped with SIGTERM while uploads are in flight.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import soundfile as sf

from declick.local.fake_vendor import FakeVendor, Reply
from declick.local.runner import free_port
from declick.local.up import port_problem
from tests.e2e import audio

STARTUP_TIMEOUT = 240.0
NOTIFY_TIMEOUT = 120.0
AWS_CLI = Path(sys.executable).with_name("aws")
MULTIPART_THRESHOLD = 8 * 1024 * 1024  # the AWS CLI's default `multipart_threshold`


class UpProcess:
    """`declick local up` in its own session (so every process it starts shares its group)."""

    def __init__(self, port: int, workdir: Path, *args: str, env: dict[str, str] | None = None):
        self.port = port
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | (env or {})
        command = [sys.executable, "-m", "declick.cli", "local", "up", "--port", str(port), "--json", *args]
        self.process = subprocess.Popen(
            [*command, "--log", str(workdir / f"handlers-{port}.log")],
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, lines: list[str]) -> None:
        for line in stream:
            with self._cond:
                lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (result := predicate()):
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._readers_alive()):
                    raise AssertionError(f"{what}: not seen; stderr:\n" + "\n".join(self.stderr[-40:]))
                self._cond.wait(min(left, 0.5))
            return result

    def _readers_alive(self) -> bool:
        return any(reader.is_alive() for reader in self._readers)

    def notifications(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.stdout) if line.startswith("{")]

    def notification_for(self, key: str, timeout: float = NOTIFY_TIMEOUT) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((n for n in self.notifications() if n["input"]["key"] == key), None)

        return self.wait_until(found, timeout, f"the notification for {key!r}")

    def wait_exit(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def wait_ready(self) -> None:
        self.wait_until(lambda: any("Ready at" in line for line in self.stderr), STARTUP_TIMEOUT, "Ready")

    def exported(self, workdir: Path) -> dict[str, str]:
        """The variables of the `export` lines `up` printed, as a user would paste them."""
        variables: dict[str, str] = {}
        for line in self.stderr:
            if line.strip().startswith("export "):
                for assignment in line.strip().removeprefix("export ").split():
                    name, _, value = assignment.partition("=")
                    variables[name] = value
        # No profile or credentials file of the machine's user may leak into the clients.
        variables["AWS_CONFIG_FILE"] = variables["AWS_SHARED_CREDENTIALS_FILE"] = str(workdir / "no-such-file")
        return variables

    def assert_stopped_cleanly(self) -> None:
        """Exit 0, no traceback, the port free again, and nothing it started still running."""
        assert self.wait_exit(timeout=120) == 0, "\n".join(self.stderr[-20:])
        stderr = "\n".join(self.stderr)
        assert "stopped:" in stderr and "Traceback" not in stderr, stderr
        assert port_problem("127.0.0.1", self.port) is None
        deadline = time.monotonic() + 15
        while (left := _processes_in_group(self.process.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"still running after `up` exited: {left}"
        keys = [n["input"]["key"] for n in self.notifications()]
        assert len(keys) == len(set(keys)), f"an upload was notified twice: {keys}"

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("local-up")


@pytest.fixture(scope="module")
def up(workdir):
    assert AWS_CLI.is_file(), "the AWS CLI (awscli, requirements-dev.txt) is not installed in this environment"
    server = UpProcess(free_port(), workdir)
    try:
        server.wait_ready()
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def exported(up, workdir) -> dict[str, str]:
    variables = up.exported(workdir)
    assert variables["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{up.port}"
    return variables


def aws(exported: dict[str, str], *args: str, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | exported
    result = subprocess.run([str(AWS_CLI), *args], env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"aws {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def boto3_client(exported: dict[str, str], service: str) -> Any:
    # What boto3 code does with the pasted exports: endpoint, region and keys from the environment.
    session = boto3.session.Session(
        aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
        region_name=exported["AWS_DEFAULT_REGION"],
    )
    return session.client(service, endpoint_url=exported["AWS_ENDPOINT_URL"])


def test_up_prints_what_a_client_needs(up, exported):
    text = "\n".join(up.stderr)
    for output in ("InputBucketName", "OutputBucketName", "NotificationsTopicArn"):
        assert re.search(rf"^\s+{output}\s+\S+$", text, re.M), output
    assert exported["AWS_DEFAULT_REGION"] == "us-east-1"
    assert exported["DECLICK_TOPIC_ARN"].startswith("arn:aws:sns:us-east-1:")
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DECLICK_INPUT_BUCKET", "DECLICK_OUTPUT_BUCKET"} <= set(
        exported
    )


def test_aws_cli_upload_with_metadata_is_processed_and_its_result_downloaded(up, exported, workdir):
    source = workdir / "talk.wav"
    source.write_bytes(audio.wav(seconds=0.8, seed=21))
    bucket = exported["DECLICK_INPUT_BUCKET"]
    aws(exported, "s3", "cp", str(source), f"s3://{bucket}/cli/talk.wav", "--metadata", "detection-mult=7")

    note = up.notification_for("cli/talk.wav")
    assert note["status"] == "SUCCEEDED", note
    assert note["task"]["parameters"]["detection_mult"] == 7
    assert note["output"]["bucket"] == exported["DECLICK_OUTPUT_BUCKET"]
    result = workdir / "result.mp3"
    aws(exported, "s3", "cp", f"s3://{note['output']['bucket']}/{note['output']['key']}", str(result))
    assert result.stat().st_size == note["output"]["size"]
    samples, rate = sf.read(result)
    assert rate == audio.RATE and abs(len(samples) - 0.8 * rate) < 0.05 * rate


def test_aws_cli_multipart_upload_reaches_the_pipeline(up, exported, workdir):
    source = workdir / "long.wav"
    seconds = (MULTIPART_THRESHOLD + 512 * 1024) / (2 * audio.RATE)  # 16-bit mono: just over the threshold
    sf.write(source, audio.speechlike(seconds, clicks=20, seed=22), audio.RATE, subtype="PCM_16")
    assert source.stat().st_size > MULTIPART_THRESHOLD
    bucket = exported["DECLICK_INPUT_BUCKET"]
    aws(exported, "s3", "cp", str(source), f"s3://{bucket}/long.wav", "--metadata", "output-format=wav")

    head = json.loads(aws(exported, "s3api", "head-object", "--bucket", bucket, "--key", "long.wav"))
    assert re.fullmatch(r'"[0-9a-f]{32}-\d+"', head["ETag"]), f"not a multipart upload: {head['ETag']}"
    assert head["Metadata"] == {"output-format": "wav"}
    note = up.notification_for("long.wav")
    assert note["status"] == "SUCCEEDED", note
    assert note["input"]["size"] == source.stat().st_size
    assert note["input"]["version_id"] == head["VersionId"]  # the emulator's S3 event completion applies
    assert note["output"]["key"] == "long.wav" and note["output"]["size"] == source.stat().st_size


def test_sqs_subscription_with_a_filter_policy_gets_only_its_status(up, exported):
    sqs, sns, s3 = (boto3_client(exported, name) for name in ("sqs", "sns", "s3"))
    queue_url = sqs.create_queue(QueueName="my-rejections")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=exported["DECLICK_TOPIC_ARN"],
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": json.dumps({"status": ["REJECTED", "FAILED"]}), "RawMessageDelivery": "true"},
    )
    bucket = exported["DECLICK_INPUT_BUCKET"]
    s3.put_object(Bucket=bucket, Key="sqs/good.wav", Body=audio.wav(seed=23))
    s3.put_object(Bucket=bucket, Key="sqs/notes.wav", Body=b"not audio at all\n" * 20)
    assert up.notification_for("sqs/good.wav")["status"] == "SUCCEEDED"
    assert up.notification_for("sqs/notes.wav")["status"] == "REJECTED"

    received = []  # both are published by now; only the REJECTED one passes the filter
    while messages := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
    ).get("Messages", []):
        received += messages
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert [json.loads(m["Body"])["input"]["key"] for m in received] == ["sqs/notes.wav"]
    assert received[0]["MessageAttributes"]["status"]["StringValue"] == "REJECTED"


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_http_subscription_on_loopback_receives_sns_posts(up, exported):
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{hook.server_address[1]}/declick"
        aws(
            exported,
            "sns",
            "subscribe",
            "--topic-arn",
            exported["DECLICK_TOPIC_ARN"],
            "--protocol",
            "http",
            "--notification-endpoint",
            endpoint,
            "--attributes",
            json.dumps({"FilterPolicy": json.dumps({"status": ["SUCCEEDED"]})}),
        )
        bucket = exported["DECLICK_INPUT_BUCKET"]
        s3 = boto3_client(exported, "s3")
        s3.put_object(Bucket=bucket, Key="http/call.wav", Body=audio.wav(seed=24))
        s3.put_object(Bucket=bucket, Key="http/empty.wav", Body=b"")
        up.notification_for("http/empty.wav")
        up.notification_for("http/call.wav")
        up.wait_until(lambda: _Hook.received, 30, "the HTTP delivery")
        time.sleep(0.5)  # a second (filtered-out) delivery would be posted by now
        ((headers, body),) = _Hook.received
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-topic-arn"] == exported["DECLICK_TOPIC_ARN"]
        assert body["Type"] == "Notification" and body["TopicArn"] == exported["DECLICK_TOPIC_ARN"]
        assert json.loads(body["Message"])["input"]["key"] == "http/call.wav"
        assert body["MessageAttributes"]["status"] == {"Type": "String", "Value": "SUCCEEDED"}
    finally:
        hook.shutdown()
        hook.server_close()


def test_a_second_up_on_the_same_port_says_it_is_taken(up, workdir):
    command = [sys.executable, "-m", "declick.cli", "local", "up", "--port", str(up.port)]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert f"127.0.0.1:{up.port} is taken" in result.stderr and "--port" in result.stderr
    assert result.stdout == ""


def _processes_in_group(group: int) -> list[str]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(text[: text.rindex(")") + 1])
    return found


def test_ctrl_c_when_idle_stops_at_once_and_cleanly(up):
    os.kill(up.process.pid, signal.SIGINT)
    up.assert_stopped_cleanly()
    assert "stopping: no upload in progress" in "\n".join(up.stderr)


def test_sigterm_lets_in_flight_uploads_finish_and_reports_those_that_cannot(workdir):
    """A vendor that keeps one task in progress forever: the other upload is finished and
    notified during the drain, the held one is named in the stop report."""
    with FakeVendor() as vendor:
        vendor.serve_file("quick.mp3", audio.mp3(seed=26), "audio/mpeg")
        vendor.script_create(Reply.created("task-quick"), Reply.created("task-held"))
        in_progress = Reply.result(2, wait_time="2")
        vendor.script_task(
            "task-quick", in_progress, in_progress, Reply.result(3, voice_result=vendor.file_url("quick.mp3"))
        )
        vendor.script_task("task-held", in_progress)
        server = UpProcess(
            free_port(),
            workdir,
            *("--api-url", vendor.url, "--appkey", vendor.appkey, "--drain", "12"),
            env={"DECLICK_APPSECRET": vendor.appsecret},
        )
        try:
            server.wait_ready()
            exported = server.exported(workdir)
            s3 = boto3_client(exported, "s3")
            for key in ("quick.wav", "held.wav"):
                s3.put_object(Bucket=exported["DECLICK_INPUT_BUCKET"], Key=key, Body=audio.wav(seed=27))
            server.wait_until(lambda: len(vendor.created_tasks()) == 2, NOTIFY_TIMEOUT, "both tasks created")
            os.kill(server.process.pid, signal.SIGTERM)
            server.assert_stopped_cleanly()
        finally:
            server.kill()
    stderr = "\n".join(server.stderr)
    assert re.search(r"stopping: waiting up to 12 s for 2 upload\(s\) in progress", stderr), stderr
    assert server.notification_for("quick.wav", timeout=0)["status"] == "SUCCEEDED"
    assert [n["input"]["key"] for n in server.notifications()] == ["quick.wav"]
    (report,) = [line for line in server.stderr if line.startswith("stopping with work left")]
    assert "1 upload(s) in progress" in report and "/held.wav" in report and "quick" not in report
