"""Picture of the engine's worst repairs on click-free training sources (docs/images/false_repairs.png).

    python -m bench.false_repairs

The click-free target of issue #8 (>= 60 dB on every source) is what a few repairs on clean speech
decide. This draws the (at most four) that cost the most on the *training* split, input and
output over 30 ms, so that one can see what they are (a plosive's release, a click in the
recording itself) rather than read about it. The test split is not looked at.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench import corpus  # noqa: E402
from declick.engine import DeclickParams, declick  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images" / "false_repairs.png"
SHOWN = 4


def worst_repairs(split: str = "train") -> list[dict]:
    """Every repair on the clean sources of ``split`` with the file SNR it alone would leave."""
    rows = []
    for name in corpus.SPLIT[split]:
        clean, rate = corpus.load(name)
        out, report = declick(clean, rate, DeclickParams())
        x = clean if clean.ndim == 2 else clean[:, None]
        y = out if out.ndim == 2 else out[:, None]
        total = float(np.sum(x * x))
        for c in report.clicks:
            d = y[c.start:c.stop, c.channel] - x[c.start:c.stop, c.channel]
            rows.append({"source": name, "rate": rate, "click": c, "x": x[:, c.channel], "y": y[:, c.channel],
                         "snr_db": 10.0 * math.log10(total / max(float(d @ d), 1e-30))})
    return sorted(rows, key=lambda r: r["snr_db"])


def main() -> int:
    corpus.build(corpus.SPLIT["train"])
    rows = worst_repairs()[:SHOWN]
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 2.1 * len(rows)), squeeze=False)
    for ax, r in zip(axes[:, 0], rows, strict=True):
        c, rate = r["click"], r["rate"]
        half = int(0.015 * rate)
        a, b = max(0, c.start - half), c.stop + half
        t = (np.arange(a, b) - c.start) * 1000.0 / rate
        ax.plot(t, r["x"][a:b], lw=0.8, label="input (click-free)")
        ax.plot(t, r["y"][a:b], lw=0.8, label="output")
        ax.axvspan(0, (c.stop - c.start) * 1000.0 / rate, color="0.85", zorder=0)
        ax.set_title(f"{r['source']} at {c.start / rate:.3f} s: repair of {(c.stop - c.start) * 1000.0 / rate:.1f} ms, "
                     f"file SNR {r['snr_db']:.1f} dB", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("ms from the start of the repair", fontsize=9)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=90)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
