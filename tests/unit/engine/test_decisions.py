"""The driver's repair decisions: the length gate and the checks after the restoration.

The rules are pure functions of the verifier's probability and the measured evidence, so their
thresholds are pinned here without faking the verifier; the end-to-end tests show the length gate
on real bursts.
"""

from __future__ import annotations

import numpy as np
import pytest

from declick.engine import DeclickParams, declick
from declick.engine.config import EngineConfig
from declick.engine.core import SignalVerdict, needs_signal_check, rms_frequency_hz, signal_verdict, too_long

from .helpers import music_like


@pytest.fixture(scope="module")
def cfg() -> EngineConfig:
    return EngineConfig.make(44100, DeclickParams(click_len_ms=5.0))


def test_a_burst_within_click_len_is_never_too_long(cfg):
    limit = cfg.max_core_samples + cfg.detect_order
    assert not too_long(limit, 0.0, cfg)
    assert not too_long(1, 0.0, cfg)


def test_a_burst_up_to_three_click_lens_needs_a_confident_verifier(cfg):
    n = cfg.max_core_samples + cfg.detect_order + 1
    assert cfg.long_core_samples == 3 * cfg.max_core_samples
    assert not too_long(n, 0.95, cfg)
    assert too_long(n, 0.85, cfg)
    n = cfg.long_core_samples + cfg.detect_order
    assert not too_long(n, 0.9, cfg)
    assert too_long(n, 0.89, cfg)


def test_a_burst_over_three_click_lens_is_too_long_however_sure(cfg):
    assert too_long(cfg.long_core_samples + cfg.detect_order + 1, 1.0, cfg)


@pytest.mark.parametrize(("click_len_ms", "long_ms"), [(5.0, 15.0), (10.0, 30.0), (15.0, 30.0), (30.0, 30.0)])
def test_no_burst_over_30_ms_is_a_click(click_len_ms, long_ms):
    cfg = EngineConfig.make(48000, DeclickParams(click_len_ms=click_len_ms))
    assert cfg.long_core_samples == round(long_ms * 48)
    assert too_long(cfg.long_core_samples + cfg.detect_order + 1, 1.0, cfg)


def test_the_scale_window_is_four_clicks_long_but_at_most_60_ms():
    def window(click_len_ms: float) -> int:
        return EngineConfig.make(48000, DeclickParams(click_len_ms=click_len_ms)).scale_window_blocks

    # blocks of 2.5 ms, odd count
    assert window(10.0) == 17
    assert window(15.0) == window(20.0) == window(30.0) == 25


def test_whitening_is_measured_only_where_a_check_can_keep_the_event():
    assert needs_signal_check(0.6)
    assert needs_signal_check(0.84)
    assert not needs_signal_check(0.86)
    # every event the checks could keep has its whitening measured
    for p in np.linspace(0.5, 1.0, 51):
        if signal_verdict(p, -100.0, 100.0) is not None:
            assert needs_signal_check(p)


@pytest.mark.parametrize(
    ("probability", "whitening_db", "rise_db", "verdict"),
    [
        # a plosive: fits the model fairly well and a louder stretch follows
        (0.7, 15.0, 8.0, SignalVerdict.PLOSIVE),
        # ... but not once the verifier is sure, nor when removal whitens a lot, nor without the rise
        (0.8, 19.0, 8.0, None),
        (0.7, 25.0, 8.0, None),
        (0.7, 19.0, 3.0, None),
        # fits the signal model: removal hardly makes the audio more predictable
        (0.8, 5.0, -10.0, SignalVerdict.FITS),
        (0.7, 17.9, 0.0, SignalVerdict.FITS),
        (0.86, 5.0, -10.0, None),
        (0.8, 18.1, -10.0, None),
        # a confident, well-whitened click
        (0.99, 40.0, 0.0, None),
    ],
)
def test_signal_verdict(probability, whitening_db, rise_db, verdict):
    assert signal_verdict(probability, whitening_db, rise_db) is verdict


@pytest.mark.parametrize(
    ("probability", "removed_hz", "verdict"),
    [
        # a low-frequency thump the verifier is unsure of: a labial release, not a click
        (0.8, 500.0, SignalVerdict.DULL),
        (0.8, 790.0, SignalVerdict.DULL),
        (0.8, 2000.0, None),
        (0.9, 500.0, None),
    ],
)
def test_a_dull_event_is_kept_unless_the_verifier_is_sure(probability, removed_hz, verdict):
    assert signal_verdict(probability, 30.0, 0.0, removed_hz) is verdict


def test_rms_frequency_of_a_tone_noise_and_an_impulse():
    rate = 44100
    t = np.arange(int(0.01 * rate)) / rate
    assert rms_frequency_hz(np.sin(2 * np.pi * 500 * t), rate) == pytest.approx(500, rel=0.02)
    white = np.random.default_rng(0).standard_normal(rate)
    # white noise: the first difference doubles the power, i.e. rate / (2 pi) * sqrt(2)
    assert rms_frequency_hz(white, rate) == pytest.approx(rate / (2 * np.pi) * np.sqrt(2), rel=0.02)
    assert rms_frequency_hz(np.array([0.0, 1.0]), rate) == rate / 4


def _with_burst(ms: float) -> tuple[np.ndarray, np.ndarray, slice]:
    rate = 44100
    clean = music_like(rate, 1.0)
    n = int(ms * 1e-3 * rate)
    dirty = clean.copy()
    dirty[22000:22000 + n] += 0.3 * np.random.default_rng(3).standard_normal(n)
    return clean, dirty, slice(22000, 22000 + n)


@pytest.mark.parametrize("ms", [9.0, 13.0])
def test_a_burst_longer_than_click_len_is_repaired_when_the_verifier_is_sure(ms):
    clean, dirty, where = _with_burst(ms)
    out, report = declick(dirty, 44100, DeclickParams(click_len_ms=5.0))
    assert report.skipped_long == 0
    assert any(c.start <= where.start and c.stop >= where.stop for c in report.clicks)
    # the burst's energy is mostly gone: the error against the clean signal drops by over 10 dB
    assert np.sum((out[where] - clean[where]) ** 2) < 0.1 * np.sum((dirty[where] - clean[where]) ** 2)


def test_a_burst_over_three_click_lens_is_left_alone():
    _, dirty, _ = _with_burst(20.0)
    out, report = declick(dirty, 44100, DeclickParams(click_len_ms=5.0))
    assert report.clicks_repaired == 0
    assert report.skipped_long == 1
    assert np.array_equal(out, dirty)


def _thump_in_a_pause() -> np.ndarray:
    """A 400 Hz damped thump (8 ms, 46 dB over a quiet floor): what a "b" or "p" release looks like."""
    rate = 16000
    x = 1e-4 * np.random.default_rng(0).standard_normal(rate)
    n = int(0.008 * rate)
    t = np.arange(n) / rate
    x[8000:8000 + n] += 0.02 * np.sin(2 * np.pi * 400 * t) * np.exp(-t / 0.0015) * np.minimum(1, t / 0.0005)
    return x


def test_a_thump_the_verifier_is_unsure_of_is_kept_by_the_dull_check(monkeypatch):
    x = _thump_in_a_pause()
    out, report = declick(x, 16000)
    assert report.clicks_repaired == 0
    assert report.skipped_signal == 1
    assert np.array_equal(out, x)
    # the dull check is what keeps it: without it the same thump is repaired
    monkeypatch.setattr("declick.engine.core._DULL_MAX_HZ", 0.0)
    _, report = declick(x, 16000)
    assert report.clicks_repaired == 1
