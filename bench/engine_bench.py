"""Benchmark of the declick engine against ffmpeg's adeclick, side by side in one run.

    python -m bench.engine_bench [--quick] [--out bench/results/engine.md]

Material: espeak-ng speech, the spoken prompts of Debian's alsa-utils, the CMU ARCTIC sentence
shipped in the pysptk sdist (when it can be fetched into bench/.cache), synthetic voice-like
material and synthetic music, all at 44.1 kHz mono. Clicks of three kinds at three levels are
added with known positions (bench/clicks.py). Each corrupted signal goes through our engine and
through ffmpeg's adeclick (defaults, and ``t=8:m=s``); SNR figures are against the clean signal.

This is a benchmark, not a test: it may install things (espeak-ng, ffmpeg, pysptk's sdist) and it
measures time, so it is run by ``make bench`` only.
"""

from __future__ import annotations

import os

# one core, as the target is stated per core (must precede numpy's import)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

from bench.clicks import KINDS, LEVELS_DB, corrupt, synth_music, voice_like  # noqa: E402
from declick.engine import DeclickParams, declick  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
RATE = 44100
AWAY_S = 0.02
FFMPEG_VARIANTS = {"adeclick": "adeclick", "adeclick t=8:m=s": "adeclick=t=8:m=s"}

SPEECH_TEXT = (
    "Good morning. This is a short recording made while typing on a mechanical keyboard. "
    "Every key press and release leaves a sharp click under the voice. "
    "Peter packed six quick bags, then the kettle boiled and the dog barked twice."
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_debian(packages: dict[str, str]) -> None:
    missing = [pkg for tool, pkg in packages.items() if shutil.which(tool) is None and not Path(tool).exists()]
    if not missing:
        return
    log(f"installing {missing} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=False, env=env)


def to_rate(x: np.ndarray, rate: int) -> np.ndarray:
    if x.ndim == 2:
        x = x.mean(axis=1)
    if rate == RATE:
        return x.astype(np.float64)
    g = np.gcd(rate, RATE)
    return resample_poly(x, RATE // g, rate // g)


def espeak_speech(text: str = SPEECH_TEXT, voice: str = "en-us") -> np.ndarray | None:
    if shutil.which("espeak-ng") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "155", "-w", str(path), text], check=True,
                       capture_output=True)
        x, rate = sf.read(path)
    return to_rate(x, rate)


def alsa_speech() -> np.ndarray | None:
    files = sorted(glob.glob("/usr/share/sounds/alsa/*.wav"))
    parts = []
    for f in files:
        if "Noise" in f:
            continue
        x, rate = sf.read(f)
        parts.append(fade(to_rate(x, rate)))
        parts.append(np.zeros(int(0.2 * RATE)))
    return np.concatenate(parts) if parts else None


def arctic_speech() -> np.ndarray | None:
    """The CMU ARCTIC sentence(s) shipped in pysptk's source distribution."""
    target = CACHE / "pysptk"
    target.mkdir(parents=True, exist_ok=True)
    if not list(target.glob("pysptk-*.tar.gz")):
        for spec in ("pysptk", "pysptk==0.2.2"):
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                            "--no-build-isolation", "-d", str(target), spec], capture_output=True, check=False)
            if list(target.glob("pysptk-*.tar.gz")):
                break
    tars = sorted(target.glob("pysptk-*.tar.gz"))
    if not tars:
        return None
    parts = []
    with tarfile.open(tars[-1]) as tar:
        for member in tar.getmembers():
            if "example_audio_data" in member.name and member.name.endswith(".wav"):
                data = tar.extractfile(member)
                if data is None:
                    continue
                with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
                    tmp.write(data.read())
                    tmp.flush()
                    x, rate = sf.read(tmp.name)
                parts.append(fade(to_rate(x, rate)))
                parts.append(np.zeros(int(0.2 * RATE)))
    return np.concatenate(parts) if parts else None


def fade(x: np.ndarray, seconds: float = 0.01) -> np.ndarray:
    """Short fades so that joining recordings with silence does not itself make clicks."""
    n = min(len(x) // 2, int(seconds * RATE))
    ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
    x = x - np.mean(x)
    x[:n] *= ramp
    x[len(x) - n:] *= ramp[::-1]
    return x


def normalise(x: np.ndarray, peak: float = 0.5) -> np.ndarray:
    return x * (peak / (np.max(np.abs(x)) + 1e-12))


def materials(quick: bool) -> dict[str, tuple[str, np.ndarray]]:
    rng = np.random.default_rng(20261125)
    out: dict[str, tuple[str, np.ndarray]] = {}
    sp = espeak_speech()
    if sp is not None:
        out["espeak"] = ("speech", normalise(sp))
    al = alsa_speech()
    if al is not None:
        out["alsa-prompts"] = ("speech", normalise(al))
    if not quick:
        ar = arctic_speech()
        if ar is not None:
            out["cmu-arctic"] = ("speech", normalise(ar))
    out["voice-like"] = ("speech", normalise(voice_like(RATE, 8.0, rng)))
    out["synth-music"] = ("music", normalise(synth_music(RATE, 10.0, rng)))
    return out


# ----------------------------------------------------------------------------------------------
# processors


def run_ours(x: np.ndarray, params: DeclickParams) -> tuple[np.ndarray, list[tuple[int, int]], float, float]:
    """Returns output, repaired spans, wall seconds and CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    y, report = declick(x, RATE, params)
    return y, [(c.start, c.stop) for c in report.clicks], time.perf_counter() - t0, time.process_time() - c0


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ffmpeg(x: np.ndarray, filt: str) -> tuple[np.ndarray, float, float]:
    """Returns output, wall seconds and CPU seconds of the ffmpeg process (including its WAV I/O)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.wav"
        dst = Path(tmp) / "out.wav"
        sf.write(src, x, RATE, subtype="FLOAT")
        t0, c0 = time.perf_counter(), _children_cpu()
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-i", str(src), "-af", filt,
                        "-c:a", "pcm_f32le", "-y", str(dst)], check=True)
        dt, dc = time.perf_counter() - t0, _children_cpu() - c0
        y, _ = sf.read(dst)
    if y.ndim == 2:
        y = y[:, 0]
    y = y[:len(x)]
    if len(y) < len(x):
        y = np.concatenate((y, np.zeros(len(x) - len(y))))
    return y, dt, dc


# ----------------------------------------------------------------------------------------------
# metrics


def snr_db(ref: np.ndarray, x: np.ndarray) -> float:
    noise = float(np.sum((ref - x) ** 2))
    sig = float(np.sum(ref ** 2))
    if noise <= 0:
        return float("inf")
    return 10 * np.log10(max(sig, 1e-30) / noise)


@dataclass
class Acc:
    """Per (processor, kind) accumulator over materials, levels and seeds."""

    d_all: list[float] = field(default_factory=list)
    d_in: list[float] = field(default_factory=list)
    away: list[float] = field(default_factory=list)
    tp: int = 0
    fn: int = 0
    fp: int = 0
    det: int = 0

    def add(self, ref, cor, out, mask_in, mask_away) -> None:
        self.d_all.append(snr_db(ref, out) - snr_db(ref, cor))
        self.d_in.append(snr_db(ref[mask_in], out[mask_in]) - snr_db(ref[mask_in], cor[mask_in]))
        self.away.append(min(snr_db(ref[mask_away], out[mask_away]), 200.0))


def evaluate(quick: bool) -> dict:
    params = DeclickParams()
    mats = materials(quick)
    procs = ["ours", *FFMPEG_VARIANTS]
    per_kind: dict[tuple[str, str], Acc] = {(p, k): Acc() for p in procs for k in KINDS}
    rows_detail = []
    clean_rows = []
    seeds = [1] if quick else [1, 2]
    for name, (family, clean) in mats.items():
        log(f"material {name}: {len(clean) / RATE:.1f} s")
        # transparency on click-free input
        y, spans, _, _ = run_ours(clean, params)
        flagged = sum(b - a for a, b in spans) / len(clean)
        row = {"material": name, "family": family, "ours_snr": min(snr_db(clean, y), 999.0),
               "ours_flagged_pct": 100 * flagged, "ours_clicks": len(spans),
               "bit_exact_outside": bool(np.array_equal(_outside(clean, spans), _outside(y, spans)))}
        for label, filt in FFMPEG_VARIANTS.items():
            yf, _, _ = run_ffmpeg(clean, filt)
            row[f"{label}_snr"] = snr_db(clean, yf)
        clean_rows.append(row)
        for kind in KINDS:
            for level_name, level_db in LEVELS_DB.items():
                for seed in seeds:
                    rng = np.random.default_rng([seed, KINDS.index(kind), int(level_db), len(name)])
                    cor, ref, truth = corrupt(clean, RATE, kind, level_db, rng)
                    mask_in = np.zeros(len(ref), bool)
                    near = np.zeros(len(ref), bool)
                    pad = int(AWAY_S * RATE)
                    for c in truth:
                        mask_in[c.start:c.stop] = True
                        near[max(0, c.start - pad):c.stop + pad] = True
                    mask_away = ~near
                    y, spans, _, _ = run_ours(cor, params)
                    acc = per_kind[("ours", kind)]
                    acc.add(ref, cor, y, mask_in, mask_away)
                    tp, fn, fp = _match(truth, spans)
                    acc.tp += tp
                    acc.fn += fn
                    acc.fp += fp
                    detail = {"material": name, "kind": kind, "level": level_name, "seed": seed,
                              "clicks": len(truth), "in_snr": snr_db(ref, cor),
                              "ours": snr_db(ref, y), "ours_in": snr_db(ref[mask_in], y[mask_in]),
                              "tp": tp, "fn": fn, "fp": fp}
                    for label, filt in FFMPEG_VARIANTS.items():
                        yf, _, _ = run_ffmpeg(cor, filt)
                        per_kind[(label, kind)].add(ref, cor, yf, mask_in, mask_away)
                        detail[label] = snr_db(ref, yf)
                        detail[f"{label}_in"] = snr_db(ref[mask_in], yf[mask_in])
                    rows_detail.append(detail)
                    log(f"  {kind:8s} {level_name:4s} seed {seed}: in {detail['in_snr']:5.1f} dB, ours "
                        f"{detail['ours']:5.1f} (inside {detail['ours_in']:5.1f}), adeclick "
                        f"{detail['adeclick']:5.1f} (inside {detail['adeclick_in']:5.1f}); tp {tp} fn {fn} fp {fp}")
    return {"per_kind": per_kind, "clean": clean_rows, "detail": rows_detail, "materials": mats}


def _outside(x: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    keep = np.ones(len(x), bool)
    for a, b in spans:
        keep[a:b] = False
    return x[keep]


def _match(truth, spans) -> tuple[int, int, int]:
    """A true click is found when a repaired span overlaps it; a span overlapping none is a false alarm."""
    if not spans:
        return 0, len(truth), 0
    starts = np.array([a for a, _ in spans])
    stops = np.array([b for _, b in spans])
    hit_span = np.zeros(len(spans), bool)
    tp = 0
    for c in truth:
        hits = (starts < c.stop) & (stops > c.start)
        if hits.any():
            tp += 1
            hit_span |= hits
    return tp, len(truth) - tp, int((~hit_span).sum())


# ----------------------------------------------------------------------------------------------
# speed and memory


def speed(mats: dict, seconds: float) -> dict:
    """Audio seconds per second, one channel, 44.1 kHz, one core (material repeated, keyboard clicks).

    Reported per CPU second of the process (robust when other jobs share the machine) and per
    wall second; the best of two runs.
    """
    params = DeclickParams()
    res: dict = {"load": os.getloadavg()[0]}
    for family in ("speech", "music"):
        x = np.concatenate([m for f, m in mats.values() if f == family])
        reps = int(np.ceil(seconds * RATE / len(x)))
        rng = np.random.default_rng(3)
        long, _, truth = corrupt(np.tile(x, reps)[:int(seconds * RATE)], RATE, "keyboard", 10.0, rng)
        res[f"clicks_{family}"] = len(truth) / seconds
        run_ours(long[:RATE], params)  # warm-up
        runs = [run_ours(long, params) for _ in range(2)]
        res[f"ours_{family}"] = seconds / min(r[3] for r in runs)
        res[f"ours_{family}_wall"] = seconds / min(r[2] for r in runs)
        clean_runs = [run_ours(np.tile(x, reps)[:int(seconds * RATE)], params) for _ in range(2)]
        res[f"ours_{family}_clean"] = seconds / min(r[3] for r in clean_runs)
        for label, filt in FFMPEG_VARIANTS.items():
            fruns = [run_ffmpeg(long, filt) for _ in range(2)]
            res[f"{label}_{family}"] = seconds / min(r[2] for r in fruns)
            res[f"{label}_{family}_wall"] = seconds / min(r[1] for r in fruns)
    return res


_MEM_CHILD = r"""
import sys, time
from declick.engine import clean_file, DeclickParams
t = time.perf_counter()
s = clean_file(sys.argv[1], sys.argv[2], DeclickParams())
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(s.clicks_repaired, time.perf_counter() - t, hwm)
"""


def _run_peak_kb(cmd: list[str]) -> int:
    """Run a command and sample its peak RSS (VmHWM, kB) until it exits."""
    proc = subprocess.Popen(cmd)
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return peak


def memory(mats: dict) -> dict:
    """Peak RSS of ``clean_file`` (and ffmpeg) on a 5-minute stereo 44.1 kHz 16-bit WAV."""
    x = np.concatenate([m for _, m in mats.values()])
    n = 300 * RATE
    rng = np.random.default_rng(9)
    left, _, _ = corrupt(np.tile(x, int(np.ceil(n / len(x))))[:n], RATE, "keyboard", 10.0, rng)
    right, _, _ = corrupt(np.roll(np.tile(x, int(np.ceil(n / len(x))))[:n], RATE // 3), RATE, "vinyl", 10.0, rng)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "long.wav"
        sf.write(src, np.stack((left, right), axis=1), RATE, subtype="PCM_16")
        size = src.stat().st_size
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-c", _MEM_CHILD, str(src), str(Path(tmp) / "o.wav")],
                             capture_output=True, text=True, check=True, env=env)
        clicks, wall, rss_kb = out.stdout.split()
        t0 = time.perf_counter()
        ff_kb = _run_peak_kb(["ffmpeg", "-nostdin", "-v", "error", "-threads", "1", "-i", str(src), "-af",
                              "adeclick", "-y", str(Path(tmp) / "f.wav")])
        ff_wall = time.perf_counter() - t0
    return {"wav_mb": size / 1e6, "ours_rss_mb": int(rss_kb) / 1024, "ours_wall": float(wall),
            "ours_clicks": int(clicks), "ffmpeg_rss_mb": ff_kb / 1024, "ffmpeg_wall": ff_wall}


# ----------------------------------------------------------------------------------------------
# report


def _mean(v: list[float]) -> float:
    v = [x for x in v if np.isfinite(x)]
    return float(np.mean(v)) if v else float("nan")


def write_markdown(path: Path, res: dict, spd: dict, mem: dict, command: str, elapsed: float) -> str:
    per_kind = res["per_kind"]
    lines = [
        "# Engine benchmark: declick vs ffmpeg adeclick",
        "",
        f"Made by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"({platform.machine()}, Python {platform.python_version()}, "
        f"{_ffmpeg_version()}; {elapsed / 60:.1f} min). Parameters: ours at the defaults "
        "(detection_mult 8, click_len 10 ms).",
        "",
        "Material (44.1 kHz mono): " + ", ".join(f"{k} ({f}, {len(m) / RATE:.1f} s)"
                                                  for k, (f, m) in res["materials"].items()) + ".",
        "Clicks (bench/clicks.py): keyboard press/release bursts (band-passed noise, 0.1-0.4 ms attack, "
        "1-10 ms decay to -40 dB), mouse clicks (damped 2-7 kHz ping, 0.7-3 ms), vinyl impulses (1-20 samples); "
        "peak at 0, +10 and +20 dB re the clean signal's RMS, about 2 events per second "
        "(a keyboard event is a press/release pair).",
        "",
        *([] if "cmu-arctic" in res["materials"] else [
            "The CMU ARCTIC sentence in pysptk's sdist was not used: `pip download --no-binary :all: pysptk` "
            "fails here while building the sdist's metadata, so it never reached bench/.cache.", ""]),
        "SNR figures are against the clean signal and averaged over materials, levels and seeds. "
        "*Gain* = SNR(out) - SNR(corrupted), over the whole file and over the true click spans only. "
        f"*Away* = SNR of the output over the samples more than {AWAY_S * 1000:.0f} ms from any click. "
        "Precision/recall count click events (a true click is found when a repaired span overlaps it).",
        "",
        "## Click removal, per kind",
        "",
        "| kind | processor | gain overall dB | gain inside clicks dB | SNR away dB | precision | recall |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind in KINDS:
        for proc in ["ours", *FFMPEG_VARIANTS]:
            acc = per_kind[(proc, kind)]
            if proc == "ours":
                prec = acc.tp / max(1, acc.tp + acc.fp)
                rec = acc.tp / max(1, acc.tp + acc.fn)
                pr = f"{prec:.3f} | {rec:.3f}"
            else:
                pr = "n/a | n/a"
            lines.append(f"| {kind} | {proc} | {_mean(acc.d_all):.1f} | {_mean(acc.d_in):.1f} | "
                         f"{_mean(acc.away):.1f} | {pr} |")
    lines += ["", "Margin of ours over adeclick defaults (mean gain overall / inside clicks):", ""]
    for kind in KINDS:
        o = per_kind[("ours", kind)]
        f = per_kind[("adeclick", kind)]
        lines.append(f"- {kind}: {_mean(o.d_all) - _mean(f.d_all):+.1f} dB overall, "
                     f"{_mean(o.d_in) - _mean(f.d_in):+.1f} dB inside clicks")
    lines += ["", "## Transparency on click-free input", "",
              "| material | ours SNR dB | ours flagged % | ours clicks | ours bit-exact outside spans | "
              + " | ".join(f"{k} SNR dB" for k in FFMPEG_VARIANTS) + " |",
              "| --- | ---: | ---: | ---: | --- | " + " | ".join("---:" for _ in FFMPEG_VARIANTS) + " |"]
    for row in res["clean"]:
        lines.append(f"| {row['material']} | {row['ours_snr']:.1f} | {row['ours_flagged_pct']:.4f} | "
                     f"{row['ours_clicks']} | {'yes' if row['bit_exact_outside'] else 'NO'} | "
                     + " | ".join(f"{row[f'{k}_snr']:.1f}" for k in FFMPEG_VARIANTS) + " |")
    lines += ["", "## Speed (one core, 44.1 kHz mono, audio seconds per second)", "",
              f"Per CPU second of the process, wall-clock in brackets (load average {spd.get('load', 0):.1f} on "
              f"{os.cpu_count()} cores while measuring: other jobs shared the machine). ffmpeg's figures include "
              "its WAV decoding/encoding.", "",
              "| material | ours | " + " | ".join(FFMPEG_VARIANTS) + " |",
              "| --- | ---: | " + " | ".join("---:" for _ in FFMPEG_VARIANTS) + " |"]
    for family in ("speech", "music"):
        lines.append(f"| {family} ({spd.get(f'clicks_{family}', 0):.1f} keyboard clicks/s) | "
                     f"{spd[f'ours_{family}']:.0f}x ({spd.get(f'ours_{family}_wall', float('nan')):.0f}x) | "
                     + " | ".join(f"{spd[f'{k}_{family}']:.0f}x ({spd.get(f'{k}_{family}_wall', float('nan')):.0f}x)"
                                  for k in FFMPEG_VARIANTS) + " |")
    lines.append("")
    lines.append("Ours on the same material without clicks (detection only): "
                 + ", ".join(f"{family} {spd.get(f'ours_{family}_clean', float('nan')):.0f}x"
                             for family in ("speech", "music")) + " per CPU second.")
    lines += ["", "## Memory (5-minute stereo 44.1 kHz 16-bit WAV, "
              f"{mem['wav_mb']:.0f} MB, keyboard + vinyl clicks)", "",
              "| processor | peak RSS MB | wall s | clicks repaired |", "| --- | ---: | ---: | ---: |",
              f"| ours (`clean_file`, whole process) | {mem['ours_rss_mb']:.0f} | {mem['ours_wall']:.1f} | "
              f"{mem['ours_clicks']} |",
              f"| ffmpeg adeclick | {mem['ffmpeg_rss_mb']:.0f} | {mem['ffmpeg_wall']:.1f} | n/a |", ""]
    lines += ["## Per run", "", "| material | kind | level | seed | clicks | SNR in | ours | ours inside | "
              "adeclick | adeclick inside | t=8:m=s | fn | fp |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for d in res["detail"]:
        lines.append(f"| {d['material']} | {d['kind']} | {d['level']} | {d['seed']} | {d['clicks']} | "
                     f"{d['in_snr']:.1f} | {d['ours']:.1f} | {d['ours_in']:.1f} | {d['adeclick']:.1f} | "
                     f"{d['adeclick_in']:.1f} | {d['adeclick t=8:m=s']:.1f} | {d['fn']} | {d['fp']} |")
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def _ffmpeg_version() -> str:
    out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False).stdout
    return out.split("\n", 1)[0].split(" Copyright")[0] if out else "ffmpeg ?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer materials and seeds, shorter speed run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "engine.md"))
    parser.add_argument("--json", default=None, help="also dump the summary as JSON")
    parser.add_argument("--skip-perf", action="store_true", help="quality only (for tuning; no speed/memory)")
    args = parser.parse_args(argv)
    ensure_debian({"ffmpeg": "ffmpeg", "espeak-ng": "espeak-ng", "/usr/share/sounds/alsa": "alsa-utils"})
    if shutil.which("ffmpeg") is None:
        log("ffmpeg is required for the side-by-side comparison")
        return 1
    started = time.perf_counter()
    res = evaluate(args.quick)
    if args.skip_perf:
        spd = {f"{p}_{f}": float("nan") for p in ("ours", *FFMPEG_VARIANTS) for f in ("speech", "music")}
        mem = {k: float("nan") for k in ("wav_mb", "ours_rss_mb", "ours_wall", "ffmpeg_rss_mb", "ffmpeg_wall")}
        mem["ours_clicks"] = 0
    else:
        log("speed ...")
        spd = speed(res["materials"], 20.0 if args.quick else 60.0)
        log("memory ...")
        mem = memory(res["materials"])
    command = "python -m bench.engine_bench" + (" --quick" if args.quick else "")
    text = write_markdown(Path(args.out), res, spd, mem, command, time.perf_counter() - started)
    if args.json:
        Path(args.json).write_text(json.dumps({"speed": spd, "memory": mem, "clean": res["clean"],
                                               "detail": res["detail"]}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
