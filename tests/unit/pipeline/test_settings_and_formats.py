"""Settings from the environment, and format sniffing on real audio bytes."""

from __future__ import annotations

import pytest

from declick_contract.audio_format import sniff_format
from declick_pipeline.settings import SettingsError, load_settings


def test_defaults_match_the_contract():
    settings = load_settings({})
    assert (settings.api_connect_timeout_seconds, settings.api_read_timeout_seconds, settings.api_max_retries) == (
        3.05,
        20.0,
        4,
    )
    assert (settings.default_detection_mult, settings.default_click_len) == (8.0, 10)
    assert (settings.default_output_format, settings.default_priority) == ("mp3", 5)
    assert settings.max_input_bytes == 52428800
    assert settings.presign_expiry_seconds == 43200
    assert (settings.wait_min_seconds, settings.wait_max_seconds, settings.wait_default_seconds) == (5, 300, 15)
    assert (settings.max_polls, settings.max_processing_seconds) == (720, 43200)
    assert (settings.download_max_bytes, settings.download_timeout_seconds) == (209715200, 120.0)
    assert settings.download_allowed_hosts == frozenset()


def test_values_are_parsed():
    settings = load_settings(
        {
            "API_BASE_URL": "https://api.vendor.example",
            "DEFAULT_OUTPUT_FORMAT": "WAV",
            "DOWNLOAD_ALLOWED_HOSTS": "127.0.0.1:8080, LocalHost",
            "WAIT_MIN_SECONDS": "1",
        }
    )
    assert settings.default_output_format == "wav"
    assert settings.download_allowed_hosts == frozenset({"127.0.0.1:8080", "localhost"})
    assert settings.wait_min_seconds == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_MAX_RETRIES", "many"),
        ("DEFAULT_DETECTION_MULT", "11"),
        ("DEFAULT_CLICK_LEN", "7.5"),
        ("DEFAULT_OUTPUT_FORMAT", "flac"),
        ("DEFAULT_PRIORITY", "10"),
        ("MAX_POLLS", "0"),
        ("API_BASE_URL", "api.vendor.example"),
        ("WAIT_MIN_SECONDS", "400"),
        ("DOWNLOAD_TIMEOUT_SECONDS", "inf"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_require_names_what_is_missing():
    settings = load_settings({"TOPIC_ARN": "arn:aws:sns:us-east-1:1:t"})
    assert settings.require("TOPIC_ARN") is settings
    with pytest.raises(SettingsError, match="OUTPUT_BUCKET, IDEMPOTENCY_TABLE"):
        settings.require("TOPIC_ARN", "OUTPUT_BUCKET", "IDEMPOTENCY_TABLE")


def test_real_files_are_recognised(audio_files):
    assert sniff_format(audio_files["wav"][:64]) == "wav"
    assert sniff_format(audio_files["mp3"][:64]) == "mp3"
    assert sniff_format(audio_files["flac"][:64]) == "flac"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(20), "mp3"),
        (bytes([0xFF, 0xFB, 0x90, 0x64]), "mp3"),  # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz
        (bytes([0xFF, 0xFD, 0x90, 0x64]), None),  # Layer II is not MP3
        (bytes([0xFF, 0xFB, 0xF0, 0x64]), None),  # bad bitrate index
        (bytes([0xFF, 0xF1, 0x50, 0x80]), "aac"),  # ADTS
        (b"RIFF\x00\x00\x00\x00AVI LIST", None),
        (b"RF64\xff\xff\xff\xffWAVEds64", "wav"),
        (b"OggS\x00\x02", "ogg"),
        (b"hello world, not audio", None),
        (b"", None),
    ],
)
def test_signatures(head, expected):
    assert sniff_format(head) == expected
