"""The engine's fast numeric helpers against plain formulations of the same sums.

The helpers are laid out for speed (flat arrays, gathers, in-place padding); these tests pin that
they still compute exactly what the straightforward code computes, bit for bit where the
arithmetic is the same and to rounding where the reference sums in another order.
"""

from __future__ import annotations

import numpy as np
import pytest

from declick.engine import DeclickParams
from declick.engine.config import EngineConfig
from declick.engine.core import (
    _add_weighted_band,
    _median,
    _window_filters,
    detection_margin,
    local_scale,
    prediction_errors,
)


@pytest.mark.parametrize("rate", [16000, 44100])
def test_prediction_errors_are_each_frames_own_filters(rate):
    """Frame j's forward error uses the filter fitted just before it, the backward error the one
    fitted just after it (three windows on), tap by tap in single precision."""
    cfg = EngineConfig.make(rate, DeclickParams())
    rng = np.random.default_rng(5)
    x = np.cumsum(rng.standard_normal(rate // 2)) * 1e-3 + rng.standard_normal(rate // 2) * 1e-3
    x[rate // 4] += 0.5
    err, ef, m = prediction_errors(x, cfg)
    length, p = cfg.detect_frame_samples, cfg.detect_order
    frames = (len(x) - 2 * m) // length
    x32 = x.astype(np.float32)
    a = _window_filters(x32, m - 2 * length, frames + 3, length, 2 * length, p, rate).astype(np.float32)
    ref_f = np.zeros((frames, length), np.float32)
    ref_b = np.zeros((frames, length), np.float32)
    for j in range(frames):
        base = m + j * length
        for k in range(p + 1):
            ref_f[j] += a[j, k] * x32[base - k:base - k + length]
            ref_b[j] += a[j + 3, k] * x32[base + k:base + k + length]
    assert np.array_equal(ef, ref_f.ravel())
    assert np.array_equal(err, np.minimum(np.abs(ref_f), np.abs(ref_b)).ravel().astype(np.float64))
    assert err.dtype == np.float64 and len(err) == frames * length == len(ef)
    assert m == detection_margin(cfg)


def _band_by_diagonals(b: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    q = len(b) - 1
    products = np.multiply.outer(b, b)
    ab = np.zeros((q + 1, n))
    for d in range(min(q, n - 1) + 1):
        ab[q - d, d:] = np.correlate(w[d:n - d + q], products.diagonal(-d), mode="valid")
    return ab


@pytest.mark.parametrize("q", [0, 3, 11, 13])
@pytest.mark.parametrize("n", [1, 5, 12, 60])
def test_weighted_band_is_b_transposed_w_b(q, n):
    """The band added for the click term is the upper band of B^T diag(w) B, one correlation per
    diagonal as written out plainly, and placed at the right columns of a wider matrix."""
    rng = np.random.default_rng(q * 100 + n)
    b = rng.standard_normal(q + 1)
    w = 1.0 / rng.uniform(0.01, 2.0, n + q)
    bw, col = q + 4, 3
    ab = np.zeros((bw + 1, col + n + 2), order="F")
    _add_weighted_band(ab, b, w, col, n)

    plain = _band_by_diagonals(b, w, n)
    assert np.array_equal(ab[bw - q:, col:col + n], plain)
    assert not ab[:bw - q].any() and not ab[:, :col].any() and not ab[:, col + n:].any()

    conv = np.zeros((n + q, n))
    for i in range(n):
        conv[i:i + q + 1, i] = b
    dense = conv.T @ (w[:, None] * conv)
    for d in range(min(bw, n - 1) + 1):
        np.testing.assert_allclose(ab[bw - d, col + d:col + n], np.diag(dense, d), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [1, 109, 110, 111, 5000, 44101])
def test_local_scale_pads_only_the_partial_last_block_with_its_edge(n):
    cfg = EngineConfig.make(44100, DeclickParams())
    err = np.abs(np.random.default_rng(n).standard_normal(n))
    sub = cfg.scale_block_samples
    padded = np.pad(err, (0, -n % sub), mode="edge")
    assert np.array_equal(local_scale(err, cfg), local_scale(padded, cfg)[:n])


def test_median_is_numpys():
    rng = np.random.default_rng(9)
    for n in list(range(1, 40)) + [881, 1764]:
        a = rng.standard_normal(n) * rng.uniform(1e-6, 1e3)
        a[rng.random(n) < 0.3] = a[0]  # ties, like a piecewise-constant scale
        assert _median(a) == float(np.median(a))
