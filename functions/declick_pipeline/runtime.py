"""Per-process objects, created on first use and then reused across warm invocations.

Nothing here is built at import time: settings are validated on the first event (so a bad
deploy reports the bad variable in the invocation error), AWS clients pick up whatever endpoint
and credentials are current (moto in tests, `AWS_ENDPOINT_URL` in local runs), and `reset()`
lets tests and the local runner point everything somewhere else between runs.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from declick_contract.process_cache import S3_CONFIG, ProcessCache
from declick_pipeline.remote_api import Credentials, RemoteApiClient, credentials_from_secret
from declick_pipeline.settings import Settings, SettingsError, load_settings

_objects = ProcessCache()
_cached = _objects.get
client = _objects.client
reset = _objects.reset


def settings() -> Settings:
    return _cached("settings", load_settings)


def link_signing_client():
    """An S3 client holding the link-signing user's access key (only for presigning file_link).

    Read through the Powertools cache like the API secret; a replaced key (new access key id) gets
    a new client. No session token: the key is long-term, so the link lives as long as it says.
    """
    current = settings().require("SIGNING_SECRET_ARN")
    secret = parameters.get_secret(current.signing_secret_arn, transform="json", max_age=current.secret_max_age_seconds)
    try:
        key_id, key_secret = secret["access_key_id"], secret["secret_access_key"]
    except (KeyError, TypeError):
        raise SettingsError(
            'the secret named by SIGNING_SECRET_ARN must hold {"access_key_id": ..., "secret_access_key": ...}'
        ) from None
    config = S3_CONFIG
    return _cached(
        f"link_signer:{key_id}",
        lambda: boto3.client(
            "s3", aws_access_key_id=key_id, aws_secret_access_key=key_secret, aws_session_token=None, config=config
        ),
    )


def credentials() -> Credentials:
    """Read from Secrets Manager through the Powertools cache, so a rotated secret is seen within max_age."""
    current = settings().require("API_SECRET_ARN")
    secret = parameters.get_secret(current.api_secret_arn, transform="json", max_age=current.secret_max_age_seconds)
    return credentials_from_secret(secret)


def remote_api() -> RemoteApiClient:
    def build() -> RemoteApiClient:
        current = settings().require("API_BASE_URL", "API_SECRET_ARN")
        return RemoteApiClient(
            current.api_base_url,
            credentials,
            connect_timeout=current.api_connect_timeout_seconds,
            read_timeout=current.api_read_timeout_seconds,
            max_retries=current.api_max_retries,
            text_max_chars=current.vendor_text_max_chars,
        )

    return _cached("remote_api", build)


def idempotency_store(key_prefix: str) -> DynamoDBPersistenceLayer:
    """One persistence layer per idempotent step: Powertools keeps the key prefix on the layer
    itself, so a step nested in another would otherwise write the outer step's record under its prefix."""

    def build() -> DynamoDBPersistenceLayer:
        current = settings().require("IDEMPOTENCY_TABLE")
        return DynamoDBPersistenceLayer(table_name=current.idempotency_table, boto3_client=client("dynamodb"))

    return _cached(f"idempotency_store:{key_prefix}", build)
