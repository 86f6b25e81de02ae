"""Reading S3 event notifications out of SQS message bodies."""

from __future__ import annotations

import json

import pytest

from declick_pipeline.s3_events import UnreadableMessageError, uploads_in_message

from .conftest import Account


def body(*records):
    return json.dumps({"Records": list(records)})


def test_keys_are_form_decoded_and_versions_kept():
    record = Account.s3_record("Mix/ä b+c.wav", 42, etag='"abc"', version_id="v1")
    (upload,) = uploads_in_message(body(record))
    assert (upload.key, upload.size, upload.etag, upload.version_id) == ("Mix/ä b+c.wav", 42, "abc", "v1")
    assert upload.identity() == {"bucket": "declick-input", "key": "Mix/ä b+c.wav", "version": "v1"}


def test_unversioned_identity_is_the_etag():
    (upload,) = uploads_in_message(body(Account.s3_record("a.wav", 1, etag="e1")))
    assert upload.identity()["version"] == "e1"


def test_only_created_objects_that_are_not_folders_count():
    records = [
        Account.s3_record("gone.wav", 1, event_name="ObjectRemoved:Delete"),
        Account.s3_record("dir/", 0),
        Account.s3_record("kept.wav", 1, event_name="ObjectCreated:CompleteMultipartUpload"),
    ]
    assert [u.key for u in uploads_in_message(body(*records))] == ["kept.wav"]


def test_test_event_is_no_upload():
    assert uploads_in_message(json.dumps({"Event": "s3:TestEvent", "Bucket": "b"})) == []


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        json.dumps({"hello": "world"}),
        body({"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}),
    ],
)
def test_anything_else_is_unreadable(text):
    with pytest.raises(UnreadableMessageError):
        uploads_in_message(text)
