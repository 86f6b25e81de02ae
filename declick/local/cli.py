"""`declick local run FILE...`: the whole pipeline on an emulated AWS, from upload to notification.

stdout carries only the notifications, one JSON document per line, so it can be piped; progress,
paths and errors go to stderr; the handlers' own logs go to a log file in the output folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

DEFAULT_TIMEOUT_SECONDS = 900.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="audio files to upload (WAV or MP3)")
    parser.add_argument("--out", type=Path, default=Path("out"), help="folder for the outputs (default: out)")
    parser.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="user metadata for every upload, e.g. output-format=wav, detection-mult=7, click-len=12, priority=3",
    )
    parser.add_argument("--prefix", default="", help="key prefix (folder) in the input bucket")
    parser.add_argument(
        "--backend",
        choices=("vendor", "engine"),
        default="vendor",
        help="vendor: the pipeline calls --api-url or our own service (default); engine: the stack also deploys "
        "the engine backend (declick:backend=engine) and the pipeline calls it",
    )
    parser.add_argument("--api-url", help="remote API base URL (default: our own service on a free local port)")
    parser.add_argument("--appkey", help="API appkey (with --api-url; default: generated for the local service)")
    parser.add_argument(
        "--appsecret",
        help="API appsecret (prefer the DECLICK_APPSECRET environment variable: arguments show in `ps`)",
    )
    parser.add_argument("--report", type=Path, help="write a before/after picture of the first file here")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="give up waiting after this many seconds"
    )
    parser.add_argument("--log", type=Path, help="handler log file (default: OUT/pipeline.log)")


def _parse_meta(items: list[str]) -> dict[str, str]:
    meta = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--meta expects KEY=VALUE, got {item!r}")
        meta[key.strip()] = value
    return meta


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class WaitDisplay:
    """Progress while uploads are processed: a bar when stderr is a terminal; elsewhere (a log,
    CI, a demo piped to a file) a plain line every `LINE_EVERY_SECONDS`, so that captured
    output never holds half-drawn bars."""

    LINE_EVERY_SECONDS = 30.0

    def __init__(self, total: int, stream: TextIO):
        self._total = total
        self._stream = stream
        self._last_line = 0.0
        self._bar: Any = None
        if stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="upload", desc="notified", file=stream, leave=False)

    def update(self, done: int, elapsed: float, detail: Callable[[], str]) -> None:
        if self._bar is not None:
            self._bar.n = done
            self._bar.set_postfix_str(detail())  # refreshes the bar
        elif elapsed - self._last_line >= self.LINE_EVERY_SECONDS:
            self._last_line = elapsed
            line = f"waiting: {done}/{self._total} upload(s) notified, {detail()}, {elapsed:.0f} s"
            print(line, file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run(args: argparse.Namespace) -> int:
    import contextlib
    import json
    import logging

    from declick.local.runner import LocalPipeline

    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        _say(f"error: not a file: {', '.join(missing)}")
        return 2
    meta = _parse_meta(args.meta)
    appsecret = args.appsecret or os.environ.get("DECLICK_APPSECRET")
    if args.backend == "engine" and args.api_url:
        _say("error: --backend engine deploys its own API; it takes no --api-url")
        return 2
    if args.api_url and not (args.appkey and appsecret):
        _say("error: --api-url needs --appkey and an appsecret (--appsecret or DECLICK_APPSECRET)")
        return 2
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path: Path = args.log or out_dir / "pipeline.log"
    stdout = sys.stdout

    with open(log_path, "w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        handler = logging.StreamHandler(log)
        logging.getLogger().addHandler(handler)
        logging.captureWarnings(True)  # library warnings raised inside handlers belong in the log
        try:
            _say("starting the emulated AWS (moto) and deploying the synthesized stack...")
            pipeline = LocalPipeline(
                api_url=args.api_url, appkey=args.appkey, appsecret=appsecret, backend=args.backend
            )
            with pipeline:
                if pipeline.backend == "engine":
                    where = "the engine backend (API Gateway adapter + worker Lambda)"
                elif pipeline.service is not None:
                    where = "our own service"
                else:
                    where = "the given API"
                _say(f"stack deployed; remote API: {where} at {pipeline.api_base_url}; logs: {log_path}")
                uploads = []
                for path in args.files:
                    key = f"{args.prefix.strip('/')}/{path.name}" if args.prefix.strip("/") else path.name
                    uploads.append(pipeline.upload(key, path, meta))
                    _say(f"uploaded s3://{pipeline.input_bucket}/{key} ({path.stat().st_size} bytes)")
                printed: set[int] = set()

                def flush_notifications() -> None:
                    for index, note in enumerate(pipeline.all_notifications()):
                        if index not in printed:
                            printed.add(index)
                            stdout.write(json.dumps(note.message, ensure_ascii=False) + "\n")
                            stdout.flush()

                display = WaitDisplay(len(uploads), sys.stderr)
                poll_fn = pipeline.emulator.function_by_handler("poll_task").name

                def detail() -> str:
                    polls = pipeline.emulator.runtime.counts().get(poll_fn, 0)
                    return f"{pipeline.emulator.running_executions()} task(s) in progress, {polls} poll(s)"

                def progress(done: int, total: int, elapsed: float) -> None:
                    flush_notifications()
                    display.update(done, elapsed, detail)

                try:
                    finished = pipeline.wait_for(uploads, timeout=args.timeout, progress=progress, progress_every=0.5)
                finally:
                    display.close()
                flush_notifications()
                if not finished:
                    _say(f"error: not every upload was notified within {args.timeout:.0f} s")
                return _collect(pipeline, uploads, args, out_dir, finished)
        finally:
            logging.captureWarnings(False)
            logging.getLogger().removeHandler(handler)


def _collect(pipeline, uploads, args, out_dir: Path, finished: bool) -> int:
    failures = 0
    first_output: Path | None = None
    first_parameters: dict = {}
    for path, upload in zip(args.files, uploads, strict=True):
        notes = pipeline.notifications_for(upload)
        status = notes[0]["status"] if notes else "NO NOTIFICATION"
        if status != "SUCCEEDED":
            failures += 1
            error = (notes[0].get("error") or {}) if notes else {}
            _say(f"{upload.key}: {status} {error.get('code', '')} {error.get('message', '')}".rstrip())
            continue
        target = pipeline.download_output(notes[0], out_dir)
        if path == args.files[0]:
            first_output, first_parameters = target, (notes[0].get("task") or {}).get("parameters") or {}
        _say(f"{upload.key}: SUCCEEDED -> {target}")
    if args.report and first_output is not None:
        from declick.local.report import write_report

        clicks = write_report(args.files[0], first_output, args.report, first_parameters)
        _say(f"before/after picture ({clicks} clicks marked): {args.report}")
    return 0 if finished and failures == 0 else 1
