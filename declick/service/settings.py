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
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from declick_contract.api import MAX_INPUT_BYTES
from declick_contract.safe_download import DownloadPolicy, parse_allowed_hosts

ENV_PREFIX = "DECLICK_SERVICE_"


class ConfigError(ValueError):
    """The service cannot start with this configuration."""


def _explain(exc: ValidationError, name_of=lambda loc: ".".join(str(p) for p in loc)) -> str:
    return "; ".join(f"{name_of(e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())


class ServiceSettings(BaseModel):
    """Knobs of the service. Durations in seconds. Invalid values raise `ConfigError`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    db_path: Path = Path("declick-service/tasks.sqlite3")
    # Result files, downloads in progress: defaults to a `data` folder next to the DB.
    data_dir: Path | None = None
    # appkey -> appsecret. Empty means nobody can use the API (the service refuses to start from the CLI).
    credentials: dict[str, str] = Field(default_factory=dict)
    workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1)
    # Base URL clients reach us at; `voice_result` links are built on it. None: the request's own base URL.
    public_url: str | None = None
    # Hosts (`host` or `host:port`) that `file_link` may point at even though they are not public https.
    allowed_hosts: frozenset[str] = frozenset()
    max_input_bytes: int = Field(MAX_INPUT_BYTES, gt=0, le=MAX_INPUT_BYTES)
    download_timeout_seconds: float = Field(300.0, gt=0)
    # Retries of a download that failed in a way that may pass (connection, 5xx, 429, timeout).
    download_retries: int = Field(2, ge=0)
    download_retry_delay_seconds: float = Field(1.0, ge=0)  # times the attempt number
    max_audio_seconds: float = Field(4 * 3600.0, gt=0)
    # How far the real duration may stray from `file_time` (which is whole seconds): max(abs, rel × real).
    duration_tolerance_seconds: float = 2.0
    duration_tolerance_ratio: float = 0.05
    # Limits that turn a task into status 6.
    max_queue_seconds: float = Field(6 * 3600.0, gt=0)
    max_processing_seconds: float = Field(3600.0, gt=0)
    # A finished result stays downloadable this long, then the task becomes status 5.
    result_ttl_seconds: float = Field(24 * 3600.0, gt=0)
    # Tasks waiting at once; more is refused with HTTP 429 so clients back off.
    max_queued_tasks: int = 10_000
    # How many times a task interrupted by a restart or a crashed worker is tried again.
    max_attempts: int = 3
    # The wait_time estimate: clamp, and the model it starts from before it has measured anything.
    min_wait_seconds: int = Field(5, ge=0)
    max_wait_seconds: int = Field(300, ge=1)
    initial_realtime_factor: float = Field(0.1, gt=0)  # engine wall seconds per audio second, before learning
    task_overhead_seconds: float = 1.0  # per task: download, decode, encode
    download_bytes_per_second: float = Field(20e6, gt=0)
    # What one HTTP request may make the server hold: its body (the create body is a few hundred
    # bytes; larger is refused with HTTP 413 while it streams) and its request line plus headers
    # (larger is refused with HTTP 431, or 400 by the HTTP parser while a head trickles in).
    max_request_body_bytes: int = Field(64 * 1024, gt=0)
    max_header_bytes: int = Field(16 * 1024, gt=0)
    # Operator token for `POST /admin/tasks/{id}/close`; None disables the operator endpoint.
    admin_token: str | None = None
    log_level: str = "INFO"

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None

    @field_validator("credentials")
    @classmethod
    def _credentials(cls, value: dict[str, str]) -> dict[str, str]:
        for key, secret in value.items():
            if not key or not secret or ":" in key:
                raise ValueError("each credential needs a non-empty appkey without ':' and a non-empty appsecret")
        return value

    @model_validator(mode="after")
    def _wait_bounds(self) -> ServiceSettings:
        if self.max_wait_seconds < self.min_wait_seconds:
            raise ValueError("need min_wait_seconds <= max_wait_seconds")
        return self

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else Path(self.db_path).parent / "data"

    def download_policy(self) -> DownloadPolicy:
        """What `file_link` downloads may do; the API checks links against it before queueing them."""
        return DownloadPolicy(
            max_bytes=self.max_input_bytes,
            timeout_seconds=self.download_timeout_seconds,
            allowed_hosts=self.allowed_hosts,
        )

    def with_(self, **changes: Any) -> ServiceSettings:
        return ServiceSettings(**{**self.model_dump(), **changes})


class ServiceEnvironment(BaseSettings):
    """The documented `DECLICK_SERVICE_*` variables, as given (empty means unset)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True, extra="ignore", frozen=True)

    db: Path | None = None
    data_dir: Path | None = None
    public_url: str | None = None
    allowed_hosts: str | None = None
    admin_token: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = None
    workers: int | None = None
    max_input_bytes: int | None = None
    download_timeout_seconds: float | None = None
    download_retries: int | None = None
    max_audio_seconds: float | None = None
    max_queue_seconds: float | None = None
    max_processing_seconds: float | None = None
    result_ttl_seconds: float | None = None
    max_queued_tasks: int | None = None
    max_request_body_bytes: int | None = None
    max_header_bytes: int | None = None
    min_wait_seconds: int | None = None
    max_wait_seconds: int | None = None
    credentials_file: Path | None = None
    credentials: str | None = None
    appkey: str | None = None
    appsecret: str | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @classmethod
    def read(cls, env: Mapping[str, str] | None = None) -> ServiceEnvironment:
        """From the process environment, or from `env` alone (tests, a CLI that adds variables)."""
        try:
            if env is None:
                return cls()
            given = {k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX) and v}
            return cls.model_validate(given)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, lambda loc: ENV_PREFIX + "_".join(str(p) for p in loc).upper())) from None

    def credential_pairs(self) -> dict[str, str]:
        pairs: dict[str, str] = {}
        if self.credentials_file:
            try:
                pairs.update(parse_credentials(self.credentials_file.read_text(encoding="utf-8")))
            except OSError as exc:
                raise ConfigError(f"cannot read credentials file {self.credentials_file}: {exc.strerror}") from None
        if self.credentials:
            pairs.update(parse_credentials(self.credentials))
        if self.appkey or self.appsecret:
            pairs[self.appkey or ""] = self.appsecret or ""
        return pairs


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


def from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> ServiceSettings:
    """Settings from `DECLICK_SERVICE_*` variables; keyword overrides (e.g. CLI flags) win."""
    given = ServiceEnvironment.read(env)
    values: dict[str, Any] = given.model_dump(
        exclude_none=True, exclude={"db", "allowed_hosts", "credentials_file", "credentials", "appkey", "appsecret"}
    )
    if given.db is not None:
        values["db_path"] = given.db
    if given.allowed_hosts:
        values["allowed_hosts"] = parse_allowed_hosts(given.allowed_hosts)
    values["credentials"] = given.credential_pairs()
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ServiceSettings(**values)
