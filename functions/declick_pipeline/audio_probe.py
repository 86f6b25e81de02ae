"""How long an uploaded WAV or MP3 plays, read from its headers without decoding it.

submit_task needs the duration (whole seconds, for the vendor's `file_time`) and must refuse a file
that only looks like audio. It used to ask libsndfile through soundfile, which costs the submit
function numpy, cffi and a native library (most of a 79 MB layer and a slower cold start) for
two header reads. WAV is read here from its chunks (RIFF and RF64, PCM/float/A-law/mu-law, other
encodings through their `fact` sample count); MP3 by mutagen, a small pure-Python tagger that
syncs to real MPEG frames and reads the Xing/Info/VBRI header of variable-bitrate files.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from mutagen import MutagenError
from mutagen.mp3 import MP3

# WAVE format tags whose frames are fixed-size blocks (frames = data bytes / block_align).
_BLOCK_FORMATS = {0x0001: "PCM", 0x0003: "IEEE float", 0x0006: "A-law", 0x0007: "mu-law", 0xFFFE: "extensible"}
_RF64_SIZE_IN_DS64 = 0xFFFFFFFF


class UnreadableAudio(ValueError):
    """The file is not the audio its first bytes promised; the message says what is wrong."""


@dataclass(frozen=True)
class AudioFacts:
    """What submit needs: the vendor's `file_time`, and what the requested output format can hold."""

    duration_s: int
    channels: int
    sample_rate: int


def _wav_frames(handle: BinaryIO, file_size: int) -> tuple[int, int, int]:
    """(frames, sample rate, channels) of a RIFF or RF64 WAVE file."""
    head = handle.read(12)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
        raise UnreadableAudio("it has no RIFF/WAVE header")
    rf64 = head[:4] == b"RF64"
    fmt: tuple[int, int, int, int] | None = None  # format tag, channels, sample rate, block align
    fact_frames: int | None = None
    ds64_data_size: int | None = None
    data_size: int | None = None
    while True:
        chunk_head = handle.read(8)
        if len(chunk_head) < 8:
            break
        chunk_id, size = struct.unpack("<4sI", chunk_head)
        start = handle.tell()
        if chunk_id == b"ds64" and rf64:
            body = handle.read(min(size, 24))
            if len(body) < 24:
                raise UnreadableAudio("its RF64 ds64 chunk is truncated")
            _riff_size, ds64_data_size, _sample_count = struct.unpack("<QQQ", body)
        elif chunk_id == b"fmt ":
            body = handle.read(min(size, 16))
            if len(body) < 16:
                raise UnreadableAudio("its fmt chunk is truncated")
            tag, channels, rate, _byte_rate, block_align, _bits = struct.unpack("<HHIIHH", body)
            fmt = (tag, channels, rate, block_align)
        elif chunk_id == b"fact":
            body = handle.read(min(size, 4))
            if len(body) == 4:
                (fact_frames,) = struct.unpack("<I", body)
        elif chunk_id == b"data":
            if rf64 and size == _RF64_SIZE_IN_DS64:
                if ds64_data_size is None:
                    raise UnreadableAudio("it is RF64 without a ds64 chunk")
                size = ds64_data_size
            # A truncated file (an interrupted upload) still holds what was written, which is
            # what libsndfile would read too.
            data_size = min(size, max(0, file_size - start))
        if start + size >= file_size:
            break
        handle.seek(start + size + (size & 1))  # chunks are word-aligned
    if fmt is None:
        raise UnreadableAudio("it has no fmt chunk")
    if data_size is None:
        raise UnreadableAudio("it has no data chunk")
    tag, channels, rate, block_align = fmt
    if channels <= 0 or rate <= 0:
        raise UnreadableAudio(f"its fmt chunk declares {channels} channel(s) at {rate} Hz")
    if tag in _BLOCK_FORMATS:
        if block_align <= 0:
            raise UnreadableAudio("its fmt chunk declares a zero block size")
        return data_size // block_align, rate, channels
    if fact_frames is not None:
        return fact_frames, rate, channels
    raise UnreadableAudio(f"its encoding (WAVE format 0x{tag:04x}) gives no sample count")


# Layer III bitrates (kbit/s) by bitrate index and sample rates by index, per MPEG version bits.
_MPEG1_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_RATES = {0b11: (44_100, 48_000, 32_000), 0b10: (22_050, 24_000, 16_000), 0b00: (11_025, 12_000, 8_000)}
_SCAN_BYTES = 256 * 1024


def _frame_length(header: bytes) -> int | None:
    """Bytes of the Layer III frame starting with `header`; None if it is not one (or free format)."""
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xE0) != 0xE0:
        return None
    version, layer = (header[1] >> 3) & 0b11, (header[1] >> 1) & 0b11
    bitrate_index, rate_index, padding = header[2] >> 4, (header[2] >> 2) & 0b11, (header[2] >> 1) & 1
    if version == 0b01 or layer != 0b01 or bitrate_index in (0, 0b1111) or rate_index == 0b11:
        return None
    kbps = (_MPEG1_KBPS if version == 0b11 else _MPEG2_KBPS)[bitrate_index]
    return (144 if version == 0b11 else 72) * kbps * 1000 // _RATES[version][rate_index] + padding


def _has_two_frames(path: str) -> bool:
    """A complete frame follows the first one: what a decoder needs before it reports any audio.

    mutagen alone trusts a Xing/Info header, which is itself a frame: a file cut right after it
    (an interrupted upload) would get the whole file's duration although it holds no audio.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        head = handle.read(10)
        start = 0
        if head[:3] == b"ID3" and len(head) == 10:  # skip the ID3v2 tag (syncsafe size, optional footer)
            start = 10 + ((head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]) + (10 if head[5] & 0x10 else 0)
        handle.seek(start)
        # The longest Layer III frame is 1441 bytes: the window holds the frame after any candidate.
        window = handle.read(_SCAN_BYTES + 2048)
    for offset in range(min(len(window) - 3, _SCAN_BYTES)):
        first = _frame_length(window[offset : offset + 4])
        if first is None:
            continue
        second = _frame_length(window[offset + first : offset + first + 4])
        if second is not None and start + offset + first + second <= size:
            return True
    return False


def _mp3_info(path: str):
    if not _has_two_frames(path):
        raise UnreadableAudio("it holds no complete MPEG audio frame")
    try:
        info = MP3(path).info
    except (MutagenError, struct.error, ValueError) as exc:
        raise UnreadableAudio(f"no MPEG audio frames were found ({exc})") from None
    if info.sample_rate <= 0:
        raise UnreadableAudio("its MPEG frames declare no sample rate")
    return info


def probe(path: str, fmt: str) -> AudioFacts:
    """Duration (whole seconds, rounded up, at least 1), channels and rate; `UnreadableAudio` when
    the file has no audio frames."""
    if fmt == "wav":
        with open(path, "rb") as handle:
            frames, rate, channels = _wav_frames(handle, os.fstat(handle.fileno()).st_size)
        seconds = frames / rate
    elif fmt == "mp3":
        info = _mp3_info(path)
        seconds, rate, channels = info.length, info.sample_rate, info.channels
    else:
        raise UnreadableAudio(f"{fmt} is not a format this probe reads")
    if seconds <= 0:
        raise UnreadableAudio("it contains no audio frames")
    return AudioFacts(duration_s=max(1, math.ceil(seconds)), channels=channels, sample_rate=rate)


def duration_seconds(path: str, fmt: str) -> int:
    """Whole seconds, rounded up, at least 1; `UnreadableAudio` when the file has no audio frames."""
    return probe(path, fmt).duration_s
