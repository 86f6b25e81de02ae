"""File front-end of the engine: read WAV/MP3 in blocks, declick, write WAV/MP3.

Integer PCM is read as integers and written back with the same subtype, so samples away from the
clicks are bit-exact and nothing is dithered. Blocks keep memory bounded on long files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from .core import Declicker
from .params import AudioReadError, AudioWriteError, CleanSummary, DeclickParams, ParameterError, check_sample_rate

OUT_FORMATS = ("wav", "mp3")
_BLOCK_FRAMES = 1 << 16
# subtypes read as integers: (numpy dtype, quantisation step inside that dtype)
_INT_SUBTYPES = {"PCM_16": ("int16", 1), "PCM_24": ("int32", 256), "PCM_32": ("int32", 1),
                 "PCM_U8": ("int16", 256), "PCM_S8": ("int16", 256)}
_WAV_SUBTYPES = {"PCM_16", "PCM_24", "PCM_32", "PCM_U8", "FLOAT", "DOUBLE"}
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)

ProgressCallback = Callable[[int, int], None]


def resolve_format(dst: str | os.PathLike[str], out_format: str | None) -> str:
    """``out_format`` if given, otherwise guessed from the destination's suffix (WAV by default)."""
    if out_format is not None:
        fmt = str(out_format).lower()
        if fmt not in OUT_FORMATS:
            raise ParameterError(f"output format must be one of {', '.join(OUT_FORMATS)}, got {out_format!r}")
        return fmt
    suffix = Path(dst).suffix.lower().lstrip(".")
    return suffix if suffix in OUT_FORMATS else "wav"


def open_input(src: str | os.PathLike[str]) -> sf.SoundFile:
    try:
        return sf.SoundFile(str(src))
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
        raise AudioReadError(f"cannot read audio from {src}: {exc}") from exc


def read_audio(src: str | os.PathLike[str]) -> tuple[np.ndarray, int, str]:
    """Whole file as ``(frames, channels)`` array in its natural dtype, the rate and the subtype."""
    with open_input(src) as f:
        dtype, _ = _INT_SUBTYPES.get(f.subtype, ("float64", 1))
        try:
            data = f.read(dtype=dtype, always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioReadError(f"cannot decode {src}: {exc}") from exc
        return data, f.samplerate, f.subtype


def clean_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], params: DeclickParams | None = None,
               out_format: str | None = None, progress: ProgressCallback | None = None) -> CleanSummary:
    """Declick ``src`` into ``dst``.

    ``out_format`` is ``"wav"``, ``"mp3"`` or None (from the suffix of ``dst``). A WAV output keeps
    the input's subtype when WAV has it (else 16-bit PCM). ``progress(done_frames, total_frames)``
    is called after each block. Raises :class:`AudioReadError` for unreadable input,
    :class:`ParameterError` for unsupported parameters or sample rates and
    :class:`AudioWriteError` when the output cannot be written.
    """
    params = params or DeclickParams()
    fmt = resolve_format(dst, out_format)
    started = time.perf_counter()
    with open_input(src) as fin:
        rate = check_sample_rate(fin.samplerate)
        channels = fin.channels
        total = fin.frames
        dtype, step = _INT_SUBTYPES.get(fin.subtype, ("float32" if fin.subtype != "DOUBLE" else "float64", 1))
        if fmt == "mp3":
            if rate not in _MP3_RATES:
                raise AudioWriteError(f"MP3 cannot store {rate} Hz audio; write WAV instead")
            if channels > 2:
                raise AudioWriteError(f"MP3 cannot store {channels} channels; write WAV instead")
            out_kw = {"format": "MP3", "subtype": "MPEG_LAYER_III"}
        else:
            subtype = fin.subtype if fin.subtype in _WAV_SUBTYPES else "PCM_16"
            out_kw = {"format": "WAV", "subtype": subtype}
        engine = Declicker(rate, channels, params, np.dtype(dtype), quant_step=step)
        tmp = Path(f"{dst}.partial")
        try:
            fout = sf.SoundFile(str(tmp), "w", samplerate=rate, channels=channels, **out_kw)
        except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
            raise AudioWriteError(f"cannot write {fmt.upper()} to {dst}: {exc}") from exc
        done = 0
        try:
            with fout:
                while True:
                    try:
                        block = fin.read(_BLOCK_FRAMES, dtype=dtype, always_2d=True)
                    except (sf.LibsndfileError, RuntimeError) as exc:
                        raise AudioReadError(f"cannot decode {src}: {exc}") from exc
                    if len(block) == 0:
                        break
                    done += len(block)
                    out = engine.push(block)
                    if len(out):
                        fout.write(out)
                    if progress is not None:
                        progress(done, max(total, done))
                out = engine.finish()
                if len(out):
                    fout.write(out)
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    report = engine.report
    return CleanSummary(
        clicks_found=report.clicks_found,
        clicks_repaired=report.clicks_repaired,
        audio_seconds=report.frames / rate,
        wall_seconds=time.perf_counter() - started,
        sample_rate=rate,
        channels=channels,
        frames=report.frames,
        out_format=fmt,
        clicks=tuple(report.clicks),
    )
