"""The server side's request -> task mapping, shared by the self-hosted service and the engine backend."""

from __future__ import annotations

import json

from declick_contract.task_request import RequestedTask, parse_batch


def test_a_request_becomes_the_task_both_servers_store():
    body = {
        "file_link": "https://example.com/a.wav",
        "file_info": {"file_size": 1234, "file_md5": "ABCDEF" + "0" * 26, "file_time": 12, "file_ext": "wav"},
        "detection_mult": 7,
        "click_len": 15,
        "file_ext": "wav",
        "priority": 3,
    }
    requested = parse_batch(json.dumps(body).encode()).requested_task()
    assert requested == RequestedTask(
        file_link="https://example.com/a.wav",
        file_size=1234,
        file_md5="abcdef" + "0" * 26,
        file_time=12.0,
        input_ext="wav",
        detection_mult=7.0,
        click_len=15,
        output_ext="wav",
    )
    assert isinstance(requested.file_time, float) and isinstance(requested.detection_mult, float)


def test_the_output_format_is_the_top_level_file_ext_mp3_by_default():
    body = {
        "file_link": "http://127.0.0.1:9/a.mp3",
        "file_info": {"file_size": 1, "file_md5": "0" * 32, "file_time": 1.5, "file_ext": "mp3"},
        "detection_mult": 8.0,
        "click_len": 10,
        "priority": 0,
    }
    requested = parse_batch(json.dumps(body)).requested_task()
    assert (requested.input_ext, requested.output_ext) == ("mp3", "mp3")
    body["file_ext"] = "wav"
    assert parse_batch(json.dumps(body)).requested_task().output_ext == "wav"
