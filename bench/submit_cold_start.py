"""Cold-start cost of the submit Lambda: its import time and the size of the dependencies layer.

    python -m bench.submit_cold_start [--runs 15] [--no-layer] [--out bench/results/submit_cold_start.md]

submit_task used to import numpy and soundfile (libsndfile) to read an upload's duration; it now
reads WAV chunks itself and MP3 frames with mutagen (functions/declick_pipeline/audio_probe.py).
Both variants are measured in the same run:

- import time: a fresh interpreter per measurement imports the handler module
  (`declick_pipeline.handlers.submit_task`); the *before* variant imports numpy and soundfile
  first, exactly what the old handler loaded on top. Variants alternate, so a busy machine slows
  both alike. Median and minimum over `--runs` interpreters each.
- layer size: the layer is built the way `cdk synth` builds it (infra/bundling.py: Lambda-platform
  wheels for python3.12/x86_64, runtime SDK pruned) from functions/requirements.txt, and again with
  the numpy/soundfile pins of the old requirements added; unzipped and zipped sizes. Needs PyPI
  (skip with `--no-layer`).

Not a Lambda measurement: the same code on a Lambda's CPU imports at a different speed; compare
the two variants rather than reading the absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
HANDLER = "declick_pipeline.handlers.submit_task"
# What functions/requirements.txt held for the audio probe before mutagen replaced it.
BEFORE_PINS = ("soundfile==0.14.0", "numpy==2.4.6", "cffi==2.1.1", "pycparser==3.12")
VARIANTS = {"before (numpy + soundfile + handler)": "import numpy, soundfile; ", "after (handler)": ""}


def import_seconds(prefix: str) -> float:
    code = f"import time; t = time.perf_counter(); {prefix}import {HANDLER}; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(FUNCTIONS), "POWERTOOLS_TRACE_DISABLED": "true"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def measure_imports(runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(runs):
        for name, prefix in VARIANTS.items():
            samples[name].append(import_seconds(prefix))
    return samples


def build_layer(requirements: Path, workdir: Path) -> tuple[int, int]:
    """(unzipped bytes, zipped bytes) of the layer `infra.bundling` builds from `requirements`."""
    sys.path.insert(0, str(ROOT))
    from infra.bundling import pip_command, prune_layer

    target = workdir / "python"
    target.mkdir(parents=True)
    subprocess.run(pip_command(requirements, target), check=True, capture_output=True)
    prune_layer(target)
    unzipped = sum(path.stat().st_size for path in target.rglob("*") if path.is_file())
    archive = workdir / "layer.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in sorted(target.rglob("*")):
            if path.is_file():
                handle.write(path, path.relative_to(workdir))
    return unzipped, archive.stat().st_size


def measure_layers() -> dict[str, tuple[int, int]]:
    with tempfile.TemporaryDirectory(prefix="declick-layer-bench-") as tmp:
        tmp_path = Path(tmp)
        current = FUNCTIONS / "requirements.txt"
        before = tmp_path / "requirements-before.txt"
        before.write_text(current.read_text() + "\n".join(BEFORE_PINS) + "\n")
        sizes = {}
        for name, requirements in (("before", before), ("after", current)):
            workdir = tmp_path / name
            workdir.mkdir()
            sizes[name] = build_layer(requirements, workdir)
            shutil.rmtree(workdir / "python")
        return sizes


def report(
    samples: dict[str, list[float]], layers: dict[str, tuple[int, int]] | None, runs: int, seconds: float
) -> str:
    command = "python -m bench.submit_cold_start " + shlex.join(sys.argv[1:])
    lines = [
        "# submit_task cold start: import time and layer size",
        "",
        f"Command: `{command.strip()}`  ",
        f"Made on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.machine()}, "
        f"{os.cpu_count()} CPU(s), Python {platform.python_version()} (the Lambda runs 3.12); {seconds:.0f} s.",
        "",
        f"## Import of `{HANDLER}` ({runs} fresh interpreters per variant, alternating)",
        "",
        "| variant | median | min |",
        "| --- | ---: | ---: |",
    ]
    for name, values in samples.items():
        lines.append(f"| {name} | {statistics.median(values) * 1000:,.0f} ms | {min(values) * 1000:,.0f} ms |")
    if layers:
        lines += [
            "",
            "## Dependencies layer (built as `cdk synth` builds it)",
            "",
            "| variant | unzipped | zipped |",
            "| --- | ---: | ---: |",
        ]
        for name, (unzipped, zipped) in layers.items():
            lines.append(f"| {name} | {unzipped / 1e6:.1f} MB | {zipped / 1e6:.1f} MB |")
    lines += [
        "",
        "A shared build machine, not a Lambda: compare the variants, not the absolute numbers "
        "(on Lambda, `@initDuration` in the REPORT lines of the submit function's log is the figure to watch).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-layer", action="store_true", help="skip the layer builds (they need PyPI)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/submit_cold_start.md"))
    args = parser.parse_args(argv)
    started = time.monotonic()
    samples = measure_imports(args.runs)
    layers = None if args.no_layer else measure_layers()
    text = report(samples, layers, args.runs, time.monotonic() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
