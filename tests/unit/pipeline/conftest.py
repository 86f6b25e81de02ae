"""A moto-backed AWS account and a fake vendor, wired together the way the CDK stack wires them."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

# Before any Powertools import: no X-Ray daemon in tests.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "declick")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DeclickTest")

import boto3
import numpy as np
import pytest
import soundfile
from moto import mock_aws

from declick.local.fake_vendor import FakeVendor
from declick_pipeline import runtime

REGION = "us-east-1"
INPUT_BUCKET = "declick-input"
OUTPUT_BUCKET = "declick-output"
LEDGER_TABLE = "declick-job-ledger"
STATE_MACHINE_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})

_SETTING_VARIABLES = (
    "API_BASE_URL",
    "API_SECRET_ARN",
    "SIGNING_SECRET_ARN",
    "OUTPUT_BUCKET",
    "TOPIC_ARN",
    "STATE_MACHINE_ARN",
    "IDEMPOTENCY_TABLE",
    "LEDGER_TABLE",
    "DOWNLOAD_ALLOWED_HOSTS",
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
)


@dataclass
class LambdaContextStub:
    """The attributes Powertools reads from the Lambda runtime's context object."""

    function_name: str = "declick-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:declick-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    for name in _SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    runtime.reset()
    yield
    runtime.reset()


@pytest.fixture
def lambda_context() -> LambdaContextStub:
    return LambdaContextStub()


@pytest.fixture
def vendor():
    with FakeVendor() as server:
        yield server


def write_audio(path, fmt: str, seconds: float = 1.5, sample_rate: int = 16000) -> bytes:
    """Real audio written by libsndfile: a quiet tone with a few clicks."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    samples = 0.2 * np.sin(2 * np.pi * 440 * t)
    samples[:: sample_rate // 4] = 0.9
    soundfile.write(str(path), samples, sample_rate, format=fmt.upper())
    return path.read_bytes()


@pytest.fixture(scope="session")
def audio_files(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("audio")
    return {
        "wav": write_audio(folder / "tone.wav", "wav"),
        "mp3": write_audio(folder / "tone.mp3", "mp3"),
        "flac": write_audio(folder / "tone.flac", "flac"),
    }


_SESSION: list[boto3.Session] = []


def _session() -> boto3.Session:
    """One session for the whole run: it caches the service models, which makes clients cheap."""
    if not _SESSION:
        _SESSION.append(boto3.Session(region_name=REGION))
    return _SESSION[0]


class Account:
    """The stack's resources inside moto, plus ways to poke them the way AWS would."""

    def __init__(self, vendor: FakeVendor, monkeypatch):
        self.vendor = vendor
        session = _session()
        self.s3 = session.client("s3")
        self.sqs = session.client("sqs")
        self.sns = session.client("sns")
        self.sfn = session.client("stepfunctions")
        self.ddb = session.client("dynamodb")
        secrets = session.client("secretsmanager")

        for bucket in (INPUT_BUCKET, OUTPUT_BUCKET):
            self.s3.create_bucket(Bucket=bucket)
        self.s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.topic_arn = self.sns.create_topic(Name="declick-notifications")["TopicArn"]
        self.inbox_url = self.sqs.create_queue(QueueName="notification-inbox")["QueueUrl"]
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=inbox_arn)
        self.secret_arn = secrets.create_secret(Name="declick/api", SecretString=json.dumps(vendor.secret))["ARN"]
        # The file_link signer: an IAM user's long-term key in a secret, as infra/link_signing.py deploys it.
        iam = session.client("iam")
        iam.create_user(UserName="declick-link-signer")
        key = iam.create_access_key(UserName="declick-link-signer")["AccessKey"]
        self.signing_key_id = key["AccessKeyId"]
        self.signing_secret_arn = secrets.create_secret(
            Name="declick/link-signer",
            SecretString=json.dumps({"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}),
        )["ARN"]
        self.ddb.create_table(
            TableName="declick-idempotency",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.ddb.create_table(
            TableName=LEDGER_TABLE,
            KeySchema=[
                {"AttributeName": "object", "KeyType": "HASH"},
                {"AttributeName": "version", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in ("object", "version", "status", "status_at")
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by-status",
                    "KeySchema": [
                        {"AttributeName": "status", "KeyType": "HASH"},
                        {"AttributeName": "status_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        self.state_machine_arn = self.sfn.create_state_machine(
            name="declick-pipeline",
            definition=STATE_MACHINE_DEFINITION,
            roleArn="arn:aws:iam::123456789012:role/declick-sfn",
            type="STANDARD",
        )["stateMachineArn"]
        environment = {
            "API_BASE_URL": vendor.url,
            "API_SECRET_ARN": self.secret_arn,
            "SIGNING_SECRET_ARN": self.signing_secret_arn,
            "API_MAX_RETRIES": "1",
            "OUTPUT_BUCKET": OUTPUT_BUCKET,
            "TOPIC_ARN": self.topic_arn,
            "STATE_MACHINE_ARN": self.state_machine_arn,
            "IDEMPOTENCY_TABLE": "declick-idempotency",
            "LEDGER_TABLE": LEDGER_TABLE,
            "DOWNLOAD_ALLOWED_HOSTS": vendor.host_port,
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        runtime.reset()

    # uploads -----------------------------------------------------------------------------------
    def upload(self, key: str, data: bytes, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=data, Metadata=metadata or {})
        return {
            "key": key,
            "size": len(data),
            "etag": response["ETag"].strip('"'),
            "version_id": response.get("VersionId"),
        }

    @staticmethod
    def s3_record(
        key: str,
        size: int,
        etag: str = "0123456789abcdef0123456789abcdef",
        version_id: str | None = None,
        event_name: str = "ObjectCreated:Put",
        bucket: str = INPUT_BUCKET,
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": "0A1B2C"}
        if version_id:
            obj["versionId"] = version_id
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": REGION,
            "eventTime": "2026-11-25T09:00:00.000Z",
            "eventName": event_name,
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "203.0.113.9"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "uploads",
                "bucket": {"name": bucket, "ownerIdentity": {"principalId": "E"}, "arn": f"arn:aws:s3:::{bucket}"},
                "object": obj,
            },
        }

    def event_for(self, uploaded: dict[str, Any]) -> dict[str, Any]:
        return self.s3_record(uploaded["key"], uploaded["size"], uploaded["etag"], uploaded["version_id"])

    @staticmethod
    def sqs_event(*bodies: dict[str, Any] | str) -> dict[str, Any]:
        records = []
        for body in bodies:
            records.append(
                {
                    "messageId": str(uuid.uuid4()),
                    "receiptHandle": "handle",
                    "body": body if isinstance(body, str) else json.dumps(body),
                    "attributes": {
                        "ApproximateReceiveCount": "1",
                        "SentTimestamp": "1764061200000",
                        "SenderId": "AIDA",
                        "ApproximateFirstReceiveTimestamp": "1764061200000",
                    },
                    "messageAttributes": {},
                    "md5OfBody": "",
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:declick-submit",
                    "awsRegion": REGION,
                }
            )
        return {"Records": records}

    # observations ------------------------------------------------------------------------------
    def notifications(self) -> list[dict[str, Any]]:
        """Every SNS message so far, as {"message": ..., "status_attribute": ...}, oldest first."""
        found = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.inbox_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for item in batch:
                envelope = json.loads(item["Body"])
                found.append(
                    {
                        "message": json.loads(envelope["Message"]),
                        "status_attribute": envelope.get("MessageAttributes", {}).get("status"),
                    }
                )
                self.sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=item["ReceiptHandle"])

    def executions(self) -> list[dict[str, Any]]:
        listed = self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return [self.sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


@pytest.fixture
def account(vendor, monkeypatch):
    with mock_aws():
        yield Account(vendor, monkeypatch)
