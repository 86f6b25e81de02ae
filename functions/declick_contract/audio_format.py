"""Recognise audio formats from their first bytes, not from file names.

Users name files whatever they like; the vendor accepts only WAV and MP3 and we must tell it
which one it gets. The first bytes settle it: RIFF/RF64 + WAVE for WAV, an ID3v2 tag or an
MPEG-1/2/2.5 Layer III frame header for MP3. A few other audio signatures are recognised only
to give a better rejection message ("FLAC is not supported" beats "not audio").
"""

from __future__ import annotations

from declick_contract.api import INPUT_FORMATS, MEDIA_TYPES

SNIFF_BYTES = 64

ACCEPTED_FORMATS = frozenset(INPUT_FORMATS)

_OTHER_SIGNATURES = (
    (b"fLaC", "flac"),
    (b"OggS", "ogg"),
    (b"FORM", "aiff"),
    (b"caff", "caf"),
    (b".snd", "au"),
)


def _is_mp3_frame_header(header: bytes) -> bool:
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xE0) != 0xE0:
        return False
    version = (header[1] >> 3) & 0b11  # 01 is reserved
    layer = (header[1] >> 1) & 0b11  # 01 is Layer III
    bitrate_index = header[2] >> 4  # 1111 is invalid
    sample_rate_index = (header[2] >> 2) & 0b11  # 11 is reserved
    return version != 0b01 and layer == 0b01 and bitrate_index != 0b1111 and sample_rate_index != 0b11


def sniff_format(header: bytes) -> str | None:
    """`"wav"`, `"mp3"`, another audio format's name, or None when the bytes are not audio we know."""
    if len(header) >= 12 and header[:4] in (b"RIFF", b"RF64") and header[8:12] == b"WAVE":
        return "wav"
    if header[:3] == b"ID3" and len(header) >= 10:
        return "mp3"
    if _is_mp3_frame_header(header):
        return "mp3"
    for signature, name in _OTHER_SIGNATURES:
        if header.startswith(signature):
            return name
    if len(header) >= 12 and header[4:8] == b"ftyp":
        return "mp4"
    if len(header) >= 2 and header[0] == 0xFF and (header[1] & 0xF6) == 0xF0:
        return "aac"
    return None


def content_type(fmt: str) -> str:
    return MEDIA_TYPES.get(fmt, "application/octet-stream")
