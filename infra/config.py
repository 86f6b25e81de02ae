"""Typed stack configuration, read from CDK context keys prefixed ``declick:``.

Everything an operator may tune lives here, validated once at synth time so that a typo fails
``cdk synth`` with a message naming the context key instead of producing a stack whose Lambdas
fail on their first event. The handler-side twin is ``functions/declick_pipeline/settings.py``;
both take the API's ranges from ``declick_contract.api`` so a value accepted here is never refused there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from declick_contract import api
from declick_contract.pipeline_knobs import PipelineKnobs

PREFIX = "declick:"

# One Standard execution may record at most 25,000 history events; one poll round
# (Task scheduled/started/succeeded, state entered/exited for Task, Choice and Wait) costs about 12.
_EVENTS_PER_POLL = 12
_HISTORY_LIMIT = 25_000

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(ValueError):
    """A context value is wrong; the message names the ``declick:`` key to fix."""


def _key(name: str) -> str:
    """Context key of a field: ``api_base_url`` -> ``declick:apiBaseUrl``."""
    head, *rest = name.split("_")
    return PREFIX + head + "".join(part.capitalize() for part in rest)


class StackConfig(PipelineKnobs):
    """Every deploy-time setting of the pipeline stack; the defaults are the documented ones.

    The knobs handed to the Lambdas unchanged (API client, per-upload defaults, polling) are
    declared once in ``declick_contract.pipeline_knobs``; the rest are the stack's own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=_key, populate_by_name=True)

    # Remote API
    api_base_url: str
    api_secret_arn: str | None = None
    # cdk.json ships a placeholder URL; synthesizing it is refused unless this says it is meant
    # (a template to look at, tests, the local emulator, which points the functions elsewhere).
    allow_placeholder_api_url: bool = False

    # Limits
    max_input_bytes: int = Field(api.MAX_INPUT_BYTES, ge=1, le=524_288_000)
    max_processing_seconds: int = Field(43_200, ge=60)
    download_max_bytes: int = Field(209_715_200, ge=1, le=2_147_483_648)
    download_timeout_seconds: int = Field(120, ge=1, le=600)

    # Submit throughput: SQS batch and the most concurrent submit invocations (vendor rate guard)
    submit_batch_size: int = Field(5, ge=1, le=10)
    submit_max_concurrency: int = Field(5, ge=2, le=1000)
    submit_max_receive_count: int = Field(5, ge=1, le=100)

    # Retention and lifecycle
    input_expiration_days: int = Field(30, ge=1)
    output_expiration_days: int = Field(90, ge=1)
    noncurrent_version_expiration_days: int = Field(7, ge=1)
    access_log_expiration_days: int = Field(90, ge=1)
    log_retention_days: int = 30
    retain_data: bool = True

    # Observability
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    state_machine_log_level: Literal["ALL", "ERROR"] = "ALL"
    task_retry_interval_seconds: int = Field(5, ge=1, le=300)
    state_machine_timeout_seconds: int = Field(50_400, ge=300, le=31_536_000)

    # Subscriptions
    notification_emails: tuple[str, ...] = ()
    ops_emails: tuple[str, ...] = ()

    @field_validator("api_base_url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"{value!r} must be an https:// URL with a host")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{value!r} must not carry a query, a fragment or credentials")
        return value.strip().rstrip("/")

    @field_validator("api_secret_arn")
    @classmethod
    def _arn(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not _SECRET_ARN.match(value):
            raise ValueError(f"{value!r} is not a Secrets Manager secret ARN")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention period {LOG_RETENTION_DAYS}")
        return value

    @field_validator("notification_emails", "ops_emails", mode="before")
    @classmethod
    def _emails(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [item for item in value.split(",") if item.strip()]
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of e-mail addresses (or a comma-separated string)")
        items = tuple(str(item).strip() for item in value)
        bad = [item for item in items if not _EMAIL.match(item)]
        if bad:
            raise ValueError(f"{bad} are not e-mail addresses")
        return items

    @model_validator(mode="after")
    def _not_placeholder(self) -> StackConfig:
        if self.api_base_url.lower() == api.PLACEHOLDER_API_BASE_URL and not self.allow_placeholder_api_url:
            raise ConfigError(
                f"{_key('api_base_url')} is still the placeholder {api.PLACEHOLDER_API_BASE_URL}: every upload "
                f"would fail. Set it (-c {_key('api_base_url')}=https://<vendor>) or, for a template that is "
                f"not deployed, pass -c {_key('allow_placeholder_api_url')}=true"
            )
        return self

    @model_validator(mode="after")
    def _coherent(self) -> StackConfig:
        if not self.wait_min_seconds <= self.wait_default_seconds <= self.wait_max_seconds:
            raise ConfigError(
                f"{_key('wait_min_seconds')} <= {_key('wait_default_seconds')} <= {_key('wait_max_seconds')} "
                f"does not hold ({self.wait_min_seconds}, {self.wait_default_seconds}, {self.wait_max_seconds})"
            )
        if self.max_polls * _EVENTS_PER_POLL > _HISTORY_LIMIT:
            raise ConfigError(
                f"{_key('max_polls')}={self.max_polls} would exceed the 25,000-event history of a Standard "
                f"execution; use at most {_HISTORY_LIMIT // _EVENTS_PER_POLL}"
            )
        # The execution timeout ends an execution without running any state, hence without a
        # notification: the handlers' own give-up (max processing time, then one last wait and
        # the report) must always come first.
        needed = self.max_processing_seconds + self.wait_max_seconds + 1_800
        if self.state_machine_timeout_seconds < needed:
            raise ConfigError(
                f"{_key('state_machine_timeout_seconds')}={self.state_machine_timeout_seconds} must be at least "
                f"{_key('max_processing_seconds')} + {_key('wait_max_seconds')} + 1800 = {needed}, so that the "
                "pipeline gives up and notifies before Step Functions times the execution out"
            )
        return self

    # ------------------------------------------------------------------ derived values

    @property
    def lambda_environment(self) -> dict[str, str]:
        """Variables shared by every function (docs/architecture.md, "Environment")."""
        return {
            "API_BASE_URL": self.api_base_url,
            "API_CONNECT_TIMEOUT_SECONDS": _num(self.api_connect_timeout_seconds),
            "API_READ_TIMEOUT_SECONDS": _num(self.api_read_timeout_seconds),
            "API_MAX_RETRIES": str(self.api_max_retries),
            "DEFAULT_DETECTION_MULT": _num(self.default_detection_mult),
            "DEFAULT_CLICK_LEN": str(self.default_click_len),
            "DEFAULT_OUTPUT_FORMAT": self.default_output_format,
            "DEFAULT_PRIORITY": str(self.default_priority),
            "MAX_INPUT_BYTES": str(self.max_input_bytes),
            "PRESIGN_EXPIRY_SECONDS": str(self.presign_expiry_seconds),
            "WAIT_MIN_SECONDS": str(self.wait_min_seconds),
            "WAIT_MAX_SECONDS": str(self.wait_max_seconds),
            "WAIT_DEFAULT_SECONDS": str(self.wait_default_seconds),
            "MAX_POLLS": str(self.max_polls),
            "MAX_PROCESSING_SECONDS": str(self.max_processing_seconds),
            "DOWNLOAD_MAX_BYTES": str(self.download_max_bytes),
            "DOWNLOAD_TIMEOUT_SECONDS": str(self.download_timeout_seconds),
            "IDEMPOTENCY_TTL_SECONDS": str(self.idempotency_ttl_seconds),
            "POWERTOOLS_SERVICE_NAME": "declick",
            "POWERTOOLS_METRICS_NAMESPACE": "Declick",
            "POWERTOOLS_LOG_LEVEL": self.log_level,
        }

    @property
    def api_call_budget_seconds(self) -> int:
        """Worst case of one remote call with all client retries (connect + read per attempt)."""
        per_attempt = self.api_connect_timeout_seconds + self.api_read_timeout_seconds
        return math.ceil(per_attempt * (self.api_max_retries + 1))


def _num(value: float) -> str:
    return repr(float(value))


def load_config(context: Mapping[str, Any]) -> StackConfig:
    """Build the config from CDK context; unknown ``declick:`` keys are errors (typos must not pass)."""
    values = {key: value for key, value in context.items() if key.startswith(PREFIX)}
    try:
        return StackConfig.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown setting (see docs/operations.md for the list)"
            elif error["type"] == "missing":
                message = "is required"
            # Cross-field checks have no single location; their message names the keys itself.
            problems.append(f"context key {loc}: {message}" if loc else message)
        raise ConfigError("invalid Declick stack configuration:\n  " + "\n  ".join(problems)) from None


def context_of(node: Any) -> dict[str, Any]:
    """All ``declick:`` context values visible at a construct node (unknown keys included, to be refused)."""
    return {key: value for key, value in node.get_all_context().items() if key.startswith(PREFIX)}
