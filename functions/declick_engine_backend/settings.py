"""The engine backend's handler settings, read once from the environment and validated.

Variable names start with ``ENGINE_`` because in a local run every function of the stack shares
one process environment with the pipeline's (declick.local.emulator). The only shared name is
``DOWNLOAD_ALLOWED_HOSTS``: the loopback hosts a local run may download from (empty on AWS).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from declick_contract.safe_download import DownloadPolicy, parse_allowed_hosts

PREFIX = "ENGINE_"


class SettingsError(RuntimeError):
    """The function was deployed with a missing or invalid variable; the message names it."""


class BackendSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    tasks_table: str = Field(min_length=1)
    results_bucket: str = Field(min_length=1)
    credentials_secret_arn: str = Field(min_length=1)
    # Work queues by priority band (declick_engine_backend.bands), and each band's worker concurrency.
    queue_high_url: str = Field(min_length=1)
    queue_normal_url: str = Field(min_length=1)
    queue_low_url: str = Field(min_length=1)
    workers_high: int = Field(ge=1)
    workers_normal: int = Field(ge=1)
    workers_low: int = Field(ge=1)

    max_input_bytes: int = Field(gt=0)
    max_audio_seconds: float = Field(gt=0)
    download_timeout_seconds: float = Field(gt=0)
    download_retries: int = Field(2, ge=0)
    duration_tolerance_seconds: float = 2.0
    duration_tolerance_ratio: float = 0.05
    max_queue_seconds: float = Field(gt=0)
    max_processing_seconds: float = Field(gt=0)
    result_ttl_seconds: int = Field(gt=0)
    presign_seconds: int = Field(ge=60, le=43_200)
    record_retention_seconds: int = Field(gt=0)
    min_wait_seconds: int = Field(5, ge=0)
    max_wait_seconds: int = Field(300, ge=1)
    # Engine wall seconds per audio second before any task has been measured (bench/results/service.md).
    initial_seconds_per_audio_second: float = Field(0.03, gt=0)
    task_overhead_seconds: float = Field(3.0, ge=0)
    download_bytes_per_second: float = Field(20e6, gt=0)
    secret_max_age_seconds: int = Field(300, ge=0)
    allowed_hosts: frozenset[str] = frozenset()

    def queue_url(self, band: str) -> str:
        return {"high": self.queue_high_url, "normal": self.queue_normal_url, "low": self.queue_low_url}[band]

    def workers(self, band: str) -> int:
        return {"high": self.workers_high, "normal": self.workers_normal, "low": self.workers_low}[band]

    def download_policy(self) -> DownloadPolicy:
        return DownloadPolicy(
            max_bytes=self.max_input_bytes,
            timeout_seconds=self.download_timeout_seconds,
            allowed_hosts=self.allowed_hosts,
        )


def load_settings(environ: Mapping[str, str] | None = None) -> BackendSettings:
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {
        key[len(PREFIX) :].lower(): value for key, value in environ.items() if key.startswith(PREFIX)
    }
    values["allowed_hosts"] = parse_allowed_hosts(environ.get("DOWNLOAD_ALLOWED_HOSTS"))
    try:
        return BackendSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{PREFIX}{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise SettingsError(f"invalid engine backend environment: {problems}") from None
