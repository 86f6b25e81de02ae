"""`declick status s3://bucket/key[#version]`: where an upload is, before its notification arrives."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from declick.ops.ledger_access import Ledger, OpsError, add_location_arguments, parse_s3_uri, resolve

# What each ledger status means to the person who uploaded the file.
MEANING = {
    "RECEIVED": "the upload event arrived; the file is being checked and sent for processing",
    "SUBMITTED": "the processing service has the file; waiting for its result",
    "SUCCEEDED": "done: the cleaned file is in the output bucket",
    "FAILED": "processing failed (see the reason); an operator can replay it",
    "REJECTED": "the file was refused and will not be processed (see the reason)",
}
FIELDS = (
    "uploaded_at",
    "first_received_at",
    "submitted_at",
    "finished_at",
    "task_id",
    "execution_arn",
    "output_key",
    "replays",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("object", metavar="s3://BUCKET/KEY[#VERSION]", help="the uploaded object")
    add_location_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the ledger items as JSON")


def describe(item: dict[str, Any]) -> str:
    version = item.get("version")
    lines = [f"s3://{item.get('bucket')}/{item.get('key')}#{version}: {item['status']} since {item.get('status_at')}"]
    lines.append(f"  {MEANING.get(item['status'], '')}")
    if item.get("reason_code"):
        lines.append(f"  reason: {item['reason_code']}: {item.get('reason_message', '')}")
    for name in FIELDS:
        if item.get(name) not in (None, ""):
            lines.append(f"  {name}: {item[name]}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        ref = parse_s3_uri(args.object)
        table, _ = resolve(args)
        items = Ledger(table, args.region).versions(ref)
    except OpsError as exc:
        print(f"declick status: {exc}", file=sys.stderr)
        return 2
    if not items:
        print(
            f"declick status: no record of {ref}: not uploaded to the pipeline's input bucket, "
            "or its upload event has not been handled yet",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(items, default=_plain, indent=2))
    else:
        print("\n".join(describe(item) for item in items))
    return 0


def _plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal."""
    return int(value) if value == int(value) else float(value)
