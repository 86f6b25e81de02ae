"""The engine backend's functions on a moto account laid out as infra/engine_backend.py lays it out."""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "declick")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DeclickTest")

import boto3
import pytest
from moto import mock_aws

from declick.local.http_api import api_gateway_event
from declick_engine_backend import runtime
from tests.unit.service.conftest import FileServer

REGION = "us-east-1"
APPKEY, APPSECRET = "declick-pipeline", "generated-secret-0123456789"


@dataclass
class LambdaContextStub:
    function_name: str = "declick-engine-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:declick-engine-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Backend:
    env: dict[str, str]
    s3: Any
    sqs: Any
    table: Any
    files: FileServer

    def call(self, method: str, path: str, body: Any = None, auth: tuple[str, str] | None = (APPKEY, APPSECRET)):
        from declick_engine_backend.handlers.api import handler

        headers = {"Host": "api.local", "Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        raw = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        response = handler(api_gateway_event(method, path, headers, raw, "127.0.0.1"), LambdaContextStub())
        return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}

    def queue_depth(self, band: str) -> int:
        url = self.env[f"ENGINE_QUEUE_{band.upper()}_URL"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture(scope="module")
def files():
    server = FileServer()
    yield server
    server.close()


@pytest.fixture
def backend(monkeypatch, files):
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        ddb = boto3.resource("dynamodb", region_name=REGION)
        table = ddb.create_table(
            TableName="engine-tasks",
            KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3.create_bucket(Bucket="engine-results")
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="engine-credentials", SecretString=json.dumps({"appkey": APPKEY, "appsecret": APPSECRET})
        )
        env = {
            "ENGINE_TASKS_TABLE": "engine-tasks",
            "ENGINE_RESULTS_BUCKET": "engine-results",
            "ENGINE_CREDENTIALS_SECRET_ARN": secret["ARN"],
            "ENGINE_MAX_INPUT_BYTES": str(50 * 1024 * 1024),
            "ENGINE_MAX_AUDIO_SECONDS": "600",
            "ENGINE_DOWNLOAD_TIMEOUT_SECONDS": "30",
            "ENGINE_MAX_QUEUE_SECONDS": "3600",
            "ENGINE_MAX_PROCESSING_SECONDS": "960",
            "ENGINE_RESULT_TTL_SECONDS": "86400",
            "ENGINE_PRESIGN_SECONDS": "3600",
            "ENGINE_RECORD_RETENTION_SECONDS": "604800",
            "ENGINE_MIN_WAIT_SECONDS": "1",
            "ENGINE_MAX_WAIT_SECONDS": "300",
            "ENGINE_DOWNLOAD_RETRIES": "0",
            "DOWNLOAD_ALLOWED_HOSTS": files.host,
        }
        for band, workers in (("high", 4), ("normal", 2), ("low", 2)):
            env[f"ENGINE_QUEUE_{band.upper()}_URL"] = sqs.create_queue(QueueName=f"engine-{band}")["QueueUrl"]
            env[f"ENGINE_WORKERS_{band.upper()}"] = str(workers)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        runtime.reset()
        yield Backend(env=env, s3=s3, sqs=sqs, table=table, files=files)
        runtime.reset()
