"""Benchmark of the self-hosted service (`declick engine serve`) through its HTTP API.

    python -m bench.service_bench [--files 10] [--minutes 2] [--latency-minutes 3] [--latency-runs 3]
                                  [--formats mp3,wav] [--workers N] [--out bench/results/service.md]

Material: synthetic voice-like audio with keyboard clicks (bench/clicks.py), 44.1 kHz mono 16-bit
WAV, served to the service from a loopback HTTP server, exactly as the pipeline would hand it a
presigned URL. The service runs in this process (uvicorn on a free port, its own worker pool).

Two figures per output format:
- throughput: `--files` files of `--minutes` each submitted at once; audio minutes processed per
  wall minute, from the first submission to the last status 3;
- latency: a `--latency-minutes` file submitted to an idle service (`--latency-runs` times, one
  after the other); seconds from the POST to the first poll that sees status 3 (polled every
  0.1 s, not on `wait_time`, to measure the service rather than the client), with the first
  `wait_time` it announced for comparison.

This is a benchmark, not a test: it measures time, and the numbers depend on the machine and on
whatever else runs on it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shlex
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from bench.clicks import corrupt, voice_like
from declick.service import ServiceSettings, run_in_thread

SAMPLE_RATE = 44100
KEY, SECRET = "bench-key", "bench-secret"


@dataclass
class Run:
    fmt: str
    files: int
    audio_minutes: float
    wall_seconds: float
    latencies: list[float]
    worker_cpu_seconds: float  # CPU time the workers spent on the throughput batch

    @property
    def throughput(self) -> float:
        return self.audio_minutes / (self.wall_seconds / 60)


def make_file(folder: Path, name: str, minutes: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    clean = voice_like(SAMPLE_RATE, minutes * 60, rng)
    dirty, _, _ = corrupt(clean, SAMPLE_RATE, "keyboard", 10.0, rng)
    path = folder / name
    sf.write(path, dirty.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    return path


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def body(base: str, path: Path, out_fmt: str) -> dict:
    data = path.read_bytes()
    info = sf.info(str(path))
    return {
        "file_link": f"{base}/{path.name}",
        "file_ext": out_fmt,
        "file_info": {
            "file_size": len(data),
            "file_md5": hashlib.md5(data).hexdigest(),  # noqa: S324 - the API's checksum
            "file_time": round(info.frames / info.samplerate),
            "file_ext": "wav",
        },
        "detection_mult": 8.0,
        "click_len": 10,
        "priority": 5,
    }


def submit(client: httpx.Client, payload: dict) -> str:
    answer = client.post("/v3/pic/ecr/batch", json=payload).json()
    if answer["code"] != 0:
        raise RuntimeError(f"submission refused: {answer}")
    return answer["data"]["task_id"]


def wait_done(client: httpx.Client, task_ids: list[str], started: float) -> dict[str, float]:
    """Poll until every task is final; return the seconds from `started` at which each reached 3."""
    done: dict[str, float] = {}
    while len(done) < len(task_ids):
        for task_id in task_ids:
            if task_id in done:
                continue
            data = client.get(f"/v3/pic/ecr/result/{task_id}").json()["data"]
            if data["status"] == "3":
                done[task_id] = time.monotonic() - started
            elif data["status"] in ("4", "5", "6"):
                raise RuntimeError(f"task {task_id} ended with {data}")
        time.sleep(0.1)
    return done


def worker_cpu_seconds(service) -> float:
    """User + system CPU of the service's worker processes so far (Linux /proc)."""
    total = 0.0
    for slot in service.app.state.service.runner._slots:
        try:
            fields = Path(f"/proc/{slot.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, AttributeError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_ready(client: httpx.Client, workers: int) -> None:
    deadline = time.monotonic() + 60
    while client.get("/health").json()["ready_workers"] < workers:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--latency-minutes", type=float, default=3.0)
    parser.add_argument("--latency-runs", type=int, default=3, help="one after the other; the median is reported")
    parser.add_argument("--formats", default="mp3,wav")
    parser.add_argument("--workers", type=int, default=None, help="default: the service's default (CPU count)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/service.md"))
    args = parser.parse_args(argv)
    workers = args.workers or ServiceSettings().workers
    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())

    with tempfile.TemporaryDirectory(prefix="declick-service-bench-") as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        print("making audio ...", flush=True)
        batch = [make_file(folder, f"batch-{i}.wav", args.minutes, seed=i) for i in range(args.files)]
        long_file = make_file(folder, "long.wav", args.latency_minutes, seed=1000)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
        host = f"127.0.0.1:{httpd.server_address[1]}"
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        runs: list[Run] = []
        announced: dict[str, int] = {}
        try:
            for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
                settings = ServiceSettings(
                    db_path=Path(tmp) / f"svc-{fmt}" / "tasks.sqlite3",
                    credentials={KEY: SECRET},
                    allowed_hosts=frozenset({host}),
                    workers=workers,
                    min_wait_seconds=1,
                    log_level="WARNING",
                )
                with (
                    run_in_thread(settings) as service,
                    httpx.Client(base_url=service.url, auth=(KEY, SECRET), timeout=30) as client,
                ):
                    wait_ready(client, workers)
                    print(f"[{fmt}] throughput: {len(batch)} x {args.minutes:g} min ...", flush=True)
                    cpu_before = worker_cpu_seconds(service)
                    started = time.monotonic()
                    ids = [submit(client, body(f"http://{host}", path, fmt)) for path in batch]
                    finished = wait_done(client, ids, started)
                    wall = max(finished.values())
                    cpu = worker_cpu_seconds(service) - cpu_before
                    print(f"[{fmt}] latency: {args.latency_runs} x {args.latency_minutes:g} min ...", flush=True)
                    latencies = []
                    for _ in range(args.latency_runs):
                        started = time.monotonic()
                        task_id = submit(client, body(f"http://{host}", long_file, fmt))
                        wait = int(client.get(f"/v3/pic/ecr/result/{task_id}").json()["data"]["wait_time"])
                        announced.setdefault(fmt, wait)
                        latencies.append(wait_done(client, [task_id], started)[task_id])
                runs.append(Run(fmt, len(batch), len(batch) * args.minutes, wall, latencies, cpu))
                print(f"[{fmt}] {runs[-1].throughput:.2f} audio min / wall min; latencies {latencies}")
        finally:
            httpd.shutdown()
            httpd.server_close()

    command = "python -m bench.service_bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# Self-hosted service benchmark",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average before the run {load_before}"
        f" (other jobs shared the machine when it was above 0).",
        "",
        f"Service: default settings, {workers} worker processes. Input: 44.1 kHz mono 16-bit WAV, synthetic",
        "voice-like audio with keyboard clicks (bench/clicks.py), served over loopback HTTP.",
        "",
        "| output | throughput batch | throughput (audio min / wall min) | worker CPU per audio min |"
        " latency, submit to status 3 | first `wait_time` announced |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        lines.append(
            f"| {run.fmt} | {run.files} x {args.minutes:g} min at once | {run.throughput:.2f} "
            f"({run.audio_minutes:g} min in {run.wall_seconds:.1f} s) | "
            f"{run.worker_cpu_seconds / run.audio_minutes:.1f} s | {args.latency_minutes:g}-min file: "
            f"{statistics.median(run.latencies):.1f} s (median of {len(run.latencies)}, "
            f"{min(run.latencies):.1f}–{max(run.latencies):.1f}) | {announced[run.fmt]} s |"
        )
    lines += [
        "",
        "Worker CPU per audio minute does not depend on what else runs on the machine: with N idle cores",
        "and N workers, throughput is about N × 60 / (that figure) audio minutes per wall minute.",
        "Latency is measured by polling every 0.1 s; a client that sleeps `wait_time` between polls",
        "sees up to one `wait_time` more. The `wait_time` announced (first run) comes from the engine",
        "rate learnt on the throughput batch just before (the estimator's model, see docs/service.md).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
