"""`declick engine serve`: run the self-hosted API in the foreground.

Credentials come from the environment or a file (see docs/service.md), never from flags, so
they do not show up in the process list or shell history.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    parser.add_argument(
        "--db", type=Path, default=None, help="SQLite task store (default declick-service/tasks.sqlite3)"
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="result files (default: 'data' next to the DB)")
    parser.add_argument("--public-url", default=None, help="base URL clients reach us at, used in voice_result links")
    parser.add_argument(
        "--credentials-file", type=Path, default=None, help="file of appkey:appsecret lines or JSON (see docs)"
    )
    parser.add_argument("--min-wait-seconds", type=int, default=None, help="lower clamp of wait_time (default 5)")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING, ERROR")


def run(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from declick.service import logs
    from declick.service.app import create_app
    from declick.service.limits import uvicorn_options
    from declick.service.settings import ENV_PREFIX, ConfigError, from_env

    env = dict(os.environ)
    if args.credentials_file is not None:
        env[ENV_PREFIX + "CREDENTIALS_FILE"] = str(args.credentials_file)
    public_url = args.public_url
    if public_url is None and not env.get(ENV_PREFIX + "PUBLIC_URL") and args.host not in ("0.0.0.0", "::"):  # noqa: S104
        host = f"[{args.host}]" if ":" in args.host else args.host
        public_url = f"http://{host}:{args.port}"
    try:
        settings = from_env(
            env,
            workers=args.workers,
            db_path=args.db,
            data_dir=args.data_dir,
            public_url=public_url,
            min_wait_seconds=args.min_wait_seconds,
            log_level=args.log_level.upper() if args.log_level else None,
        )
    except ConfigError as exc:
        print(f"declick engine serve: {exc}", file=sys.stderr)
        return 2
    if not settings.credentials:
        print(
            f"declick engine serve: no credentials; set {ENV_PREFIX}APPKEY and {ENV_PREFIX}APPSECRET,"
            f" {ENV_PREFIX}CREDENTIALS or {ENV_PREFIX}CREDENTIALS_FILE (or --credentials-file)",
            file=sys.stderr,
        )
        return 2
    logs.configure(settings.log_level)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        log_level=settings.log_level.lower(),
        **uvicorn_options(settings.max_header_bytes),
    )
    return 0
