"""`declick local up`'s own parts: notification lines, the port check, the client setup, signals."""

from __future__ import annotations

import signal
import socket

import pytest

from declick.local.up import InFlight, StopSignals, client_setup, describe, port_problem


def test_a_success_is_one_line_from_upload_to_result():
    line = describe(
        {
            "status": "SUCCEEDED",
            "input": {"bucket": "in", "key": "calls/monday call.wav"},
            "output": {"bucket": "out", "key": "calls/monday call.mp3", "size": 2048},
        }
    )
    assert line == "SUCCEEDED s3://in/calls/monday call.wav -> s3://out/calls/monday call.mp3 (2048 bytes)"


def test_a_rejection_shows_its_code_and_reason_on_one_line():
    line = describe(
        {
            "status": "REJECTED",
            "input": {"bucket": "in", "key": "notes.wav"},
            "error": {"code": "NOT_AUDIO", "message": "the file content\nis not WAV or MP3 audio"},
        }
    )
    assert line == "REJECTED s3://in/notes.wav: NOT_AUDIO the file content is not WAV or MP3 audio"


def test_a_message_of_another_kind_is_shown_raw_and_short():
    line = describe({"AlarmName": "x" * 1000})
    assert line.startswith('notification: {"AlarmName": "xxx') and len(line) < 400 and "\n" not in line


def test_a_listening_port_is_reported_taken_with_what_to_do():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        problem = port_problem("127.0.0.1", port)
    assert problem is not None and f"127.0.0.1:{port} is taken" in problem and "--port" in problem
    assert port_problem("127.0.0.1", port) is None  # released


def test_a_port_out_of_range_is_refused():
    assert "not a TCP port" in port_problem("127.0.0.1", 70000)


def test_the_client_setup_has_paste_ready_exports_and_the_outputs():
    text = client_setup(
        "http://127.0.0.1:4566",
        "us-east-1",
        {"InputBucketName": "in-b", "OutputBucketName": "out-b", "NotificationsTopicArn": "arn:aws:sns:t"},
    )
    lines = [line.strip() for line in text.splitlines()]
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:4566" in lines
    assert "export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1" in lines
    assert {"export AWS_ACCESS_KEY_ID=testing", "export AWS_SECRET_ACCESS_KEY=testing"} <= set(lines)
    assert {"export DECLICK_INPUT_BUCKET=in-b", "export DECLICK_TOPIC_ARN=arn:aws:sns:t"} <= set(lines)
    assert "InputBucketName        in-b" in lines


def test_while_starting_a_signal_interrupts_and_only_the_first_one():
    with StopSignals() as signals:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)  # during the clean-up: noted, not raised
        assert signals.requested.is_set() and signals.urgent.is_set()


def test_once_serving_the_first_signal_drains_and_the_second_stops_now():
    previous = signal.getsignal(signal.SIGTERM)
    with StopSignals() as signals:
        signals.starting = False
        signal.raise_signal(signal.SIGTERM)
        assert signals.requested.is_set() and not signals.urgent.is_set()
        signal.raise_signal(signal.SIGINT)
        assert signals.urgent.is_set()
    assert signal.getsignal(signal.SIGTERM) is previous


def test_in_flight_work_is_summarised_by_kind():
    assert InFlight().empty() and InFlight().summary() == "nothing"
    work = InFlight(running=["s3://in/a.wav"], queued=2, batches=1)
    assert not work.empty()
    assert work.summary() == (
        "1 upload(s) in progress (s3://in/a.wav); 2 message(s) queued (uploads not yet submitted, "
        "or dead letters); 1 handler invocation(s) running"
    )
