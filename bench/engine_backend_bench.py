"""Benchmark of the engine backend (`-c declick:backend=engine`) and its cost/throughput model.

    python -m bench.engine_backend_bench [--seconds 168] [--runs 3] [--out bench/results/engine_backend.md]

1. **Upload to notification through the engine backend** on the emulated AWS: one WAV of
   `--seconds` (32 kHz mono 16-bit, like bench.pipeline_bench) per run, and how the wall time
   splits into submit, the API's create call, the worker (download, verify, engine, upload),
   polls and deliver, from the emulator's invocation records.
2. **The worker on a 50 MB WAV** (the input limit, 44.1 kHz stereo, ~297 s): `declick.jobs.run_job`,
   the worker Lambda's own code, in a fresh Python process downloading from a loopback server,
   for MP3 and WAV output: peak RSS (VmHWM) and wall time, and the engine's seconds per audio second.
3. **Cost per audio hour and throughput at 100 / 1,000 workers**: a written model whose only
   measured input is (2); prices are us-east-1 list prices.

The engine runs in one thread; a Lambda of 2048 MB has ~1.16 vCPU, so (2) measured on one core
of this machine is the model's worker speed (the stack sizes with a 2x safety factor on top).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

from bench.pipeline_bench import PRICE_LAMBDA_GB_S, PRICE_LAMBDA_REQUEST, PRICE_S3_GET, PRICE_S3_PUT, make_wav

PRICE_HTTP_API_REQUEST = 1.00 / 1_000_000
PRICE_SQS_REQUEST = 0.40 / 1_000_000
PRICE_DDB_WRITE = 1.25 / 1_000_000  # on-demand, per write request unit
PRICE_DDB_READ = 0.25 / 1_000_000  # per read request unit (strongly consistent reads of < 4 KB)
PRICE_TRANSITION = 0.025 / 1000
WORKER_GB = 2048 / 1024

_CHILD = r"""
import json, sys, time
def hwm_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
job = json.load(sys.stdin)
from declick.jobs import run_job
import declick.engine, soundfile  # the Lambda pays these imports at cold start, not per task
before = hwm_kb()
started, cpu_started = time.monotonic(), time.process_time()
answer = run_job(job)
wall, cpu = time.monotonic() - started, time.process_time() - cpu_started
result = {"baseline_kb": before, "peak_kb": hwm_kb(), "wall": wall, "cpu": cpu, "answer": answer}
print("BENCH-RESULT " + json.dumps(result))
"""


def _serve(directory: Path) -> ThreadingHTTPServer:
    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, directory=str(directory), **kwargs)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    Thread(target=server.serve_forever, daemon=True).start()
    return server


def worker_runs(workdir: Path) -> list[dict[str, Any]]:
    source = workdir / "fifty.wav"
    seconds = (50 * 1024 * 1024 - 44) / (44_100 * 2 * 2)
    make_wav(source, seconds, 44_100, channels=2, seed=11)
    data = source.read_bytes()
    server = _serve(workdir)
    host = f"127.0.0.1:{server.server_address[1]}"
    rows = []
    try:
        for output in ("mp3", "wav"):
            job = {
                "id": f"bench-{output}",
                "file_link": f"http://{host}/fifty.wav",
                "file_size": len(data),
                "file_md5": hashlib.md5(data).hexdigest(),  # noqa: S324 - the API's checksum
                "file_time": round(seconds),
                "input_ext": "wav",
                "detection_mult": 8.0,
                "click_len": 10,
                "output_ext": output,
                "work_path": str(workdir / f"in-{output}.wav"),
                "result_path": str(workdir / f"out.{output}"),
                "max_bytes": 50 * 1024 * 1024,
                "download_timeout_seconds": 120,
                "download_retries": 0,
                "allowed_hosts": [host],
                "max_audio_seconds": 86_400,
                "duration_tolerance_seconds": 2.0,
                "duration_tolerance_ratio": 0.05,
            }
            env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
            done = subprocess.run(
                [sys.executable, "-c", _CHILD],
                input=json.dumps(job),
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH-RESULT "))
            result = json.loads(line.removeprefix("BENCH-RESULT "))
            answer = result["answer"]
            if not answer["ok"]:
                raise RuntimeError(f"worker failed: {answer}")
            rows.append(
                {
                    "output": output,
                    "bytes": len(data),
                    "audio_seconds": answer["audio_seconds"],
                    "wall": result["wall"],
                    "cpu": result["cpu"],
                    "engine": answer["engine_seconds"],
                    "baseline_mb": result["baseline_kb"] / 1024,
                    "peak_mb": result["peak_kb"] / 1024,
                    "result_bytes": answer["size"],
                }
            )
    finally:
        server.shutdown()
    return rows


def pipeline_runs(seconds: float, runs: int, workdir: Path) -> list[dict[str, Any]]:
    from declick.local.runner import LocalPipeline, synthesized_template

    source = workdir / "upload.wav"
    make_wav(source, seconds, 32_000)
    template = synthesized_template({"declick:backend": "engine"})
    results = []
    with LocalPipeline(template=template, backend="engine") as pipeline:
        aws = pipeline.emulator
        names = {
            kind: aws.function_by_handler(handler).name
            for kind, handler in (
                ("submit", "submit_task"),
                ("poll", "poll_task"),
                ("deliver", "deliver_result"),
                ("api", "declick_engine_backend.handlers.api"),
                ("worker", "declick_engine_backend.handlers.work"),
            )
        }
        for run in range(runs):
            before = len(aws.runtime.invocations)
            started = time.monotonic()
            upload = pipeline.upload(f"bench/run-{run}.wav", source)
            if not pipeline.wait_for([upload], timeout=600):
                raise RuntimeError("no notification within 600 s")
            wall = time.monotonic() - started
            (note,) = pipeline.notifications_for(upload)
            if note["status"] != "SUCCEEDED":
                raise RuntimeError(f"run {run}: {note}")
            aws.wait_idle(timeout=60)
            mine = aws.runtime.invocations[before:]

            def total(kind: str, mine: list[Any] = mine) -> float:
                return sum(i.seconds for i in mine if i.function == names[kind])

            def count(kind: str, mine: list[Any] = mine) -> int:
                return sum(1 for i in mine if i.function == names[kind])

            results.append(
                {
                    "wall": wall,
                    "submit": total("submit"),
                    "api": total("api"),
                    "api_calls": count("api"),
                    "worker": total("worker"),
                    "poll": total("poll"),
                    "polls": count("poll"),
                    "deliver": total("deliver"),
                }
            )
    return results


def cost_per_audio_hour(rate: float, upload_minutes: float, polls: float) -> list[tuple[str, float, str]]:
    """USD per hour of audio, uploaded as files of `upload_minutes`, each polled `polls` times."""
    uploads = 60 / upload_minutes
    worker_gb_s = 3600 * rate * WORKER_GB + uploads * 3 * WORKER_GB  # engine time + ~3 s of download/upload each
    pipeline_gb_s = uploads * (1.0 * 1 + 1.0 * 1 + 0.25 * 0.3 * polls + 0.25 * 0.2)  # submit, deliver, polls, report
    api_gb_s = uploads * (1 + polls) * 0.5 * 0.1
    rows = [
        ("Lambda: engine worker", worker_gb_s * PRICE_LAMBDA_GB_S, f"{worker_gb_s:,.0f} GB-s (2048 MB)"),
        ("Lambda: pipeline + API functions", (pipeline_gb_s + api_gb_s) * PRICE_LAMBDA_GB_S, "~1 s per GB stage"),
        (
            "Lambda requests",
            uploads * (3 + 2 * polls + 2) * PRICE_LAMBDA_REQUEST,
            "submit, deliver, worker, polls + API calls",
        ),
        ("API Gateway HTTP API", uploads * (1 + polls) * PRICE_HTTP_API_REQUEST, "create + polls"),
        ("SQS", uploads * 4 * PRICE_SQS_REQUEST, "S3 event, work message: send/receive/delete"),
        (
            "DynamoDB on-demand",
            uploads * (4 * PRICE_DDB_WRITE + (4 + 2 * polls) * PRICE_DDB_READ) + uploads * 6 * PRICE_DDB_WRITE,
            "task record + idempotency records",
        ),
        ("S3 requests", uploads * (6 * PRICE_S3_PUT + 4 * PRICE_S3_GET), "upload, result, output, multipart"),
        ("Step Functions (Standard)", uploads * (6 + 5 * polls) * PRICE_TRANSITION, "~5 transitions per poll"),
    ]
    return rows


def write_markdown(args: Any, runs: list[dict[str, Any]], workers: list[dict[str, Any]], layer_mb: str) -> str:
    lines = ["# Engine backend benchmark (`-c declick:backend=engine`)", ""]
    lines.append(f"Command: `python -m bench.engine_backend_bench {shlex.join(sys.argv[1:])}`".rstrip() + "  ")
    lines.append(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU(s) shared with other jobs, Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    lines += ["", f"## 1. Upload to notification through the engine backend (emulated AWS, {args.seconds:g} s WAV)", ""]
    lines.append("| step | " + " | ".join(f"run {i}" for i in range(len(runs))) + " | median |")
    lines.append("| --- |" + " ---: |" * (len(runs) + 1))
    for key, label in (
        ("wall", "wall: upload → notification"),
        ("submit", "submit_task (probe, MD5, create call, start execution)"),
        ("api", "API function, all calls (create + polls)"),
        ("worker", "worker (download, verify, engine, result to S3)"),
        ("poll", "poll_task, all polls"),
        ("deliver", "deliver_result (presigned download, write output, publish)"),
    ):
        values = [r[key] for r in runs]
        lines.append(
            f"| {label} | " + " | ".join(f"{v:.2f} s" for v in values) + f" | {statistics.median(values):.2f} s |"
        )
    lines.append("| polls | " + " | ".join(str(r["polls"]) for r in runs) + " | |")
    lines += [
        "",
        "Local waits are clamped to 0-2 s; on AWS `wait_time` is at least 5 s, so the wall time is the",
        "worker's time rounded up to the next poll, plus cold starts (the worker imports numpy/scipy: ~1-2 s).",
        "",
        "## 2. Worker on a 50 MB WAV (44.1 kHz stereo 16-bit), fresh process, engine on one thread",
        "",
        "| output | audio | wall (download, verify, engine, encode) | CPU time of the job | CPU s per audio s "
        "| RSS after imports | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for w in workers:
        lines.append(
            f"| {w['output']} | {w['audio_seconds']:.0f} s | {w['wall']:.1f} s | {w['cpu']:.1f} s | "
            f"{w['cpu'] / w['audio_seconds']:.4f} | {w['baseline_mb']:.0f} MB | {w['peak_mb']:.0f} MB |"
        )
    lines += [
        "",
        f"Load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, so wall times are "
        "inflated by other jobs; CPU time is what a worker's own vCPU spends and is what the model uses.",
    ]
    from infra.config import load_config
    from infra.engine_backend import (
        MEASURED_SECONDS_PER_AUDIO_SECOND,
        PLANNED_SECONDS_PER_AUDIO_SECOND,
        WORKER_TIMEOUT_SECONDS,
        worker_limits,
    )

    limit = worker_limits(load_config({"declick:backend": "engine"})).max_audio_seconds
    mp3 = next(w for w in workers if w["output"] == "mp3")
    rate = mp3["cpu"] / mp3["audio_seconds"]
    lines += [
        "",
        "Peak memory stays far below the worker's 2048 MB (the engine streams blocks); 2048 MB is chosen for CPU",
        "(more than one full vCPU), not memory. Worker dependencies layer (numpy, scipy, soundfile, Powertools,",
        f"pydantic; `functions/engine-requirements.txt` built by `infra/bundling.py`): {layer_mb} unzipped, under",
        f"Lambda's 250 MB limit for function + layers (the worker's own code: {code_mb():.2f} MB).",
        "",
        "## 3. Limits, cost per audio hour, throughput (model)",
        "",
        f"Measured worker cost (MP3 output, the default; stereo 44.1 kHz): **{rate:.4f} CPU s per audio second**",
        f"({1 / rate:.0f}x real time per vCPU; WAV output alone is about 4x cheaper: MP3 encoding dominates).",
        f"The stack plans with {MEASURED_SECONDS_PER_AUDIO_SECOND} s/s (`infra/engine_backend.py`, this figure from",
        "an earlier run) x 48/44.1 (the API knows only the duration, so the worst common sample rate) x 2 (a",
        f"Lambda vCPU is not this core; harder audio) = {PLANNED_SECONDS_PER_AUDIO_SECOND:.4f} s/s. The longest",
        "accepted audio is (900 s - 120 s download limit - 120 s margin) / that, rounded down to the minute:",
        f"**{limit:,} s",
        f"({limit / 60:.0f} min)** (`infra.engine_backend.worker_limits`). `file_time` above it is refused at creation",
        f"(code 1004) with that reason. At this run's speed such a file needs {limit * rate:.0f} s of CPU (48 kHz: "
        f"{limit * rate * 48 / 44.1:.0f} s) of the {WORKER_TIMEOUT_SECONDS} s timeout.",
        "",
        f"Cost per audio hour, files of 10 minutes, 3 polls each, worker at the measured {rate:.4f} s/s",
        "(Lambda bills wall time; on the worker's own vCPU that is the CPU time):",
        "",
        "| item | USD per audio hour | basis |",
        "| --- | ---: | --- |",
    ]
    rows = cost_per_audio_hour(rate, upload_minutes=10, polls=3)
    for name, usd, basis in rows:
        lines.append(f"| {name} | {usd:.5f} | {basis} |")
    total = sum(usd for _, usd, _ in rows)
    lines += [
        f"| **total** | **{total:.4f}** | storage (S3, CloudWatch Logs) extra, cents per month |",
        "",
        "The engine's Lambda time dominates; halving the worker speed (the planning factor) doubles that line only.",
        "",
        "Throughput (audio hours cleaned per wall hour), each worker busy with one task at a time:",
        "",
        "| workers | audio h per wall h (measured speed) | at the planning speed (2x slower) | what limits it next |",
        "| ---: | ---: | ---: | --- |",
    ]
    per_worker = 1 / (rate + 3 / 600)  # 10-minute files: ~3 s of download/upload per file
    for n, limit in (
        (100, "nothing: band concurrencies 20/10/5 by default must be raised (`declick:engineWorkers*`)"),
        (
            1000,
            "account Lambda concurrency (default quota 1,000, shared with the pipeline's functions): ask for more; "
            "API stage throttle 50 req/s covers ~25 uploads/s of create + poll",
        ),
    ):
        lines.append(f"| {n:,} | {n * per_worker:,.0f} | {n * per_worker / 2:,.0f} | {limit} |")
    lines += [
        "",
        "SQS, DynamoDB on-demand and S3 scale past these rates without settings; a band's SQS event source",
        "mapping accepts a maximum concurrency up to 1,000.",
        "",
    ]
    return "\n".join(lines)


def code_mb() -> float:
    """Size of the worker's code asset (handlers, contract, engine) as the stack stages it."""
    from infra.engine_backend import stage_worker_code

    return sum(p.stat().st_size for p in stage_worker_code().rglob("*") if p.is_file()) / 1024 / 1024


def layer_size() -> str:
    """Build the worker layer with pip (needs PyPI) and measure it; 'not measured' offline."""
    from infra.bundling import PipLayerBundling

    with tempfile.TemporaryDirectory() as out:
        try:
            PipLayerBundling(Path("functions/engine-requirements.txt")).try_bundle(out, image=None)
        except RuntimeError as exc:
            print(f"layer not built: {exc}", file=sys.stderr)
            return "not measured (no PyPI)"
        size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
        return f"{size / 1024 / 1024:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=168.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/results/engine_backend.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="declick-engine-bench-") as tmp:
        workdir = Path(tmp)
        workers = worker_runs(workdir)
        runs = pipeline_runs(args.seconds, args.runs, workdir)
    text = write_markdown(args, runs, workers, layer_size())
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
