"""Per-process objects of the backend's functions, built on first use and reused while warm.

Nothing is built at import time: a bad variable is reported by the first invocation, and AWS
clients pick up the endpoint current then (moto in tests, `AWS_ENDPOINT_URL` in local runs).
`reset()` forgets everything (tests, the local runner).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config

from declick_contract.basic_auth import BasicAuthenticator
from declick_engine_backend.settings import BackendSettings, load_settings
from declick_engine_backend.tasks import TaskTable

_lock = threading.RLock()
_cache: dict[str, Any] = {}
_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)


def _cached(name: str, build):
    with _lock:
        if name not in _cache:
            _cache[name] = build()
        return _cache[name]


def reset() -> None:
    with _lock:
        _cache.clear()
    parameters.clear_caches()


def settings() -> BackendSettings:
    return _cached("settings", load_settings)


def client(service: str) -> Any:
    # SigV4 so that presigned `voice_result` links work in every region.
    config = _BOTO_CONFIG.merge(Config(signature_version="s3v4")) if service == "s3" else _BOTO_CONFIG
    return _cached(f"client:{service}", lambda: boto3.client(service, config=config))


def table() -> TaskTable:
    def build() -> TaskTable:
        current = settings()
        return TaskTable(
            boto3.resource("dynamodb", config=_BOTO_CONFIG).Table(current.tasks_table),
            record_retention_seconds=current.record_retention_seconds,
            initial_rate=current.initial_seconds_per_audio_second,
        )

    return _cached("table", build)


def authenticator() -> BasicAuthenticator:
    """The pair in the generated secret, re-read through the Powertools cache (a new value is seen within max_age)."""
    current = settings()
    secret = parameters.get_secret(
        current.credentials_secret_arn, transform="json", max_age=current.secret_max_age_seconds
    )
    if not isinstance(secret, dict) or not secret.get("appkey") or not secret.get("appsecret"):
        raise RuntimeError('the credentials secret must hold {"appkey": ..., "appsecret": ...}')
    return BasicAuthenticator({str(secret["appkey"]): str(secret["appsecret"])})
