"""Before/after picture of a declick run (used by ``declick clean --report`` and ``make demo``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .params import Click


def _as_float(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, 0]
    if x.dtype.kind == "i":
        return x.astype(np.float64) / float(2 ** (8 * x.dtype.itemsize - 1))
    return x.astype(np.float64)


def render_report(before: np.ndarray, after: np.ndarray, sample_rate: int, clicks: Sequence[Click],
                  path: str | os.PathLike[str], title: str | None = None, channel: int = 0) -> None:
    """Write a PNG: waveform and spectrogram before and after, detected clicks shaded in red.

    ``before``/``after`` are ``(frames,)`` or ``(frames, channels)`` arrays (int or float);
    one channel is drawn, and only that channel's clicks are marked. The lengths may differ
    slightly (MP3 output); the common part is drawn.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    b = np.asarray(before)
    a = np.asarray(after)
    if b.ndim == 2:
        b = b[:, min(channel, b.shape[1] - 1)]
    if a.ndim == 2:
        a = a[:, min(channel, a.shape[1] - 1)]
    b, a = _as_float(b), _as_float(a)
    n = min(len(a), len(b))
    b, a = b[:n], a[:n]
    t = np.arange(n) / sample_rate
    spans = [(c.start / sample_rate, c.stop / sample_rate) for c in clicks if c.channel == channel]

    # thin spans would vanish (or flicker between panels) at the picture's resolution
    min_width = max(n / sample_rate, 1e-3) / 400
    fig = plt.figure(figsize=(14, 10), constrained_layout=True)
    grid = fig.add_gridspec(3, 2, height_ratios=(1, 1, 1.1))
    top = fig.add_subplot(grid[0, 0])
    axes = np.array(
        [[top, fig.add_subplot(grid[0, 1], sharex=top, sharey=top)],
         [fig.add_subplot(grid[1, 0], sharex=top), fig.add_subplot(grid[1, 1], sharex=top)]]
    )
    for col, (label, sig) in enumerate((("before", b), ("after", a))):
        ax = axes[0, col]
        step = max(1, n // 20000)
        ax.plot(t[::step], sig[::step], lw=0.5, color="tab:blue")
        ax.set_title(f"waveform {label}")
        ax.set_ylabel("amplitude")
        for s0, s1 in spans:
            ax.axvspan(s0, max(s1, s0 + min_width), color="red", alpha=0.35, lw=0)
        ax2 = axes[1, col]
        ax2.set_facecolor("black")  # digital silence has no finite level
        if n >= 256:
            nfft = 512 if sample_rate <= 24000 else 1024
            with np.errstate(divide="ignore"):
                ax2.specgram(sig, NFFT=min(nfft, n), Fs=sample_rate, noverlap=min(nfft, n) // 2,
                             cmap="magma", vmin=-140)
        ax2.set_title(f"spectrogram {label}")
        ax2.set_ylabel("Hz")
        ax2.set_xlabel("seconds")
        for s0, s1 in spans:
            ax2.axvspan(s0, max(s1, s0 + min_width), ymax=0.04, color="cyan", lw=0)
    _zoom_on_largest_repair(fig.add_subplot(grid[2, :]), b, a, sample_rate, clicks, channel)
    fig.suptitle(title or f"{len(spans)} clicks repaired")
    fig.savefig(os.fspath(path), dpi=80)
    plt.close(fig)


def _zoom_on_largest_repair(ax, before: np.ndarray, after: np.ndarray, sample_rate: int,
                            clicks: Sequence[Click], channel: int) -> None:
    """A click is a few milliseconds: at file scale it is a hairline, so show the biggest one up close."""
    n = len(before)
    spans = [(c.start, min(c.stop, n)) for c in clicks if c.channel == channel and c.start < n]
    if not spans:
        ax.text(0.5, 0.5, "no clicks found", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    start, stop = max(spans, key=lambda s: float(np.sum((before[s[0]:s[1]] - after[s[0]:s[1]]) ** 2)))
    pad = max(int(0.02 * sample_rate), 2 * (stop - start))
    lo, hi = max(0, start - pad), min(n, stop + pad)
    t_ms = (np.arange(lo, hi) - start) * 1000.0 / sample_rate
    ax.plot(t_ms, before[lo:hi], color="tab:red", lw=1.0, label="before")
    ax.plot(t_ms, after[lo:hi], color="tab:blue", lw=1.0, label="after")
    ax.axvspan(0, (stop - start) * 1000.0 / sample_rate, color="red", alpha=0.12, lw=0, label="repaired span")
    ax.set_title(f"largest repair, close up: click at {start / sample_rate:.3f} s, "
                 f"{(stop - start) * 1000.0 / sample_rate:.1f} ms")
    ax.set_xlabel("milliseconds from the click")
    ax.set_ylabel("amplitude")
    ax.legend(loc="upper right")
