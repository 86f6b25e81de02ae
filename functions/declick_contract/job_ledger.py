"""The job ledger's shape, shared by the stack (infra/ledger.py), the Lambdas that write it
(declick_pipeline.ledger) and the operators' commands that read it (`declick status`, `declick replay`).

One item per input object version: key `object` = "<bucket>/<key>", `version` = the S3 version
id (else the ETag, else "null"). Attributes: status, status_at, updated_at, first_received_at,
bucket, key, uploaded_at, task_id, execution_arn, submitted_at, finished_at, output_key,
reason_code, reason_message, replay_id, replays.
"""

from __future__ import annotations

RECEIVED = "RECEIVED"
SUBMITTED = "SUBMITTED"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
REJECTED = "REJECTED"
STATUSES = (RECEIVED, SUBMITTED, SUCCEEDED, FAILED, REJECTED)

PARTITION_KEY = "object"
SORT_KEY = "version"
# Index by status and the time the upload reached it (ISO 8601 UTC, second resolution).
STATUS_INDEX = "by-status"
STATUS_INDEX_KEYS = ("status", "status_at")
NO_VERSION = "null"

# A field of an S3 event record that only `declick replay` sets (S3 itself never sends it):
# {"id": <replay id>, "requested_at": <ISO time>}.
REPLAY_FIELD = "declickReplay"


def item_key(bucket: str, key: str, version: str | None) -> dict[str, str]:
    return {PARTITION_KEY: f"{bucket}/{key}", SORT_KEY: version or NO_VERSION}
