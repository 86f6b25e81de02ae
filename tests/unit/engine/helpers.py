"""Test signals for the engine tests (synthetic, seeded)."""

from __future__ import annotations

import numpy as np


def tone(rate: int, seconds: float, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def music_like(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Tones with harmonics plus a little noise: realistic enough for the AR detector."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    x = sum(0.1 / (h + 1) * np.sin(2 * np.pi * 220.0 * (h + 1) * t + h) for h in range(5))
    x = x + 0.08 * np.sin(2 * np.pi * 330.0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    return x + 1e-3 * rng.standard_normal(len(t))


def to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32768), -32768, 32767).astype(np.int16)

