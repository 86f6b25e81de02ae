"""The learned verifier: which candidate events are clicks.

The candidate stage (:func:`declick.engine.core.find_events`) is deliberately loose; it finds
nearly every click and many of the signal's own sharp features (glottal pulses, plosives, note
attacks). A logistic model on a dozen per-event features, and on their squares, tells them apart.
It was trained by ``make train`` (bench/train_verifier.py) on the *training* sources of the bench
corpus only, by iteratively reweighted least squares (Newton's method) with a small ridge
penalty: deterministic, seeded by nothing, reproducible bit for bit on one machine and to
rounding anywhere. The model is the committed file ``verifier_model.json`` next to this module;
evaluating it needs numpy alone (the engine also runs in AWS Lambda).

References
----------
S. J. Godsill and P. J. W. Rayner, *Digital Audio Restoration*, Springer, 1998, ch. 5 (detection of
clicks by AR prediction error; thresholds on the excitation).
S. V. Vaseghi, *Advanced Digital Signal Processing and Noise Reduction*, Wiley, 4th ed. 2008,
ch. 13 (impulsive noise: detection by inverse filtering, matched thresholds).
C. M. Bishop, *Pattern Recognition and Machine Learning*, Springer, 2006, sec. 4.3.3 (IRLS).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).with_name("verifier_model.json")

#: Features of one event, computed by :func:`declick.engine.core._features` (units in the names).
FEATURE_NAMES = (
    "peak_over_threshold_db",  # peak of error/scale over the user's detection_mult
    "log_core_ms",             # log of the core's length in ms
    "log_grown_ms",            # log of the grown span's length in ms
    "pitch_similarity",        # 0-1: look-alike of the error burst one pitch period away
    "onset_db",                # level after the event over the level before it
    "rise_db",                 # level of the 5 ms after the span over the 5 ms before it
    "error_energy_db",         # mean (error/scale)^2 over the core
    "core_fill",               # share of the core above the candidate threshold
    "predictability_db",       # error scale over the signal's level around the event
    "hf_excess_db",            # first-difference energy in the span over that of the context
    "crest_db",                # peak in the span over the RMS of the context
    "log1p_neighbours",        # candidates within 50 ms
)


def expand(features: np.ndarray) -> np.ndarray:
    """The model's inputs: the features and their squares (a quadratic decision boundary)."""
    f = np.atleast_2d(np.asarray(features, dtype=np.float64))
    return np.concatenate((f, f * f), axis=1)


def fit_logistic(features: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None,
                 ridge: float = 1e-2, iterations: int = 30) -> dict:
    """Fit the verifier by IRLS; returns the model as a JSON-ready dict.

    Parameters
    ----------
    features : numpy.ndarray
        ``(n, len(FEATURE_NAMES))`` per-event features.
    labels : numpy.ndarray
        ``(n,)`` 1 for a true click, 0 otherwise.
    weights : numpy.ndarray, optional
        Per-event weights (e.g. to balance the sources).
    ridge : float
        L2 penalty on the standardised coefficients (not on the bias).
    iterations : int
        Newton steps (the fit converges in about ten).

    Returns
    -------
    dict
        ``mean``, ``std`` (standardisation of the expanded inputs), ``coef``, ``bias``.
    """
    z = expand(features)
    mean = z.mean(axis=0)
    std = z.std(axis=0)
    std[std < 1e-9] = 1.0
    a = np.concatenate((np.ones((len(z), 1)), (z - mean) / std), axis=1)
    y = np.asarray(labels, dtype=np.float64)
    w_s = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    beta = np.zeros(a.shape[1])
    penalty = np.full(a.shape[1], ridge * w_s.sum())
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(a @ beta, -40, 40)))
        g = a.T @ (w_s * (p - y)) + penalty * beta
        h = (a * (w_s * np.maximum(p * (1 - p), 1e-9))[:, None]).T @ a + np.diag(penalty)
        step = np.linalg.solve(h, g)
        beta -= step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return {"mean": mean.tolist(), "std": std.tolist(), "bias": float(beta[0]), "coef": beta[1:].tolist()}


def probability(model: dict, features: np.ndarray) -> np.ndarray:
    """Probability that each event is a click under ``model``."""
    z = (expand(features) - np.asarray(model["mean"])) / np.asarray(model["std"])
    logit = z @ np.asarray(model["coef"]) + model["bias"]
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -40, 40)))


@lru_cache(maxsize=1)
def load_model(path: str = str(MODEL_PATH)) -> dict:
    """The committed model (cached: read once per process)."""
    model = json.loads(Path(path).read_text())
    if tuple(model["features"]) != FEATURE_NAMES:
        raise RuntimeError(f"{path} was trained on other features; run `make train`")
    return model


def score(features: np.ndarray) -> tuple[np.ndarray, float]:
    """Probabilities of the committed model and its acceptance threshold."""
    model = load_model()
    return probability(model, features), float(model["threshold"])


def accepts(features: np.ndarray) -> np.ndarray:
    """Boolean mask of the events the committed model takes for clicks."""
    p, threshold = score(features)
    return p >= threshold
