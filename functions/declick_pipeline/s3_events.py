"""Turn an SQS message carrying an S3 event notification into the uploads it announces.

Shared by `submit_task` and `report_dead_letter`, so both agree on what an upload is. S3 sends
keys URL-encoded in the form style (space as `+`, a real plus as `%2B`, UTF-8 percent-encoded),
sends an `s3:TestEvent` when the notification is configured, and announces folder markers
(keys ending in `/`) like any object; none of the latter two are uploads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event

from declick_contract.job_ledger import REPLAY_FIELD


class UnreadableMessageError(ValueError):
    """The message is not an S3 event notification; it can only be inspected by a person (DLQ)."""


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None
    uploaded_at: str | None
    # Set on a synthetic event sent by `declick replay`: a deliberate second run of the same version.
    replay_id: str | None = None

    def identity(self) -> dict[str, str]:
        """What makes two events the same upload: the object version, or its ETag when unversioned
        (and the replay, so that an operator's replay is not taken for a duplicate event)."""
        identity = {"bucket": self.bucket, "key": self.key, "version": self.version_id or self.etag or ""}
        if self.replay_id:
            identity["replay"] = self.replay_id
        return identity

    @property
    def version(self) -> str | None:
        """The ledger's version of this upload (declick_pipeline.ledger)."""
        return self.version_id or self.etag

    def describe(self) -> dict[str, Any]:
        """The `input` block of a notification, as far as the event alone tells it."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "size": self.size,
            "md5": None,
            "duration_s": None,
            "format": None,
        }


def uploads_in_message(body: str) -> list[Upload]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise UnreadableMessageError(f"message body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise UnreadableMessageError("message body is not a JSON object")
    if payload.get("Event") == "s3:TestEvent":
        return []
    if not isinstance(payload.get("Records"), list):
        raise UnreadableMessageError("message body is not an S3 event notification (no Records)")
    uploads = []
    for record in S3Event(payload).records:
        try:
            if record.event_source != "aws:s3" or not record.event_name.startswith("ObjectCreated"):
                continue
            obj = record.s3.get_object
            key = unquote_plus(obj["key"])
            size = obj.get("size")
            replay = record.get(REPLAY_FIELD) or {}
            uploads.append(
                Upload(
                    bucket=record.s3.bucket.name,
                    key=key,
                    version_id=obj.version_id or None,
                    etag=(obj.etag or "").strip('"') or None,
                    size=int(size) if size is not None else None,
                    uploaded_at=record.get("eventTime"),
                    replay_id=str(replay["id"]) if isinstance(replay, dict) and replay.get("id") else None,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnreadableMessageError(f"S3 event record is incomplete: {exc!r}") from None
    return [upload for upload in uploads if not upload.key.endswith("/")]
