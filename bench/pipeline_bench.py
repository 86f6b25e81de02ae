"""Benchmark of the whole pipeline on the emulated AWS (`declick local run`'s machinery).

    python -m bench.pipeline_bench [--seconds 168] [--runs 3] [--out bench/results/pipeline.md]

Three measurements:

1. **Upload to notification** for one WAV of `--seconds` (default 168 s, 32 kHz mono 16-bit,
   about 10.8 MB, the vendor's example size) through the synthesized stack and our own service:
   wall time and how it splits into submit, waiting (polls, Wait states and the remote's work),
   engine (inside the remote task), deliver, and notification delivery.
2. **Peak memory** of the submit and deliver handlers on a 50 MB WAV (the input limit): each is
   invoked once in a fresh Python process (as in a Lambda sandbox) against the emulator, with a
   scripted fake vendor serving a 50 MB result; maximum RSS after imports and at the end.
3. **Per-upload usage and AWS cost**: state transitions (StateEntered events), Lambda invocations
   and GB-seconds at the configured memory sizes, S3/SNS requests made by the handlers (counted
   at the SDK), priced at us-east-1 list prices; the vendor's price is excluded.

Local waits are clamped to 0-2 s (`LOCAL_CONTEXT`); in AWS `WAIT_MIN_SECONDS` is 5, so a real
run polls at least 5 s apart and the marginal cost of each extra poll is given separately.
This is a benchmark, not a test: the times depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

# us-east-1 list prices (USD)
PRICE_TRANSITION = 0.025 / 1000
PRICE_LAMBDA_GB_S = 0.0000166667
PRICE_LAMBDA_REQUEST = 0.20 / 1_000_000
PRICE_S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST (multipart parts included)
PRICE_S3_GET = 0.0004 / 1000  # GET, HEAD and all other
PRICE_SNS_PUBLISH = 0.50 / 1_000_000

S3_PUT_CLASS = {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "CopyObject"}
LIMIT_BYTES = 52_428_800

_CHILD = r"""
import json, os, sys, time, importlib
def hwm_kb():
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak over fork+exec.
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
job = json.load(sys.stdin)
os.environ.update(job["env"])
module, _, attr = job["handler"].rpartition(".")
handler = getattr(importlib.import_module(module), attr)
class Context:
    function_name = job["name"]; function_version = "$LATEST"; invoked_function_arn = job["arn"]
    memory_limit_in_mb = job["memory"]; aws_request_id = "bench"; log_group_name = "bench"; log_stream_name = "bench"
    def get_remaining_time_in_millis(self): return 600000
before = hwm_kb()
started = time.monotonic()
result = handler(job["event"], Context())
seconds = time.monotonic() - started
peak = hwm_kb()
print("BENCH-RESULT " + json.dumps({"baseline_kb": before, "peak_kb": peak, "seconds": seconds, "result": result}))
"""


def make_wav(path: Path, seconds: float, rate: int, channels: int = 1, seed: int = 7) -> int:
    from bench.clicks import corrupt, voice_like

    rng = np.random.default_rng(seed)
    columns = []
    for _ in range(channels):
        clean = voice_like(rate, seconds, rng)
        noisy, _, _ = corrupt(clean, rate, "keyboard", 10.0, rng, rate_per_s=1.0)
        columns.append(noisy)
    data = np.stack(columns, axis=1) if channels > 1 else columns[0]
    sf.write(path, (data * 32767).astype(np.int16), rate, subtype="PCM_16")
    return path.stat().st_size


class SdkCalls:
    """Counts SDK operations made by the handlers (not by the emulator's own clients)."""

    def __init__(self, exclude: list[Any]):
        import botocore.client

        self._client_cls = botocore.client.BaseClient
        self._original = self._client_cls._make_api_call
        self._exclude = exclude
        self.calls: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def __enter__(self) -> SdkCalls:
        counter = self

        def counted(client: Any, operation: str, params: Any) -> Any:
            service = client.meta.service_model.service_name
            # The emulator's own clients and the state machine interpreter's Lambda calls are not the handlers'.
            if service != "lambda" and not any(client is other for other in counter._exclude):
                with counter._lock:
                    counter.calls[(service, operation)] += 1
            return counter._original(client, operation, params)

        self._client_cls._make_api_call = counted
        return self

    def __exit__(self, *exc: object) -> None:
        self._client_cls._make_api_call = self._original


def one_run(pipeline: Any, source: Path, key: str) -> dict[str, Any]:
    aws = pipeline.emulator
    data = source.read_bytes()
    invocations_before = len(aws.runtime.invocations)
    with SdkCalls(exclude=aws.own_clients()) as sdk:
        t0 = time.monotonic()
        upload = pipeline.upload(key, data)
        assert pipeline.wait_for([upload], timeout=900), "no notification"
        t_notified = time.monotonic()
        assert aws.wait_idle(timeout=120)
    (note,) = pipeline.notifications_for(upload)
    assert note["status"] == "SUCCEEDED", note
    spans = [i for i in aws.runtime.invocations[invocations_before:]]
    by_handler: dict[str, list[Any]] = {}
    names = {spec.name: spec.handler.rsplit(".", 2)[-2] for spec in aws.functions.values()}
    memory = {spec.handler.rsplit(".", 2)[-2]: spec.memory_mb for spec in aws.functions.values()}
    for span in spans:
        by_handler.setdefault(names[span.function], []).append(span)
    submit = by_handler["submit_task"][-1]
    deliver = by_handler["deliver_result"][-1]
    task = next(t for t in pipeline.service_tasks() if t.id == note["task"]["id"])
    execution = next(e for e in aws.executions() if e["name"].rsplit("-", 1)[0] == task.id)
    transitions = sum(1 for e in aws.execution_history(execution["executionArn"]) if e["type"].endswith("StateEntered"))
    return {
        "wall": t_notified - t0,
        "submit": submit.seconds,
        "waiting": deliver.started - (submit.started + submit.seconds),
        "remote_wall": task.wall_seconds,
        "engine": task.engine_seconds,
        "deliver": deliver.seconds,
        "notify": t_notified - (deliver.started + deliver.seconds),
        "polls": note["task"]["polls"],
        "transitions": transitions,
        "invocations": {h: len(v) for h, v in by_handler.items()},
        "seconds": {h: sum(s.seconds for s in v) for h, v in by_handler.items()},
        "memory": memory,
        "sdk": dict(sdk.calls),
        "bytes": len(data),
    }


def run_child(spec: Any, event: dict[str, Any]) -> dict[str, Any]:
    job = {
        "handler": spec.handler,
        "name": spec.name,
        "arn": spec.arn,
        "memory": spec.memory_mb,
        "env": dict(spec.environment),
        "event": event,
    }
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=900,
        env=os.environ,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH-RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(line[len("BENCH-RESULT ") :])


def memory_runs(template: dict[str, Any], workdir: Path) -> dict[str, Any]:
    from declick.local.fake_vendor import FakeVendor, Reply
    from declick.local.runner import LocalPipeline

    seconds = (LIMIT_BYTES - 44) / (44_100 * 2 * 2)
    source = workdir / "fifty.wav"
    size = make_wav(source, seconds, 44_100, channels=2, seed=11)
    data = source.read_bytes()
    with (
        FakeVendor() as vendor,
        LocalPipeline(
            template=template, api_url=vendor.url, appkey=vendor.appkey, appsecret=vendor.appsecret
        ) as pipeline,
    ):
        aws = pipeline.emulator
        result_url = vendor.serve_file("fifty.wav", data, "audio/wav")
        vendor.script_create(Reply.created("mem-1"))
        vendor.script_task("mem-1", Reply.result(3, voice_result=result_url))
        s3 = aws.client("s3")
        bucket, key = pipeline.output_bucket, "bench/fifty.wav"  # a bucket without notifications
        put = s3.put_object(Bucket=bucket, Key=key, Body=data, Metadata={"output-format": "wav"})
        record = {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-11-25T00:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "s3": {
                "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                "object": {"key": key, "size": size, "eTag": put["ETag"].strip('"'), "sequencer": "0"},
            },
        }
        message = {
            "messageId": "bench-1",
            "receiptHandle": "bench",
            "body": json.dumps({"Records": [record]}),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
            "awsRegion": "us-east-1",
        }
        submit = run_child(aws.function_by_handler("submit_task"), {"Records": [message]})
        assert submit["result"] == {"batchItemFailures": []}, submit["result"]
        assert aws.wait_for(lambda ns: any(n.message["input"]["key"] == key for n in ns), timeout=300)
        execution = next(e for e in aws.executions() if e["name"].rsplit("-", 1)[0] == "mem-1")
        state = json.loads(
            aws.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["input"]
        )
        state["task_id"] = "mem-2"  # a fresh task: the deliver idempotency record of mem-1 exists
        state["poll"] = {
            "status": 3,
            "status_name": "COMPLETE",
            "wait_seconds": 0,
            "voice_result": result_url,
            "reason": None,
            "polls": 1,
            "give_up": False,
        }
        deliver = run_child(aws.function_by_handler("deliver_result"), state)
        assert deliver["result"]["output"]["size"] == size, deliver["result"]
        memory = {spec.handler.rsplit(".", 2)[-2]: spec.memory_mb for spec in aws.functions.values()}
    return {"size": size, "submit": submit, "deliver": deliver, "memory": memory}


def cost(run: dict[str, Any]) -> dict[str, float]:
    gb_s = sum(run["seconds"][h] * run["memory"][h] / 1024 for h in run["seconds"])
    requests = sum(run["invocations"].values())
    s3_put = 1 + sum(n for (svc, op), n in run["sdk"].items() if svc == "s3" and op in S3_PUT_CLASS)  # + user PUT
    s3_get = 1 + sum(n for (svc, op), n in run["sdk"].items() if svc == "s3" and op not in S3_PUT_CLASS)  # + remote GET
    publishes = sum(n for (svc, op), n in run["sdk"].items() if svc == "sns" and op == "Publish")
    parts = {
        "Step Functions transitions": run["transitions"] * PRICE_TRANSITION,
        "Lambda compute": gb_s * PRICE_LAMBDA_GB_S,
        "Lambda requests": requests * PRICE_LAMBDA_REQUEST,
        "S3 PUT-class": s3_put * PRICE_S3_PUT,
        "S3 GET-class": s3_get * PRICE_S3_GET,
        "SNS publish": publishes * PRICE_SNS_PUBLISH,
    }
    parts["_counts"] = {"gb_s": gb_s, "requests": requests, "s3_put": s3_put, "s3_get": s3_get, "publishes": publishes}
    return parts


def _fmt_usd(value: float) -> str:
    return f"${value:.7f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=168.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench/results/pipeline.md"))
    args = parser.parse_args(argv)

    from declick.local.runner import LocalPipeline, synthesized_template

    template = synthesized_template()
    with tempfile.TemporaryDirectory(prefix="declick-bench-") as tmp:
        workdir = Path(tmp)
        source = workdir / "long.wav"
        size = make_wav(source, args.seconds, 32_000)
        print(f"input: {args.seconds:.0f} s, {size} bytes", file=sys.stderr)
        runs = []
        with LocalPipeline(template=template) as pipeline:
            for index in range(args.runs):
                runs.append(one_run(pipeline, source, f"bench/run {index}.wav"))
                print(f"run {index}: {runs[-1]['wall']:.2f} s", file=sys.stderr)
        memory = None if args.skip_memory else memory_runs(template, workdir)

    lines = write_markdown(args, size, runs, memory, argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


def write_markdown(args: Any, size: int, runs: list[dict[str, Any]], memory: Any, argv: list[str] | None) -> list[str]:
    command = "python -m bench.pipeline_bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    med = {
        k: statistics.median(r[k] for r in runs)
        for k in ("wall", "submit", "waiting", "remote_wall", "engine", "deliver", "notify")
    }
    lines = [
        "# Pipeline benchmark (emulated AWS, our own service as the remote API)",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}  ",
        f"Input: synthetic voice with keyboard clicks, {args.seconds:.0f} s, 32 kHz mono 16-bit WAV, {size:,} bytes; "
        f"output MP3 (default). {len(runs)} run(s) on one deployed stack (the first includes cold starts).",
        "",
        "## Upload to notification",
        "",
        "| step | " + " | ".join(f"run {i}" for i in range(len(runs))) + " | median |",
        "| --- |" + " ---: |" * (len(runs) + 1),
    ]
    rows = [
        ("wall: upload → notification received", "wall"),
        ("submit_task (read, MD5, header, create task, start execution)", "submit"),
        ("waiting (polls + Wait states while the remote works)", "waiting"),
        ("  of which the remote task's own wall time (download, decode, engine, encode)", "remote_wall"),
        ("  of which the engine", "engine"),
        ("deliver_result (download result, write output, publish)", "deliver"),
        ("notification reaches the subscriber queue", "notify"),
    ]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(f"{r[key]:.2f} s" for r in runs) + f" | {med[key]:.2f} s |")
    lines.append("| polls | " + " | ".join(str(r["polls"]) for r in runs) + " | |")
    lines += [
        "",
        "Local waits are clamped to 0-2 s; in AWS (`WAIT_MIN_SECONDS` 5) the waiting part is at least "
        "the remote's processing time rounded up to the next poll.",
        "",
    ]
    if memory:
        lines += [
            f"## Peak memory on a 50 MB file ({memory['size']:,} bytes, 44.1 kHz stereo WAV in, WAV out)",
            "",
            "Each handler invoked once in a fresh Python process against the emulator (maximum RSS).",
            "",
            "| handler | configured memory | RSS after imports | peak RSS | growth | duration |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for handler in ("submit", "deliver"):
            m = memory[handler]
            configured = memory["memory"][f"{handler}_task" if handler == "submit" else "deliver_result"]
            lines.append(
                f"| {handler} | {configured} MB | {m['baseline_kb'] / 1024:.0f} MB | {m['peak_kb'] / 1024:.0f} MB | "
                f"{(m['peak_kb'] - m['baseline_kb']) / 1024:.0f} MB | {m['seconds']:.2f} s |"
            )
        lines.append("")
    last = runs[-1]
    parts = cost(last)
    counts = parts.pop("_counts")
    lines += [
        "## Usage and AWS cost per upload (last run, warm)",
        "",
        f"- State transitions: **{last['transitions']}** (StateEntered events of the execution)",
        "- Lambda invocations: **"
        + str(sum(last["invocations"].values()))
        + "** ("
        + ", ".join(f"{h} {n}" for h, n in sorted(last["invocations"].items()))
        + f"), {counts['gb_s']:.3f} GB-s at "
        + ", ".join(f"{h} {last['memory'][h]} MB" for h in sorted(last["invocations"]))
        + " (local durations)",
        f"- S3 requests: {counts['s3_put']} PUT-class (incl. the user's upload), {counts['s3_get']} GET-class "
        "(incl. the remote's download of the presigned link); SNS publishes: " + str(counts["publishes"]),
        "- SDK calls by the handlers: " + ", ".join(f"{svc}.{op} {n}" for (svc, op), n in sorted(last["sdk"].items())),
        "",
        "| item | USD per upload |",
        "| --- | ---: |",
    ]
    for item, value in parts.items():
        lines.append(f"| {item} | {_fmt_usd(value)} |")
    total = sum(parts.values())
    lines.append(f"| **total (excluding the vendor)** | **{_fmt_usd(total)}** |")
    poll_seconds = last["seconds"].get("poll_task", 0) / max(1, last["invocations"].get("poll_task", 1))
    extra = (
        3 * PRICE_TRANSITION
        + PRICE_LAMBDA_REQUEST
        + poll_seconds * last["memory"]["poll_task"] / 1024 * PRICE_LAMBDA_GB_S
    )
    lines += [
        "",
        f"Each further poll adds 3 transitions (PollTask, RouteStatus, WaitForRemote) and one poll_task "
        f"invocation (~{poll_seconds * 1000:.0f} ms at {last['memory']['poll_task']} MB): {_fmt_usd(extra)}. "
        f"Per 1,000 uploads: ${total * 1000:.4f}. Not counted (each well under $0.00001 per upload): SQS "
        "requests, DynamoDB idempotency writes, Secrets Manager reads (cached), KMS for the encrypted topic, "
        "CloudWatch Logs ingestion.",
    ]
    return lines


if __name__ == "__main__":
    sys.exit(main())
