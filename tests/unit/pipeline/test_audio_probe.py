"""The submit path's duration probe on real files written by libsndfile, and on broken ones.

Every good file is also read by soundfile (what the probe replaced): the whole-second durations
must agree, so the vendor gets the same `file_time` as before.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import soundfile

from declick_contract.audio_format import sniff_format
from declick_pipeline.audio_probe import UnreadableAudio, duration_seconds

RATE = 16_000


def write(path, seconds: float, *, fmt: str, subtype: str | None = None, channels: int = 1, rate: int = RATE):
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 330 * t)
    samples = tone if channels == 1 else np.column_stack([tone] * channels)
    soundfile.write(str(path), samples, rate, format=fmt, subtype=subtype)
    return path


def libsndfile_seconds(path) -> int:
    info = soundfile.info(str(path))
    return max(1, math.ceil(info.frames / info.samplerate))


@pytest.mark.parametrize(
    ("fmt", "subtype", "channels", "seconds", "suffix"),
    [
        ("WAV", "PCM_16", 1, 2.5, "wav"),
        ("WAV", "PCM_24", 2, 0.4, "wav"),
        ("WAV", "FLOAT", 2, 3.2, "wav"),
        ("WAV", "ULAW", 1, 1.7, "wav"),
        ("WAV", "IMA_ADPCM", 1, 2.2, "wav"),  # block-compressed: frames come from the fact chunk
        ("WAVEX", "PCM_16", 2, 1.1, "wav"),
        ("RF64", "PCM_16", 1, 4.6, "wav"),
        ("MP3", "MPEG_LAYER_III", 1, 2.5, "mp3"),
        ("MP3", "MPEG_LAYER_III", 2, 7.3, "mp3"),
    ],
)
def test_durations_agree_with_libsndfile(tmp_path, fmt, subtype, channels, seconds, suffix):
    path = write(tmp_path / f"a.{suffix}", seconds, fmt=fmt, subtype=subtype, channels=channels)
    assert sniff_format(path.read_bytes()[:64]) == suffix
    assert duration_seconds(str(path), suffix) == libsndfile_seconds(path) == math.ceil(seconds)


def test_a_very_short_file_counts_one_second(tmp_path):
    path = write(tmp_path / "blip.wav", 0.05, fmt="WAV", subtype="PCM_16")
    assert duration_seconds(str(path), "wav") == 1


def test_a_truncated_wav_counts_what_is_there(tmp_path):
    """An interrupted upload: the data chunk promises more than the file holds."""
    path = write(tmp_path / "full.wav", 4.0, fmt="WAV", subtype="PCM_16")
    data = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: 44 + RATE * 2 * 3 // 2])  # 1.5 s of 16-bit mono
    assert duration_seconds(str(cut), "wav") == 2


def _chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


PCM_FMT = struct.pack("<HHIIHH", 1, 1, RATE, RATE * 2, 2, 16)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("header only", _riff(_chunk(b"fmt ", PCM_FMT), _chunk(b"data", b"")), "no audio frames"),
        ("no fmt chunk", _riff(_chunk(b"data", b"\0" * 3200)), "no fmt chunk"),
        (
            "no data chunk",
            _riff(_chunk(b"fmt ", PCM_FMT), _chunk(b"LIST", b"INFOISFT\x04\0\0\0abc\0")),
            "no data chunk",
        ),
        ("truncated fmt", _riff(_chunk(b"fmt ", PCM_FMT[:10])), "fmt chunk is truncated"),
        ("RIFF header cut", b"RIFF\x24\x08\0\0WAV", "no RIFF/WAVE header"),
        (
            "zero sample rate",
            _riff(_chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 0, 0, 2, 16)), _chunk(b"data", b"\0" * 64)),
            "0 Hz",
        ),
        (
            "compressed without a sample count",
            _riff(_chunk(b"fmt ", struct.pack("<HHIIHH", 0x55, 1, RATE, 2000, 1, 0)), _chunk(b"data", b"\0" * 64)),
            "gives no sample count",
        ),
        ("RF64 without ds64", b"RF64\xff\xff\xff\xffWAVE" + _chunk(b"fmt ", PCM_FMT) + b"data\xff\xff\xff\xff", "ds64"),
    ],
)
def test_broken_wav_files_are_unreadable(tmp_path, name, content, reason):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(UnreadableAudio, match=reason):
        duration_seconds(str(path), "wav")


def test_wav_chunks_after_the_data_are_skipped(tmp_path):
    """Tags may follow the audio (LIST/INFO, id3 chunks); odd-sized chunks are padded."""
    content = _riff(_chunk(b"fmt ", PCM_FMT), _chunk(b"data", b"\0" * (RATE * 2 * 3)), _chunk(b"LIST", b"odd"))
    path = tmp_path / "tagged.wav"
    path.write_bytes(content)
    assert duration_seconds(str(path), "wav") == 3


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("ID3 tag and then text", lambda mp3: b"ID3\x04\0\0\0\0\0\x0a" + b"\0" * 10 + b"not audio at all " * 200),
        ("one frame header and zeros", lambda mp3: b"\xff\xfb\x90\x64" + b"\0" * 4000),
        ("first 200 bytes of a real MP3", lambda mp3: mp3[:200]),
    ],
)
def test_broken_mp3_files_are_unreadable(tmp_path, name, make):
    real = write(tmp_path / "real.mp3", 2.0, fmt="MP3", subtype="MPEG_LAYER_III").read_bytes()
    path = tmp_path / "broken.mp3"
    path.write_bytes(make(real))
    assert sniff_format(path.read_bytes()[:64]) == "mp3"  # it passes the first check...
    with pytest.raises(UnreadableAudio):  # ...and the probe still refuses it
        duration_seconds(str(path), "mp3")


def test_other_formats_are_not_probed(tmp_path):
    path = write(tmp_path / "a.flac", 1.0, fmt="FLAC")
    with pytest.raises(UnreadableAudio, match="flac"):
        duration_seconds(str(path), "flac")
