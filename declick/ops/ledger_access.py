"""Finding a deployed pipeline's job ledger and submit queue, and reading the ledger.

Works the same against AWS and against the local emulator: boto3 follows `AWS_ENDPOINT_URL`
(and the usual profile, region and credential settings). With `--stack` the table and queue
come from the stack's outputs (CloudFormation `describe_stacks`); `--table` / `--queue` name
them directly (the local emulator has no CloudFormation).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from declick_contract.job_ledger import PARTITION_KEY, SORT_KEY, STATUS_INDEX, STATUS_INDEX_KEYS

DEFAULT_STACK = "Declick-dev"  # infra: the stack of stage `dev` (declick:stage)
LEDGER_OUTPUT = "JobLedgerTableName"
QUEUE_OUTPUT = "SubmitQueueUrl"


class OpsError(Exception):
    """Something the operator has to fix (wrong name, missing output, unknown upload); printed as is."""


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    version: str | None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" + (f"#{self.version}" if self.version else "")


def parse_s3_uri(text: str) -> ObjectRef:
    """`s3://bucket/key[#version]`; the key may contain `#` only percent-encoded (%23)."""
    match = re.fullmatch(r"s3://([^/]+)/(.+?)(?:#([^#]+))?", text.strip())
    if not match:
        raise OpsError(f"{text!r} is not s3://bucket/key or s3://bucket/key#version")
    bucket, key, version = match.groups()
    return ObjectRef(bucket, unquote(key), version)


def add_location_arguments(parser: argparse.ArgumentParser, *, queue: bool = False) -> None:
    parser.add_argument("--stack", default=None, help=f"the pipeline's CloudFormation stack (default {DEFAULT_STACK})")
    parser.add_argument("--table", help="the job ledger table name (instead of reading it from --stack)")
    if queue:
        parser.add_argument("--queue", help="the submit queue URL (instead of reading it from --stack)")
    parser.add_argument("--region", help="AWS region (default: from the environment or profile)")


def aws_client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region) if region else boto3.client(service)


def stack_outputs(stack: str, region: str | None) -> dict[str, str]:
    from botocore.exceptions import ClientError

    try:
        stacks = aws_client("cloudformation", region).describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise OpsError(f"cannot read stack {stack!r}: {exc.response.get('Error', {}).get('Message', exc)}") from None
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def resolve(args: argparse.Namespace, *, queue: bool = False) -> tuple[str, str | None]:
    """(ledger table name, submit queue URL or None) from the explicit names or the stack's outputs."""
    table, queue_url = args.table, getattr(args, "queue", None)
    if table and (queue_url or not queue):
        return table, queue_url
    stack = args.stack or DEFAULT_STACK
    outputs = stack_outputs(stack, args.region)
    table = table or outputs.get(LEDGER_OUTPUT)
    queue_url = queue_url or outputs.get(QUEUE_OUTPUT)
    if not table or (queue and not queue_url):
        raise OpsError(f"stack {stack!r} has no {LEDGER_OUTPUT}/{QUEUE_OUTPUT} output: is it a Declick pipeline?")
    return table, queue_url


class Ledger:
    def __init__(self, table: str, region: str | None = None):
        self.table_name = table
        self._table = dynamodb_resource(region).Table(table)

    def versions(self, ref: ObjectRef) -> list[dict[str, Any]]:
        """The ledger items of an object: the one version asked for, or all of them, newest first."""
        from boto3.dynamodb.conditions import Key
        from botocore.exceptions import ClientError

        condition = Key(PARTITION_KEY).eq(f"{ref.bucket}/{ref.key}")
        if ref.version:
            condition = condition & Key(SORT_KEY).eq(ref.version)
        try:
            items = _query_all(self._table, KeyConditionExpression=condition)
        except ClientError as exc:
            raise OpsError(f"cannot read the job ledger {self.table_name!r}: {exc}") from None
        return sorted(items, key=lambda item: item.get("first_received_at") or "", reverse=True)

    def with_status(self, status: str, since: str, until: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        status_key, time_key = STATUS_INDEX_KEYS
        return _query_all(
            self._table,
            IndexName=STATUS_INDEX,
            KeyConditionExpression=Key(status_key).eq(status) & Key(time_key).between(since, until),
        )


def dynamodb_resource(region: str | None) -> Any:
    import boto3

    return boto3.resource("dynamodb", region_name=region) if region else boto3.resource("dynamodb")


def _query_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = table.query(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def ledger_time(text: str | None) -> str:
    """An operator's time (ISO 8601, date only allowed, UTC unless an offset is given) in the ledger's format."""
    if not text:
        moment = datetime.now(UTC)
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise OpsError(f"{text!r} is not a time like 2026-12-01 or 2026-12-01T09:30Z") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
