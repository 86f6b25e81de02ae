"""Per-process objects of the backend's functions, built on first use and reused while warm.

Nothing is built at import time: a bad variable is reported by the first invocation, and AWS
clients pick up the endpoint current then (moto in tests, `AWS_ENDPOINT_URL` in local runs).
`reset()` forgets everything (tests, the local runner).
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities import parameters

from declick_contract.basic_auth import BasicAuthenticator
from declick_contract.process_cache import BOTO_CONFIG, ProcessCache
from declick_engine_backend.settings import BackendSettings, load_settings
from declick_engine_backend.tasks import TaskTable

_objects = ProcessCache()
_cached = _objects.get
client = _objects.client
reset = _objects.reset


def settings() -> BackendSettings:
    return _cached("settings", load_settings)


def table() -> TaskTable:
    def build() -> TaskTable:
        current = settings()
        return TaskTable(
            boto3.resource("dynamodb", config=BOTO_CONFIG).Table(current.tasks_table),
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
