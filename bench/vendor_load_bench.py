"""Load test of the whole emulated pipeline against a rate-limited vendor.

    python -m bench.vendor_load_bench [--uploads 500] [--rate-limit 20] [--out bench/results/vendor_load.md]

A scripted fake vendor (declick/local/fake_vendor.py) answers at most `--rate-limit` API calls in
any one-second window and HTTP 429 (`Retry-After: 1`) beyond. Every task is in progress on its
first poll and done on the second. All uploads are put at once; the run then waits for every
notification. Reported: outcomes, lost uploads (no notification), dead letters, the vendor's
busiest second (calls received, served and refused), refused calls, remote tasks created, wall
time. A test of 60 uploads at 4 calls/s is tests/e2e/test_rate_limited_vendor.py.

The emulator runs everything in one process on this machine, so wall time says little about AWS;
the counts are the point: nothing lost, nothing failed by our own retries, the cap respected.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

from declick.local.fake_vendor import FakeVendor, Reply
from declick.local.runner import LocalPipeline
from tests.e2e import audio


def run(uploads: int, rate_limit: int, timeout: float) -> dict:
    with FakeVendor(rate_limit=rate_limit) as vendor:
        result_url = vendor.serve_file("load.mp3", audio.mp3(seed=6), "audio/mpeg")
        vendor.script_any_task(Reply.result(2, wait_time="1"), Reply.result(3, voice_result=result_url))
        with LocalPipeline(api_url=vendor.url, appkey=vendor.appkey, appsecret=vendor.appsecret) as pipeline:
            body = audio.wav(seconds=0.4, seed=6)
            started = time.monotonic()
            sent = [pipeline.upload(f"load/{i:04d}.wav", body) for i in range(uploads)]
            finished = pipeline.wait_for(sent, timeout=timeout, progress=_progress)
            wall = time.monotonic() - started
            pipeline.emulator.wait_idle(timeout=120)
            notes = [pipeline.notifications_for(u) for u in sent]
            api = [r for r in vendor.requests if not r.path.startswith("/files/")]
            return {
                "uploads": uploads,
                "rate_limit": rate_limit,
                "finished": finished,
                "wall_seconds": wall,
                "outcomes": Counter(n[0]["status"] for n in notes if n),
                "failure_codes": Counter(n[0]["error"]["code"] for n in notes if n and "error" in n[0]),
                "lost": sum(1 for n in notes if not n),
                "duplicates": sum(1 for n in notes if len(n) > 1),
                "dead_letters": pipeline.dead_letters(),
                "api_calls": len(api),
                "refused_429": vendor.rate_limited,
                "busiest_second_received": vendor.max_calls_in_window(),
                "busiest_second_served": vendor.max_calls_in_window(served_only=True),
                "tasks_created": len({n[0]["task"]["id"] for n in notes if n and "task" in n[0]}),
            }


def _progress(done: int, total: int, elapsed: float) -> None:
    print(f"  {done}/{total} notified after {elapsed:.0f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=500)
    parser.add_argument("--rate-limit", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--out", type=Path, default=Path("bench/results/vendor_load.md"))
    args = parser.parse_args(argv)
    result = run(args.uploads, args.rate_limit, args.timeout)
    command = "python -m bench.vendor_load_bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    rows = [
        ("uploads", result["uploads"]),
        ("vendor cap (API calls per second, 429 beyond)", result["rate_limit"]),
        ("all notified before the timeout", result["finished"]),
        ("outcomes", dict(result["outcomes"])),
        ("FAILED causes", dict(result["failure_codes"]) or "none"),
        ("uploads without a notification (lost)", result["lost"]),
        ("uploads with more than one notification", result["duplicates"]),
        ("messages left in the dead-letter queue", result["dead_letters"]),
        ("API calls received by the vendor", result["api_calls"]),
        ("of which refused with 429", result["refused_429"]),
        ("busiest second: calls received", result["busiest_second_received"]),
        ("busiest second: calls served", result["busiest_second_served"]),
        ("remote tasks created", result["tasks_created"]),
        ("wall time, first upload to last notification (s)", f"{result['wall_seconds']:.0f}"),
    ]
    lines = [
        "# Load test: uploads against a rate-limited vendor (emulated AWS)",
        "",
        f"Command: `{command.strip()}`  ",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "| measure | value |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    ok = result["finished"] and not result["lost"] and result["outcomes"] == {"SUCCEEDED": result["uploads"]}
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
