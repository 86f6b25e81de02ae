"""The learned verifier: its committed model, its reproducibility and its features."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy.linalg import LinAlgError

from bench import train_verifier
from declick.engine import DeclickParams, declick, verifier
from declick.engine import core as engine_core
from declick.engine.config import EngineConfig
from declick.engine.core import find_events

from .helpers import music_like


def test_retraining_from_the_committed_table_reproduces_the_committed_model():
    with np.load(train_verifier.DATA) as f:
        data = {k: f[k] for k in f.files}
    refit = train_verifier.fit(data)
    committed = json.loads(verifier.MODEL_PATH.read_text())
    assert committed["features"] == list(verifier.FEATURE_NAMES)
    np.testing.assert_allclose(refit["coef"], committed["coef"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(refit["bias"], committed["bias"], rtol=1e-6, atol=1e-9)
    assert refit["threshold"] == pytest.approx(committed["threshold"], rel=1e-6)
    assert refit["training"] == committed["training"]


def test_fit_separates_a_separable_toy_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, len(verifier.FEATURE_NAMES)))
    y = (x[:, 0] + 0.5 * x[:, 3] > 0).astype(float)
    model = verifier.fit_logistic(x, y)
    p = verifier.probability(model, x)
    assert np.mean((p > 0.5) == (y == 1)) > 0.97


def _events(x, rate):
    cfg = EngineConfig.make(rate, DeclickParams())
    pad = cfg.lookaround_samples
    xw = np.pad(x, pad, mode="reflect")
    return [(e.grown_start - pad, e.grown_stop - pad, e.features) for e in find_events(xw, cfg)], cfg


def test_an_impulse_is_a_candidate_the_verifier_accepts():
    rate = 44100
    x = music_like(rate, 1.0)
    x[22050] += 0.5
    events, _ = _events(x, rate)
    hits = [f for a, b, f in events if a <= 22050 < b]
    assert len(hits) == 1
    assert verifier.accepts(np.stack(hits)).all()
    assert len(hits[0]) == len(verifier.FEATURE_NAMES)


def test_a_steady_tone_has_no_accepted_event():
    rate = 16000
    t = np.arange(rate) / rate
    x = 0.3 * np.sin(2 * np.pi * 330 * t) + 1e-4 * np.random.default_rng(2).standard_normal(rate)
    events, _ = _events(x, rate)
    if events:
        assert not verifier.accepts(np.stack([f for *_, f in events])).any()


def test_engine_config_is_built_by_keyword_and_names_carry_units():
    cfg = EngineConfig.make(48000, DeclickParams(detection_mult=6.0, click_len_ms=20.0))
    assert cfg.max_core_samples == 960
    assert cfg.candidate_mult < cfg.detection_mult == 6.0
    with pytest.raises(TypeError):
        EngineConfig(*dataclasses.astuple(cfg))
    for f in dataclasses.fields(cfg):
        assert f.name.endswith(("_samples", "_hz", "_mult", "_order", "_ratio", "_blocks", "_factor")), f.name


def test_a_failed_solve_is_counted_as_unsolved_not_as_too_long(monkeypatch):
    def singular(*_args, **_kwargs):
        raise LinAlgError("singular")

    monkeypatch.setattr(engine_core, "_solve_band", singular)
    x = music_like(44100, 1.0)
    x[20000] += 0.6
    out, report = declick(x, 44100)
    assert report.skipped_unsolved == 1
    assert report.skipped_long == 0
    assert report.clicks_repaired == 0 and report.clicks_found == 1
    assert np.array_equal(out, x)
