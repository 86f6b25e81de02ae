"""Configuration of the self-hosted service.

Everything an operator can tune lives in `ServiceSettings`; `from_env` reads the documented
`DECLICK_SERVICE_*` variables so the same service runs from the CLI, a container or a test.
Credentials are never given on the command line (they would show in `ps`): they come from the
environment or from a file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

# The vendor's documented input limit.
MAX_INPUT_BYTES = 50 * 1024 * 1024

ENV_PREFIX = "DECLICK_SERVICE_"


class ConfigError(ValueError):
    """The service cannot start with this configuration."""


@dataclass(frozen=True)
class ServiceSettings:
    """Knobs of the service. Durations in seconds."""

    db_path: Path = Path("declick-service/tasks.sqlite3")
    # Result files, downloads in progress: defaults to a `data` folder next to the DB.
    data_dir: Path | None = None
    # appkey -> appsecret. Empty means nobody can use the API (the service refuses to start from the CLI).
    credentials: Mapping[str, str] = field(default_factory=dict)
    workers: int = max(1, os.cpu_count() or 1)
    # Base URL clients reach us at; `voice_result` links are built on it. None: the request's own base URL.
    public_url: str | None = None
    # Hosts (`host` or `host:port`) that `file_link` may point at even though they are not public https.
    allowed_hosts: frozenset[str] = frozenset()
    max_input_bytes: int = MAX_INPUT_BYTES
    download_timeout_seconds: float = 300.0
    # Retries of a download that failed in a way that may pass (connection, 5xx, 429, timeout).
    download_retries: int = 2
    download_retry_delay_seconds: float = 1.0  # times the attempt number
    max_audio_seconds: float = 4 * 3600.0
    # How far the real duration may stray from `file_time` (which is whole seconds): max(abs, rel × real).
    duration_tolerance_seconds: float = 2.0
    duration_tolerance_ratio: float = 0.05
    # Limits that turn a task into status 6.
    max_queue_seconds: float = 6 * 3600.0
    max_processing_seconds: float = 3600.0
    # A finished result stays downloadable this long, then the task becomes status 5.
    result_ttl_seconds: float = 24 * 3600.0
    # Tasks waiting at once; more is refused with HTTP 429 so clients back off.
    max_queued_tasks: int = 10_000
    # How many times a task interrupted by a restart or a crashed worker is tried again.
    max_attempts: int = 3
    # The wait_time estimate: clamp, and the model it starts from before it has measured anything.
    min_wait_seconds: int = 5
    max_wait_seconds: int = 300
    initial_realtime_factor: float = 0.1  # engine wall seconds per audio second, before learning
    task_overhead_seconds: float = 1.0  # per task: download, decode, encode
    download_bytes_per_second: float = 20e6
    # Operator token for `POST /admin/tasks/{id}/close`; None disables the operator endpoint.
    admin_token: str | None = None
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError("workers must be at least 1")
        if self.download_retries < 0 or self.download_retry_delay_seconds < 0:
            raise ConfigError("download_retries and download_retry_delay_seconds must not be negative")
        if self.min_wait_seconds < 0 or self.max_wait_seconds < max(1, self.min_wait_seconds):
            raise ConfigError("need 0 <= min_wait_seconds <= max_wait_seconds and max_wait_seconds >= 1")
        if not 0 < self.max_input_bytes <= MAX_INPUT_BYTES:
            raise ConfigError(f"max_input_bytes must be in 1..{MAX_INPUT_BYTES}")
        for name in (
            "download_timeout_seconds",
            "max_audio_seconds",
            "max_queue_seconds",
            "max_processing_seconds",
            "result_ttl_seconds",
            "initial_realtime_factor",
            "download_bytes_per_second",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        for key, secret in self.credentials.items():
            if not key or not secret or ":" in key:
                raise ConfigError("each credential needs a non-empty appkey without ':' and a non-empty appsecret")

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else Path(self.db_path).parent / "data"

    def with_(self, **changes) -> ServiceSettings:
        return replace(self, **changes)


def parse_credentials(text: str) -> dict[str, str]:
    """`key:secret` pairs separated by commas or newlines, or a JSON object / list of objects.

    The JSON forms are `{"appkey": "...", "appsecret": "..."}` (the shape of the pipeline's
    Secrets Manager secret, so the same secret can configure both ends), a list of those, or
    `{"key1": "secret1", ...}`.
    """
    text = text.strip()
    if not text:
        return {}
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"credentials are not valid JSON: {exc.msg}") from None
        items = data if isinstance(data, list) else [data]
        pairs: dict[str, str] = {}
        for item in items:
            if not isinstance(item, dict):
                raise ConfigError("credential JSON must be objects")
            if "appkey" in item or "appsecret" in item:
                pairs[str(item.get("appkey", ""))] = str(item.get("appsecret", ""))
            else:
                pairs.update({str(k): str(v) for k, v in item.items()})
        return pairs
    pairs = {}
    for raw in text.replace(",", "\n").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, secret = line.partition(":")
        if not sep:
            raise ConfigError("each credential line must be appkey:appsecret")
        pairs[key.strip()] = secret.strip()
    return pairs


def credentials_from_env(env: Mapping[str, str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    path = env.get(ENV_PREFIX + "CREDENTIALS_FILE")
    if path:
        try:
            pairs.update(parse_credentials(Path(path).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"cannot read credentials file {path}: {exc.strerror}") from None
    if env.get(ENV_PREFIX + "CREDENTIALS"):
        pairs.update(parse_credentials(env[ENV_PREFIX + "CREDENTIALS"]))
    key, secret = env.get(ENV_PREFIX + "APPKEY"), env.get(ENV_PREFIX + "APPSECRET")
    if key or secret:
        pairs[key or ""] = secret or ""
    return pairs


_NUMERIC_ENV = {
    "WORKERS": ("workers", int),
    "MAX_INPUT_BYTES": ("max_input_bytes", int),
    "DOWNLOAD_TIMEOUT_SECONDS": ("download_timeout_seconds", float),
    "DOWNLOAD_RETRIES": ("download_retries", int),
    "MAX_AUDIO_SECONDS": ("max_audio_seconds", float),
    "MAX_QUEUE_SECONDS": ("max_queue_seconds", float),
    "MAX_PROCESSING_SECONDS": ("max_processing_seconds", float),
    "RESULT_TTL_SECONDS": ("result_ttl_seconds", float),
    "MAX_QUEUED_TASKS": ("max_queued_tasks", int),
    "MIN_WAIT_SECONDS": ("min_wait_seconds", int),
    "MAX_WAIT_SECONDS": ("max_wait_seconds", int),
}


def from_env(env: Mapping[str, str] | None = None, **overrides) -> ServiceSettings:
    """Settings from `DECLICK_SERVICE_*` variables; keyword overrides (e.g. CLI flags) win."""
    env = os.environ if env is None else env
    values: dict = {}
    if env.get(ENV_PREFIX + "DB"):
        values["db_path"] = Path(env[ENV_PREFIX + "DB"])
    if env.get(ENV_PREFIX + "DATA_DIR"):
        values["data_dir"] = Path(env[ENV_PREFIX + "DATA_DIR"])
    if env.get(ENV_PREFIX + "PUBLIC_URL"):
        values["public_url"] = env[ENV_PREFIX + "PUBLIC_URL"]
    if env.get(ENV_PREFIX + "ALLOWED_HOSTS"):
        from declick_contract.safe_download import parse_allowed_hosts

        values["allowed_hosts"] = parse_allowed_hosts(env[ENV_PREFIX + "ALLOWED_HOSTS"])
    if env.get(ENV_PREFIX + "ADMIN_TOKEN"):
        values["admin_token"] = env[ENV_PREFIX + "ADMIN_TOKEN"]
    if env.get(ENV_PREFIX + "LOG_LEVEL"):
        values["log_level"] = env[ENV_PREFIX + "LOG_LEVEL"].upper()
    for suffix, (name, kind) in _NUMERIC_ENV.items():
        raw = env.get(ENV_PREFIX + suffix)
        if raw:
            try:
                values[name] = kind(raw)
            except ValueError:
                raise ConfigError(f"{ENV_PREFIX + suffix} must be a number, got {raw!r}") from None
    values["credentials"] = credentials_from_env(env)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ServiceSettings(**values)
