"""Clicks for the corpus, over wide ranges, placed where they hurt, with their truth.

Kinds (each a waveform *added* to the clean source):

- ``keyboard``: a synthetic key press or release: 1-3 sub-impacts, 2-15 ms long, attack 0.05-2 ms,
  noise through a random band (centre 300 Hz-8 kHz, octave to 3 octaves wide) or a resonance,
  with a random spectral tilt.
- ``mouse``: a damped ping (1.5-9 kHz, 0.5-4 ms) with a noisy onset, sometimes two of them.
- ``vinyl``: an impulse of 1-30 samples (random smooth or ragged shape, sometimes clipped flat at
  its top), one polarity mostly.
- ``crackle``: dense small vinyl impulses, 8-20 per second, 0-12 dB above the local level.
- ``recorded``: real key presses and releases of an IBM Model M keyboard recorded by the
  bucklespring project (Debian package ``bucklespring-data``), trimmed to their 5-30 ms attack
  and ringing, high-passed at 150 Hz (the desk thump would be a different problem).

Levels are drawn per click, uniformly in 0-24 dB (crackle: 0-12 dB) of peak over the *local*
RMS of the clean source (40 ms around the click, floored at the source RMS - 20 dB so that a
click in a pause is still audible). Half of the clicks are placed on onsets of the source (speech
onsets and plosives, note attacks: where the level jumps), the others anywhere.
"""

from __future__ import annotations

import glob
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt

KINDS = ("keyboard", "mouse", "vinyl", "crackle", "recorded")
BUCKLESPRING = "/usr/share/buckle/wav/*.wav"


@dataclass(frozen=True)
class TrueClick:
    """One added click: frames ``[start, stop)``, its peak over the local RMS in dB."""

    kind: str
    start: int
    stop: int
    level_db: float


def seed_of(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _band_noise(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    centre = rng.uniform(300.0, min(8000.0, 0.4 * rate))
    octaves = rng.uniform(1.0, 3.0)
    lo = max(60.0, centre / 2 ** (octaves / 2))
    hi = min(0.45 * rate, centre * 2 ** (octaves / 2))
    if hi <= lo * 1.1:
        lo = hi / 2
    sos = butter(int(rng.integers(1, 4)), [lo, hi], btype="band", fs=rate, output="sos")
    noise = sosfilt(sos, rng.standard_normal(n + 128))[128:]
    if rng.random() < 0.5:  # a tilt: brighter or duller
        noise = noise + rng.uniform(-0.8, 0.8) * np.concatenate(([0.0], np.diff(noise)))
    return noise


def keyboard_click(rate: int, rng: np.random.Generator) -> np.ndarray:
    total = int(rng.uniform(2e-3, 15e-3) * rate)
    out = np.zeros(total)
    impacts = int(rng.integers(1, 4))
    for i in range(impacts):
        at = 0 if i == 0 else int(rng.uniform(0.1, 0.6) * total)
        n = total - at
        if n < 4:
            continue
        attack = max(1, int(rng.uniform(0.05e-3, 2e-3) * rate))
        attack = min(attack, n // 3 + 1)
        env = np.concatenate((np.linspace(0.0, 1.0, attack, endpoint=False),
                              np.exp(-np.log(1000.0) * np.arange(n - attack) / max(1, n - attack))))
        out[at:] += _band_noise(n, rate, rng) * env * (1.0 if i == 0 else rng.uniform(0.3, 0.8))
    return out / (np.max(np.abs(out)) + 1e-12)


def mouse_click(rate: int, rng: np.random.Generator) -> np.ndarray:
    parts = []
    for _ in range(int(rng.integers(1, 3))):
        n = max(4, int(rng.uniform(0.5e-3, 4e-3) * rate))
        t = np.arange(n) / rate
        freq = rng.uniform(1500.0, min(9000.0, 0.42 * rate))
        ping = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) * np.exp(-np.log(300.0) * np.arange(n) / n)
        onset = min(n, max(2, int(0.2e-3 * rate)))
        ping[:onset] += rng.uniform(0.2, 0.8) * rng.standard_normal(onset) * np.linspace(1, 0, onset)
        parts.append(ping)
        parts.append(np.zeros(int(rng.uniform(0.3e-3, 1.5e-3) * rate)))
    out = np.concatenate(parts[:-1])
    return out / (np.max(np.abs(out)) + 1e-12)


def vinyl_click(rate: int, rng: np.random.Generator) -> np.ndarray:
    n = int(rng.integers(1, 31))
    if rng.random() < 0.5:
        shape = np.hanning(n + 2)[1:-1] if n > 2 else np.ones(n)
        shape = shape * (1.0 + 0.3 * rng.standard_normal(n))
    else:
        shape = np.abs(rng.standard_normal(n)) + 0.3
        shape = shape * np.sign(rng.standard_normal(n) + 1.5)
    shape = shape / (np.max(np.abs(shape)) + 1e-12)
    if rng.random() < 0.3:  # clipped flat by the transfer chain
        shape = np.clip(shape, -0.6, 0.6) / 0.6
    return shape * rng.choice((-1.0, 1.0))


@lru_cache(maxsize=8)
def recorded_bank(rate: int) -> tuple[np.ndarray, ...]:
    """The bucklespring key sounds at ``rate``, trimmed to their attack and ringing (5-30 ms)."""
    files = sorted(glob.glob(BUCKLESPRING))
    if not files:
        raise FileNotFoundError("recorded clicks need the Debian package bucklespring-data")
    bank = []
    for f in files:
        x, r = sf.read(f, dtype="float64", always_2d=True)
        x = x.mean(axis=1)
        if r != rate:
            g = np.gcd(r, rate)
            x = resample_poly(x, rate // g, r // g)
        x = sosfilt(butter(2, 150.0, btype="high", fs=rate, output="sos"), x)
        a = np.abs(x)
        peak = float(a.max())
        if peak <= 0:
            continue
        above = np.flatnonzero(a > peak * 0.03)
        start = max(0, int(above[0]) - int(0.0003 * rate))
        end = int(above[-1]) + 1
        end = min(end, start + int(0.030 * rate))
        end = max(end, start + int(0.005 * rate))
        c = x[start:end].copy()
        fade = min(len(c) // 4, int(0.002 * rate))
        if fade > 1:
            c[-fade:] *= np.linspace(1, 0, fade)
        bank.append(c / np.max(np.abs(c)))
    return tuple(bank)


def recorded_click(rate: int, rng: np.random.Generator) -> np.ndarray:
    bank = recorded_bank(rate)
    return bank[int(rng.integers(len(bank)))] * rng.choice((-1.0, 1.0))


_MAKERS = {"keyboard": keyboard_click, "mouse": mouse_click, "vinyl": vinyl_click, "crackle": vinyl_click,
           "recorded": recorded_click}


def _local_rms(mono: np.ndarray, rate: int) -> np.ndarray:
    w = max(1, int(0.04 * rate))
    p = np.convolve(mono ** 2, np.ones(w) / w, mode="same")
    floor = float(np.mean(mono ** 2)) * 10 ** (-20 / 10)
    return np.sqrt(np.maximum(p, floor))


def onsets(mono: np.ndarray, rate: int) -> np.ndarray:
    """Frames where the level jumps by 9 dB or more within 10 ms (speech onsets, plosives, attacks)."""
    hop = max(1, int(0.005 * rate))
    n = len(mono) // hop
    if n < 4:
        return np.zeros(0, dtype=int)
    e = (mono[:n * hop].reshape(n, hop) ** 2).mean(axis=1) + 1e-12
    floor = float(np.mean(e)) * 1e-3
    jump = 10 * np.log10((e[2:] + floor) / (e[:-2] + floor))
    idx = np.flatnonzero((jump[1:] > 9.0) & (jump[1:] >= jump[:-1])) + 2
    return idx * hop


def corrupt(clean: np.ndarray, rate: int, kind: str, rng: np.random.Generator, events_per_s: float | None = None,
            onset_fraction: float = 0.5) -> tuple[np.ndarray, list[TrueClick]]:
    """Add clicks of one kind to ``clean`` ((frames,) or (frames, channels)); returns the result and the truth.

    Stereo: keyboard, mouse and recorded clicks reach both channels (gains 0.5-1, up to 0.2 ms
    apart); vinyl impulses and crackle hit one channel or both with their own shapes.
    """
    stereo = clean.ndim == 2
    mono = clean.mean(axis=1) if stereo else clean
    n = len(mono)
    lrms = _local_rms(mono, rate)
    if events_per_s is None:
        events_per_s = float(rng.uniform(8, 20)) if kind == "crackle" else 2.0
    max_db = 12.0 if kind == "crackle" else 24.0
    count = max(1, int(events_per_s * n / rate))
    edge = int(0.03 * rate)
    gap = int((0.02 if kind == "crackle" else 0.05) * rate)
    ons = onsets(mono, rate)
    ons = ons[(ons > edge) & (ons < n - edge - int(0.04 * rate))]
    noise = np.zeros_like(clean)
    truth: list[TrueClick] = []
    taken = np.zeros(n, bool)
    tries = 0
    while len(truth) < count and tries < count * 30:
        tries += 1
        if len(ons) and rng.random() < onset_fraction and kind != "crackle":
            pos = int(ons[rng.integers(len(ons))] + rng.uniform(-0.002, 0.010) * rate)
        else:
            pos = int(rng.integers(edge, max(edge + 1, n - edge)))
        click = _MAKERS[kind](rate, rng)
        stop = pos + len(click)
        if pos < edge or stop > n - edge or taken[max(0, pos - gap):stop + gap].any():
            continue
        level = float(rng.uniform(0.0, max_db))
        amp = float(np.max(lrms[pos:stop])) * 10 ** (level / 20)
        if not stereo:
            noise[pos:stop] += click * amp
        elif kind in ("vinyl", "crackle"):
            chans = [int(rng.integers(2))] if rng.random() < 0.6 else [0, 1]
            for ch in chans:
                c = click if ch == chans[0] else _MAKERS[kind](rate, rng)[:len(click)]
                noise[pos:pos + len(c), ch] += c * amp
        else:
            d = int(rng.integers(0, max(1, int(0.0002 * rate)) + 1))
            g = rng.uniform(0.5, 1.0, 2)
            g /= g.max()
            noise[pos:stop, 0] += click * amp * g[0]
            end = min(n, stop + d)
            noise[pos + d:end, 1] += click[:end - pos - d] * amp * g[1]
            stop = end
        taken[pos:stop] = True
        truth.append(TrueClick(kind, pos, stop, level))
    truth.sort(key=lambda c: c.start)
    out = clean + noise
    top = float(np.max(np.abs(out)))
    if top > 0.99:  # a loud click is clipped as a real converter would
        out = np.clip(out, -0.99, 0.99)
    return out, truth
