"""Regenerate samples/keyboard_speech.wav: espeak-ng speech with synthetic keyboard clicks added.

    python -m bench.make_sample [--out samples/keyboard_speech.wav]

The speech is synthesised by espeak-ng (its output is not a recording of anyone and may be
redistributed); the clicks come from bench/clicks.py with a fixed seed, so the file is
reproducible for a given espeak-ng version. Needs the Debian package ``espeak-ng``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.clicks import corrupt

ROOT = Path(__file__).resolve().parent.parent
TEXT = ("Hello, and welcome to the declick demo. I am typing notes while I talk, "
        "so every key press and release leaves a sharp click in this recording.")
SEED = 20261125


def speech(text: str = TEXT) -> tuple[np.ndarray, int]:
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is needed: apt-get install espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(wav), text], check=True,
                       capture_output=True)
        x, rate = sf.read(str(wav))
    return x, rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "samples" / "keyboard_speech.wav"))
    args = parser.parse_args(argv)
    x, rate = speech()
    x = 0.5 * x / np.max(np.abs(x))
    rng = np.random.default_rng(SEED)
    dirty, _, clicks = corrupt(x, rate, "keyboard", 12.0, rng, rate_per_s=1.5)
    pcm = np.clip(np.round(dirty * 32767), -32768, 32767).astype(np.int16)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(out), pcm, rate, subtype="PCM_16")
    print(f"wrote {out}: {len(pcm) / rate:.2f} s, {rate} Hz mono, {out.stat().st_size} bytes, "
          f"{len(clicks)} keyboard clicks at samples {[c.start for c in clicks]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
