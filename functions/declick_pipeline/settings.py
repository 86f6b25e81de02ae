"""Every knob of the pipeline Lambdas, read from the environment in one place.

The variables are the contract with the CDK stack (docs/architecture.md). They are parsed and
range-checked together by one pydantic model, so a mis-deployed function fails on its first event
with a message naming the bad variable instead of failing later in the middle of an upload.
Variables that only some handlers need are optional here; each handler states what it needs with
`require`. The API's ranges and defaults come from the shared contract (declick_contract.api).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from declick_contract.api import (
    MAX_INPUT_BYTES,
)
from declick_contract.pipeline_knobs import PipelineKnobs
from declick_contract.safe_download import parse_allowed_hosts


class SettingsError(ValueError):
    """The environment is wrong; the message names the variable so the deploy can be fixed."""


class Settings(PipelineKnobs):
    """One field per environment variable (the field name upper-cased); blank counts as unset.

    The knobs the stack sets come from ``declick_contract.pipeline_knobs`` (same names, same ranges).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    api_base_url: str | None = None
    api_secret_arn: str | None = None
    signing_secret_arn: str | None = None
    output_bucket: str | None = None
    topic_arn: str | None = None
    state_machine_arn: str | None = None
    idempotency_table: str | None = None
    ledger_table: str | None = None
    secret_max_age_seconds: int = Field(300, ge=0, le=86_400)
    max_input_bytes: int = Field(MAX_INPUT_BYTES, ge=1)
    max_processing_seconds: int = Field(43_200, ge=1)
    download_max_bytes: int = Field(209_715_200, ge=1)
    download_timeout_seconds: float = Field(120.0, ge=1, le=900, allow_inf_nan=False)
    download_allowed_hosts: frozenset[str] = frozenset()
    # Longest vendor text (msg, reason) kept in state, logs and notifications (vendor_text).
    vendor_text_max_chars: int = Field(1000, ge=200, le=20_000)
    # A failed submit record is retried after base, 2x base, ... up to max seconds (submit_retry).
    submit_retry_base_seconds: float = Field(10.0, ge=1, le=3600, allow_inf_nan=False)
    submit_retry_max_seconds: float = Field(300.0, ge=1, le=43_200, allow_inf_nan=False)

    @field_validator("default_output_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("download_allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        return parse_allowed_hosts(value) if isinstance(value, str) else value

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value and not value.lower().startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not a URL")
        return value

    @model_validator(mode="after")
    def _wait_order(self) -> Settings:
        if self.wait_min_seconds > self.wait_max_seconds:
            raise ValueError(
                f"WAIT_MIN_SECONDS ({self.wait_min_seconds}) is above WAIT_MAX_SECONDS ({self.wait_max_seconds})"
            )
        return self

    def require(self, *names: str) -> Settings:
        """Fail unless every listed variable (environment spelling) was given."""
        missing = [name for name in names if not getattr(self, name.lower())]
        if missing:
            raise SettingsError(f"environment variable(s) {', '.join(missing)} must be set for this function")
        return self


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate the environment; raise `SettingsError` naming the first bad variable."""
    environ = os.environ if environ is None else environ
    given = {}
    for name in Settings.model_fields:
        raw = environ.get(name.upper())
        if raw is not None and raw.strip():
            given[name] = raw.strip()
    try:
        return Settings.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:
            raise SettingsError(f"environment variable {message}") from None
        field = str(first["loc"][0])
        problem = f"{given.get(field)!r}: {message}"
        raise SettingsError(f"environment variable {field.upper()} is invalid: {problem}") from None
