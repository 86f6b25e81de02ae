"""`declick replay`: run FAILED uploads through the pipeline again, each with one new notification.

The replay sends the submit queue the S3 event the upload would have sent, plus a replay id
(`declickReplay`). The submit step's idempotency key includes that id, so the replay is not
taken for a duplicate of the first event: a new remote task is created and the upload ends in
one new notification. Replaying the same upload twice is two replays, on purpose.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any
from urllib.parse import quote_plus

from declick.ops.ledger_access import (
    Ledger,
    ObjectRef,
    OpsError,
    add_location_arguments,
    aws_client,
    ledger_time,
    parse_s3_uri,
    resolve,
)
from declick_contract.job_ledger import FAILED, NO_VERSION, REPLAY_FIELD

SQS_BATCH = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("objects", nargs="*", metavar="s3://BUCKET/KEY[#VERSION]", help="uploads to replay")
    parser.add_argument("--failed-since", metavar="TIME", help="replay every upload FAILED since TIME (UTC ISO 8601)")
    parser.add_argument("--until", metavar="TIME", help="with --failed-since: up to TIME (default: now)")
    add_location_arguments(parser, queue=True)
    parser.add_argument("--dry-run", action="store_true", help="list what would be replayed, send nothing")


def replay_event(item: dict[str, Any], replay_id: str, requested_at: str) -> dict[str, Any]:
    """The S3 ObjectCreated record of the ledger item's object version, marked as a replay."""
    obj: dict[str, Any] = {"key": quote_plus(item["key"], safe="/")}
    if item.get("version_id"):
        obj["versionId"] = item["version_id"]
    if item.get("etag"):
        obj["eTag"] = item["etag"]
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Replay",
                "eventTime": item.get("uploaded_at") or requested_at,
                "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": item["bucket"]}, "object": obj},
                REPLAY_FIELD: {"id": replay_id, "requested_at": requested_at},
            }
        ]
    }


def _pick(ledger: Ledger, ref: ObjectRef) -> dict[str, Any]:
    items = ledger.versions(ref)
    if not items:
        raise OpsError(f"no record of {ref} in the job ledger; nothing to replay")
    if not ref.version and len(items) > 1:
        print(f"declick replay: {ref} has {len(items)} versions; replaying the newest", file=sys.stderr)
    return items[0]


def run(args: argparse.Namespace) -> int:
    try:
        if bool(args.objects) == bool(args.failed_since):
            raise OpsError("give either s3:// objects or --failed-since (with an optional --until)")
        if args.until and not args.failed_since:
            raise OpsError("--until goes with --failed-since")
        table, queue_url = resolve(args, queue=True)
        ledger = Ledger(table, args.region)
        if args.objects:
            items = [_pick(ledger, parse_s3_uri(text)) for text in args.objects]
        else:
            since, until = ledger_time(args.failed_since), ledger_time(args.until)
            if since > until:
                raise OpsError(f"--failed-since {since} is after --until {until}")
            items = ledger.with_status(FAILED, since, until)
    except OpsError as exc:
        print(f"declick replay: {exc}", file=sys.stderr)
        return 2
    requested_at = ledger_time(None)
    messages = []
    for item in items:
        replay_id = uuid.uuid4().hex
        version = item.get("version")
        label = f"s3://{item['bucket']}/{item['key']}" + (f"#{version}" if version and version != NO_VERSION else "")
        print(f"{'would replay' if args.dry_run else 'replaying'} {label} ({item['status']}) as replay {replay_id}")
        messages.append(
            {"Id": str(len(messages)), "MessageBody": json.dumps(replay_event(item, replay_id, requested_at))}
        )
    if not messages:
        print("declick replay: nothing to replay", file=sys.stderr)
        return 0
    if args.dry_run:
        return 0
    sqs = aws_client("sqs", args.region)
    failed = []
    for start in range(0, len(messages), SQS_BATCH):
        batch = [dict(m, Id=str(i)) for i, m in enumerate(messages[start : start + SQS_BATCH])]
        failed += sqs.send_message_batch(QueueUrl=queue_url, Entries=batch).get("Failed", [])
    if failed:
        print(f"declick replay: {len(failed)} replay(s) could not be queued: {failed}", file=sys.stderr)
        return 1
    print(f"{len(messages)} upload(s) queued for replay; each will get one new notification")
    return 0
