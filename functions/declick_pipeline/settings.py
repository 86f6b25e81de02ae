"""Every knob of the pipeline Lambdas, read from the environment in one place.

The variables are the contract with the CDK stack (docs/architecture.md). They are parsed and
range-checked together, so a mis-deployed function fails on its first event with a message
naming the bad variable instead of failing later in the middle of an upload. Variables that
only some handlers need are optional here; each handler states what it needs with `require`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from declick_contract.api import (
    CLICK_LEN_RANGE,
    DEFAULT_CLICK_LEN,
    DEFAULT_DETECTION_MULT,
    DEFAULT_OUTPUT_FORMAT,
    DEFAULT_PRIORITY,
    DETECTION_MULT_RANGE,
    MAX_INPUT_BYTES,
    OUTPUT_FORMATS,
    PRIORITY_RANGE,
)


class SettingsError(ValueError):
    """The environment is wrong; the message names the variable so the deploy can be fixed."""


@dataclass(frozen=True)
class Settings:
    api_base_url: str | None
    api_secret_arn: str | None
    signing_secret_arn: str | None
    api_connect_timeout_seconds: float
    api_read_timeout_seconds: float
    api_max_retries: int
    output_bucket: str | None
    topic_arn: str | None
    state_machine_arn: str | None
    idempotency_table: str | None
    idempotency_ttl_seconds: int
    secret_max_age_seconds: int
    default_detection_mult: float
    default_click_len: int
    default_output_format: str
    default_priority: int
    max_input_bytes: int
    presign_expiry_seconds: int
    wait_min_seconds: int
    wait_max_seconds: int
    wait_default_seconds: int
    max_polls: int
    max_processing_seconds: int
    download_max_bytes: int
    download_timeout_seconds: float
    download_allowed_hosts: frozenset[str]

    def require(self, *names: str) -> Settings:
        """Fail unless every listed variable (environment spelling) was given."""
        missing = [name for name in names if not getattr(self, name.lower())]
        if missing:
            raise SettingsError(f"environment variable(s) {', '.join(missing)} must be set for this function")
        return self


def _text(raw: str) -> str:
    return raw.strip()


def _number(low: float | None = None, high: float | None = None, integer: bool = False) -> Callable[[str], Any]:
    def parse(raw: str) -> float | int:
        try:
            value: float | int = int(raw) if integer else float(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not {'an integer' if integer else 'a number'}") from None
        if not math.isfinite(value):
            raise ValueError(f"{raw!r} is not a finite number")
        if low is not None and value < low:
            raise ValueError(f"{value} is below the minimum {low}")
        if high is not None and value > high:
            raise ValueError(f"{value} is above the maximum {high}")
        return value

    return parse


def _output_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in OUTPUT_FORMATS:
        raise ValueError(f"{raw!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    return value


def _hosts(raw: str) -> frozenset[str]:
    return frozenset(item.strip().lower() for item in raw.split(",") if item.strip())


# field name -> (parser, default as it would appear in the environment; None = optional, absent)
_SPEC: dict[str, tuple[Callable[[str], Any], str | None]] = {
    "api_base_url": (_text, None),
    "api_secret_arn": (_text, None),
    "signing_secret_arn": (_text, None),
    "api_connect_timeout_seconds": (_number(0.1, 60), "3.05"),
    "api_read_timeout_seconds": (_number(0.1, 300), "20"),
    "api_max_retries": (_number(0, 10, integer=True), "4"),
    "output_bucket": (_text, None),
    "topic_arn": (_text, None),
    "state_machine_arn": (_text, None),
    "idempotency_table": (_text, None),
    "idempotency_ttl_seconds": (_number(60, 30 * 86400, integer=True), "172800"),
    "secret_max_age_seconds": (_number(0, 86400, integer=True), "300"),
    "default_detection_mult": (_number(*DETECTION_MULT_RANGE), str(DEFAULT_DETECTION_MULT)),
    "default_click_len": (_number(*CLICK_LEN_RANGE, integer=True), str(DEFAULT_CLICK_LEN)),
    "default_output_format": (_output_format, DEFAULT_OUTPUT_FORMAT),
    "default_priority": (_number(*PRIORITY_RANGE, integer=True), str(DEFAULT_PRIORITY)),
    "max_input_bytes": (_number(1, None, integer=True), str(MAX_INPUT_BYTES)),
    "presign_expiry_seconds": (_number(60, 7 * 86400, integer=True), "21600"),
    "wait_min_seconds": (_number(0, 86400, integer=True), "5"),
    "wait_max_seconds": (_number(1, 86400, integer=True), "300"),
    "wait_default_seconds": (_number(0, 86400, integer=True), "15"),
    "max_polls": (_number(1, None, integer=True), "720"),
    "max_processing_seconds": (_number(1, None, integer=True), "43200"),
    "download_max_bytes": (_number(1, None, integer=True), "209715200"),
    "download_timeout_seconds": (_number(1, 900), "120"),
    "download_allowed_hosts": (_hosts, ""),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate the environment; raise `SettingsError` naming the first bad variable."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in fields(Settings):
        parse, default = _SPEC[field.name]
        name = field.name.upper()
        raw = environ.get(name)
        if raw is None or raw.strip() == "":
            if default is None:
                values[field.name] = None
                continue
            raw = default
        try:
            values[field.name] = parse(raw)
        except ValueError as exc:
            raise SettingsError(f"environment variable {name} is invalid: {exc}") from None
    settings = Settings(**values)
    if settings.wait_min_seconds > settings.wait_max_seconds:
        raise SettingsError(
            f"environment variable WAIT_MIN_SECONDS ({settings.wait_min_seconds}) is above "
            f"WAIT_MAX_SECONDS ({settings.wait_max_seconds})"
        )
    if settings.api_base_url and not settings.api_base_url.lower().startswith(("https://", "http://")):
        raise SettingsError(f"environment variable API_BASE_URL is invalid: {settings.api_base_url!r} is not a URL")
    return settings
