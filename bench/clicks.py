"""Synthesis of click-corrupted audio with the click positions known.

Reusable by the benchmark, the sample generator and tests: everything is seeded, pure numpy/scipy.

Click kinds (each returns the click waveform, to be *added* to clean audio):

- ``keyboard``: a key press or release: band-passed noise (centre 1.5-6 kHz), attack 0.1-0.4 ms,
  exponential decay reaching -40 dB after 1-10 ms.
- ``mouse``: a short damped ping (2-7 kHz resonance, -40 dB after 0.7-3 ms) with a tiny noise onset.
- ``vinyl``: an impulse of 1-20 samples (random shape, sharp edges, mostly one polarity).

``level`` is the click's peak relative to the clean signal's RMS, in dB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfilt

KINDS = ("keyboard", "mouse", "vinyl")
LEVELS_DB = {"low": 0.0, "mid": 10.0, "high": 20.0}


@dataclass(frozen=True)
class PlacedClick:
    kind: str
    start: int
    stop: int


def keyboard_click(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    attack = rng.uniform(0.1e-3, 0.4e-3)
    decay = rng.uniform(1e-3, 10e-3)  # time to fall by 40 dB
    n_a = max(1, int(attack * sample_rate))
    n_d = max(2, int(decay * sample_rate))
    env = np.concatenate((np.linspace(0.0, 1.0, n_a, endpoint=False), np.exp(-np.log(100.0) * np.arange(n_d) / n_d)))
    centre = rng.uniform(1500.0, min(6000.0, 0.4 * sample_rate))
    bw = rng.uniform(0.5, 1.2) * centre
    lo = max(100.0, centre - bw / 2)
    hi = min(0.45 * sample_rate, centre + bw / 2)
    sos = butter(2, [lo, hi], btype="band", fs=sample_rate, output="sos")
    noise = sosfilt(sos, rng.standard_normal(len(env) + 64))[64:]
    click = noise * env
    return click / np.max(np.abs(click))


def mouse_click(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    decay = rng.uniform(0.7e-3, 3e-3)
    n = max(4, int(decay * sample_rate))
    t = np.arange(n) / sample_rate
    freq = rng.uniform(2000.0, min(7000.0, 0.4 * sample_rate))
    ping = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) * np.exp(-np.log(100.0) * np.arange(n) / n)
    onset = min(n, max(2, int(0.2e-3 * sample_rate)))
    ping[:onset] += 0.5 * rng.standard_normal(onset) * np.linspace(1, 0, onset)
    return ping / np.max(np.abs(ping))


def vinyl_click(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    n = int(rng.integers(1, 21))
    shape = np.hanning(n + 2)[1:-1] if n > 2 else np.ones(n)
    click = shape * (1.0 + 0.3 * rng.standard_normal(n)) * rng.choice((-1.0, 1.0))
    return click / np.max(np.abs(click))


_MAKERS = {"keyboard": keyboard_click, "mouse": mouse_click, "vinyl": vinyl_click}


def make_click(kind: str, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    return _MAKERS[kind](sample_rate, rng)


def corrupt(clean: np.ndarray, sample_rate: int, kind: str, level_db: float, rng: np.random.Generator,
                   rate_per_s: float = 2.0, min_gap_s: float = 0.06) -> tuple[np.ndarray, np.ndarray,
                                                                            list[PlacedClick]]:
    """Add clicks of one kind at random, non-overlapping places of a mono float signal.

    Keyboard clicks come in press/release pairs 40-150 ms apart. Returns the corrupted signal,
    the clean reference (both scaled down together if the sum would clip) and the true spans.
    """
    n = len(clean)
    rms = float(np.sqrt(np.mean(clean ** 2))) or 1e-3
    peak = rms * 10 ** (level_db / 20)
    noise = np.zeros(n)
    spans: list[PlacedClick] = []
    count = max(1, int(rate_per_s * n / sample_rate))
    edge = int(0.05 * sample_rate)
    gap = int(min_gap_s * sample_rate)
    positions = rng.permutation(np.arange(edge, n - edge)) if n > 2 * edge else np.array([], dtype=int)
    taken: list[tuple[int, int]] = []
    groups = 0
    for pos in positions[:count * 20]:
        if groups >= count:
            break
        starts = [int(pos)]
        if kind == "keyboard":
            starts.append(int(pos + rng.uniform(0.04, 0.15) * sample_rate))
        made = [(g, make_click(kind, sample_rate, rng) * peak * rng.uniform(0.7, 1.0)) for g in starts]
        if any(g + len(c) + edge > n or any(g - gap < b and g + len(c) + gap > a for a, b in taken)
               for g, c in made):
            continue
        for g, click in made:
            noise[g:g + len(click)] += click
            taken.append((g, g + len(click)))
            spans.append(PlacedClick(kind, g, g + len(click)))
        groups += 1
    spans.sort(key=lambda c: c.start)
    corrupted = clean + noise
    top = float(np.max(np.abs(corrupted))) if n else 0.0
    scale = 0.95 / top if top > 0.95 else 1.0
    return corrupted * scale, clean * scale, spans


def voice_like(sample_rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Synthetic voiced/unvoiced material: a glottal-ish pulse train through moving formants.

    Used where no recorded or espeak-ng speech is at hand (tests, fallback of the sample).
    """
    from scipy.signal import lfilter

    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    f0 = 120 + 25 * np.sin(2 * np.pi * 0.7 * t) + 10 * np.sin(2 * np.pi * 3.1 * t)
    phase = np.cumsum(f0 / sample_rate)
    # smooth glottal flow derivative-like pulses rather than ideal impulses
    saw = phase % 1.0
    source = np.exp(-((saw - 0.6) / 0.08) ** 2) - np.exp(-((saw - 0.75) / 0.05) ** 2) * 1.2
    source += 0.02 * rng.standard_normal(n)
    # one all-pole filter per vowel, cross-faded smoothly (switching coefficients under a running
    # filter state would itself make clicks)
    formant_sets = [(700, 1220, 2600), (300, 2300, 3000), (500, 900, 2400), (400, 1700, 2500)]
    outs = []
    for fs in formant_sets:
        a = np.array([1.0])
        for fc, bw in zip(fs, (80, 100, 120), strict=True):
            r = np.exp(-np.pi * bw / sample_rate)
            a = np.convolve(a, [1, -2 * r * np.cos(2 * np.pi * fc / sample_rate), r * r])
        y = lfilter([1.0], a, source)
        outs.append(y / (np.std(y) + 1e-12))
    pos = t * 2.2
    out = np.zeros(n)
    for i, y in enumerate(outs):
        dist = np.abs(((pos - i) + len(outs) / 2) % len(outs) - len(outs) / 2)
        out += y * np.clip(1.0 - dist, 0.0, 1.0)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t) ** 2
    syll = (np.sin(2 * np.pi * 1.6 * t) > -0.6).astype(float)
    syll = np.convolve(syll, np.hanning(int(0.03 * sample_rate)) / (0.015 * sample_rate), mode="same")
    out *= env * syll
    return 0.3 * out / (np.max(np.abs(out)) + 1e-12)


def synth_music(sample_rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Polyphonic synthetic music: plucked/organ-like notes with harmonics, vibrato and decays."""
    n = int(seconds * sample_rate)
    out = np.zeros(n)
    t_note = 0.0
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    while t_note < seconds:
        dur = rng.uniform(0.2, 0.8)
        start = int(t_note * sample_rate)
        length = min(n - start, int((dur + 0.4) * sample_rate))
        if length <= 0:
            break
        t = np.arange(length) / sample_rate
        for voice in range(rng.integers(1, 4)):
            midi = 48 + 12 * voice + int(rng.choice(scale))
            f = 440.0 * 2 ** ((midi - 69) / 12)
            vib = 1 + 0.003 * np.sin(2 * np.pi * 5.5 * t)
            phase = 2 * np.pi * np.cumsum(f * vib) / sample_rate
            tone = sum((0.6 ** h) * np.sin((h + 1) * phase) for h in range(6) if (h + 1) * f < 0.45 * sample_rate)
            attack = np.minimum(1.0, t / rng.uniform(0.005, 0.03))
            env = attack * np.exp(-t / rng.uniform(0.2, 0.8))
            out[start:start + length] += 0.15 * tone * env
        t_note += dur
    out += 1e-4 * rng.standard_normal(n)
    return 0.5 * out / (np.max(np.abs(out)) + 1e-12)
