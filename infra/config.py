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

# S3 keeps a message this long in the submit queue (infra/storage.py); the input object must outlive it.
SUBMIT_QUEUE_RETENTION_DAYS = 4
# The report_dead_letter event source mapping polls with at most this many concurrent invocations
# (2 is the smallest maximum concurrency SQS mappings accept); its reserved concurrency matches it.
DEAD_LETTER_CONCURRENCY = 2

_STAGE = re.compile(r"^[a-z][a-z0-9]{0,9}$")
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

    # Deployment stage: stack name ``Declick-<stage>``, resource names, ``Stage`` tag.
    stage: str = "dev"

    # Which click-noise API the pipeline uses: the vendor's (api_base_url + the vendor's credentials),
    # or our engine deployed by this app as a serverless backend (infra/engine_backend.py).
    backend: Literal["vendor", "engine"] = "vendor"

    # Remote API (vendor backend; with the engine backend the URL and credentials are the stack's own)
    api_base_url: str | None = None
    api_secret_arn: str | None = None
    # cdk.json ships a placeholder URL; synthesizing it is refused unless this says it is meant
    # (a template to look at, tests, the local emulator, which points the functions elsewhere).
    allow_placeholder_api_url: bool = False

    # Limits
    max_input_bytes: int = Field(api.MAX_INPUT_BYTES, ge=1, le=524_288_000)
    # Bump to replace the file_link signing key (docs/operations.md, "Signing key").
    signing_key_serial: int = Field(1, ge=1)
    max_processing_seconds: int = Field(43_200, ge=60)
    download_max_bytes: int = Field(209_715_200, ge=1, le=2_147_483_648)
    download_timeout_seconds: int = Field(120, ge=1, le=600)

    # Submit throughput: SQS batch and the most concurrent submit invocations (vendor rate guard)
    submit_batch_size: int = Field(5, ge=1, le=10)
    submit_max_concurrency: int = Field(10, ge=2, le=1000)
    # Most requests in flight to the vendor at once: submit_task's ESM maximum concurrency
    # (submitMaxConcurrency) plus poll_task's reserved concurrency (the rest). The defaults carry
    # 10,000 uploads/hour (docs/operations.md, "Scale model").
    vendor_max_concurrency: int = Field(40, ge=4, le=1000)
    # Reserved concurrency of the functions that end an upload: they must run even when the
    # account's concurrency is used up elsewhere, and they must not use it all up themselves.
    deliver_reserved_concurrency: int = Field(50, ge=1, le=1000)
    report_reserved_concurrency: int = Field(10, ge=1, le=1000)
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

    # Engine backend (backend=engine only): API stage throttling, worker concurrency per priority band
    # (0-2, 3-6, 7-9), task deadlines and result lifetime. docs/operations.md, "Engine backend".
    engine_api_rate_limit: float = Field(50, gt=0, le=10_000)
    engine_api_burst_limit: int = Field(100, ge=1, le=5_000)
    engine_workers_high: int = Field(20, ge=2, le=1000)
    engine_workers_normal: int = Field(10, ge=2, le=1000)
    engine_workers_low: int = Field(5, ge=2, le=1000)
    engine_max_queue_seconds: int = Field(21_600, ge=60, le=1_209_600)
    engine_result_ttl_seconds: int = Field(86_400, ge=300, le=30 * 86_400)

    # Subscriptions
    notification_emails: tuple[str, ...] = ()
    ops_emails: tuple[str, ...] = ()

    @field_validator("stage")
    @classmethod
    def _stage(cls, value: str) -> str:
        if not _STAGE.match(value):
            raise ValueError(f"{value!r} must be a short lower-case name such as dev or prod ([a-z][a-z0-9]{{0,9}})")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
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
        placeholder = (self.api_base_url or "").lower() == api.PLACEHOLDER_API_BASE_URL
        if self.backend == "vendor" and placeholder and not self.allow_placeholder_api_url:
            raise ConfigError(
                f"{_key('api_base_url')} is still the placeholder {api.PLACEHOLDER_API_BASE_URL}: every upload "
                f"would fail. Set it (-c {_key('api_base_url')}=https://<vendor>) or, for a template that is "
                f"not deployed, pass -c {_key('allow_placeholder_api_url')}=true"
            )
        return self

    @model_validator(mode="after")
    def _coherent(self) -> StackConfig:
        if self.backend == "vendor" and not self.api_base_url:
            raise ConfigError(
                f"context key {_key('api_base_url')}: is required with {_key('backend')}=vendor (the default)"
            )
        if self.backend == "engine" and self.api_secret_arn:
            raise ConfigError(
                f"{_key('api_secret_arn')} is for the vendor's credentials; with {_key('backend')}=engine the "
                "stack generates and shares its own"
            )
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
        # A vendor outage is waited out only up to the same deadline (polling.py), so it adds at
        # most one failing poll (the client's whole retry budget) to that bound.
        needed = self.max_processing_seconds + self.wait_max_seconds + self.api_call_budget_seconds + 1_800
        if self.state_machine_timeout_seconds < needed:
            raise ConfigError(
                f"{_key('state_machine_timeout_seconds')}={self.state_machine_timeout_seconds} must be at least "
                f"{_key('max_processing_seconds')} + {_key('wait_max_seconds')} + one API call with its retries "
                f"({self.api_call_budget_seconds} s) + 1800 = {needed}, so that the "
                "pipeline gives up and notifies before Step Functions times the execution out"
            )
        if self.vendor_max_concurrency - self.submit_max_concurrency < 2:
            raise ConfigError(
                f"{_key('vendor_max_concurrency')}={self.vendor_max_concurrency} must exceed "
                f"{_key('submit_max_concurrency')}={self.submit_max_concurrency} by at least 2: submit_task may "
                "run that many calls to the vendor at once and poll_task gets the rest"
            )
        # The vendor downloads file_link when it starts the task, which may be any time until the
        # pipeline gives up on it: a link that dies first fails the task on the vendor's side.
        if self.presign_expiry_seconds < self.max_processing_seconds:
            raise ConfigError(
                f"{_key('presign_expiry_seconds')}={self.presign_expiry_seconds} must be at least "
                f"{_key('max_processing_seconds')}={self.max_processing_seconds}: the vendor may start the task "
                "(and download the file) at any time until the pipeline gives up on it"
            )
        # An upload may wait in the submit queue for its whole retention, then its link must work
        # for presign_expiry_seconds: the pinned input version must still exist until then (after
        # the expiration it is a noncurrent version for noncurrent_version_expiration_days more).
        kept = (self.input_expiration_days + self.noncurrent_version_expiration_days) * 86_400
        needed_input = SUBMIT_QUEUE_RETENTION_DAYS * 86_400 + self.presign_expiry_seconds
        if kept < needed_input:
            raise ConfigError(
                f"{_key('input_expiration_days')} + {_key('noncurrent_version_expiration_days')} = "
                f"{kept // 86_400} days keep an upload for less than the submit queue's "
                f"{SUBMIT_QUEUE_RETENTION_DAYS}-day retention plus {_key('presign_expiry_seconds')}: "
                "the vendor could find the file gone"
            )
        if self.stage == "prod" and not self.retain_data:
            raise ConfigError(
                f"{_key('retain_data')}=false is refused on stage prod (cdk destroy would delete uploads)"
            )
        return self

    # ------------------------------------------------------------------ derived values

    @property
    def stack_name(self) -> str:
        return f"Declick-{self.stage}"

    def resource_name(self, suffix: str) -> str:
        """Physical name of a stage's resource, e.g. ``Declick-prod-submit-task``."""
        return f"{self.stack_name}-{suffix}"

    @property
    def poll_reserved_concurrency(self) -> int:
        return self.vendor_max_concurrency - self.submit_max_concurrency

    @property
    def lambda_environment(self) -> dict[str, str]:
        """Variables shared by every function (docs/architecture.md, "Environment")."""
        return {
            # With the engine backend the stack sets the backend's URL (infra/stack.py).
            "API_BASE_URL": self.api_base_url or "",
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
            "VENDOR_OUTAGE_TOLERANCE_SECONDS": str(self.vendor_outage_tolerance_seconds),
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
