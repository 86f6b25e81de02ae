"""Small real audio files for the end-to-end tests (under a second: the pipeline, not the engine, is tested)."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

RATE = 16_000


def speechlike(seconds: float = 0.6, rate: int = RATE, clicks: int = 3, seed: int = 0) -> np.ndarray:
    """A modulated tone with a few sharp clicks, float in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.2 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    for position in rng.integers(rate // 20, len(signal) - rate // 20, clicks):
        signal[position : position + 12] += 0.5 * rng.standard_normal(12)
    return np.clip(signal, -1, 1)


def encode(samples: np.ndarray, fmt: str, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt)
    return buffer.getvalue()


def wav(seconds: float = 0.6, seed: int = 0) -> bytes:
    return encode(speechlike(seconds, seed=seed), "WAV")


def mp3(seconds: float = 0.6, seed: int = 0) -> bytes:
    return encode(speechlike(seconds, seed=seed), "MP3")


def flac(seconds: float = 0.6, seed: int = 0) -> bytes:
    return encode(speechlike(seconds, seed=seed), "FLAC")


def decode(data: bytes) -> tuple[np.ndarray, int, str]:
    """Samples, rate and container format of an encoded file."""
    with sf.SoundFile(io.BytesIO(data)) as f:
        return f.read(), f.samplerate, f.format
