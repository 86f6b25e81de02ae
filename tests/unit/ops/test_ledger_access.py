"""How `declick status` / `declick replay` find the ledger and parse what the operator typed."""

from __future__ import annotations

import argparse
import json

import boto3
import pytest
from moto import mock_aws

from declick.ops.ledger_access import ObjectRef, OpsError, ledger_time, parse_s3_uri, resolve
from declick.ops.replay import replay_event
from declick_pipeline.s3_events import uploads_in_message


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://in/a/b c.wav", ObjectRef("in", "a/b c.wav", None)),
        (
            "s3://in/a.wav#3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
            ObjectRef("in", "a.wav", "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"),
        ),
        ("s3://in/take%231.wav#v2", ObjectRef("in", "take#1.wav", "v2")),
    ],
)
def test_s3_uris(text, expected):
    assert parse_s3_uri(text) == expected


@pytest.mark.parametrize("text", ["in/a.wav", "s3://in", "s3://in/", "https://in/a.wav"])
def test_bad_uris_are_refused(text):
    with pytest.raises(OpsError, match="is not s3://bucket/key"):
        parse_s3_uri(text)


def test_times_are_normalised_to_the_ledger_format():
    assert ledger_time("2026-12-01") == "2026-12-01T00:00:00Z"
    assert ledger_time("2026-12-01T10:30+02:00") == "2026-12-01T08:30:00Z"
    with pytest.raises(OpsError, match="is not a time"):
        ledger_time("yesterday")


def _args(**values):
    return argparse.Namespace(**{"stack": None, "table": None, "queue": None, "region": None, **values})


def test_stack_outputs_name_the_table_and_queue():
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "JobLedgerTableName": {"Value": "declick-ledger"},
            "SubmitQueueUrl": {"Value": "https://sqs.us-east-1.amazonaws.com/123456789012/submit"},
        },
    }
    with mock_aws():
        boto3.client("cloudformation").create_stack(StackName="DeclickDev", TemplateBody=json.dumps(template))
        assert resolve(_args(stack="DeclickDev"), queue=True) == (
            "declick-ledger",
            "https://sqs.us-east-1.amazonaws.com/123456789012/submit",
        )
        with pytest.raises(OpsError, match="cannot read stack 'Declick-dev'"):
            resolve(_args())


def test_explicit_names_need_no_stack():
    assert resolve(_args(table="t", queue="q"), queue=True) == ("t", "q")


def test_a_replay_event_reads_back_as_the_same_upload_with_its_replay_id():
    item = {"bucket": "in", "key": "a b+c.wav", "version_id": "v1", "etag": "e1", "uploaded_at": "2026-12-01T10:00:00Z"}
    (upload,) = uploads_in_message(json.dumps(replay_event(item, "r-1", "2026-12-01T11:00:00Z")))
    assert (upload.bucket, upload.key, upload.version_id, upload.etag) == ("in", "a b+c.wav", "v1", "e1")
    assert upload.replay_id == "r-1" and upload.identity()["replay"] == "r-1"
    assert upload.uploaded_at == "2026-12-01T10:00:00Z"
