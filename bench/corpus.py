"""The engine's evaluation corpus: clean sources from installed packages, split by source.

    python -m bench.corpus            # build (or check) the cache under bench/.cache/corpus

Every clean source is made from something a package registry installs (Debian packages listed in
bench/requirements-debian.txt; nothing is downloaded by this module) and cached as a FLAC file with
a JSON manifest. A source is one voice, one recording or one piece: its excerpt is never split
between training and test, so a detector tuned on the training sources is judged on voices,
instruments and rooms it never saw (``SPLIT`` below is fixed by name, not drawn at random).

Each source gets a realistic floor (white, pink, mains hum or room tone), a sample rate (16, 22.05,
44.1 or 48 kHz) and a channel count; the clicks are added later by :mod:`bench.clickgen`.
"""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import butter, lfilter, resample_poly, sosfilt

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache" / "corpus"
EXCERPT_S = 20.0
CORPUS_VERSION = 1

TEXTS = (
    "Good morning. This is a short recording made while typing on a mechanical keyboard. Peter packed six "
    "quick bags, then the kettle boiled and the dog barked twice.",
    "Please check the quarterly figures before the meeting on Thursday; the budget for the bridge project "
    "looks tight, and the contractors expect a decision by noon.",
    "A big black bug bit a big black bear. Tom took the top pot to the cottage, and Kate kept the cat "
    "quiet while the baby slept.",
)


@dataclass(frozen=True)
class Source:
    """One clean source of the corpus.

    Attributes
    ----------
    name : str
        Unique name; also the cache file name.
    family : str
        ``"speech"`` or ``"music"``.
    split : str
        ``"train"`` (may be used for tuning and training), ``"valid"`` (read only to choose between
        operating points the training split cannot tell apart) or ``"test"`` (only for reporting).
    rate_hz : int
        Sample rate of the cached excerpt.
    channels : int
        1 or 2.
    floor : str
        Background added under the source: ``white``, ``pink``, ``hum50``, ``hum60``, ``room`` or ``none``.
    origin : str
        Where the audio comes from (package and tool), for the tables.
    """

    name: str
    family: str
    split: str
    rate_hz: int
    channels: int
    floor: str
    origin: str


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _seed(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1) if x.ndim == 2 else x


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x.astype(np.float64)
    g = np.gcd(rate, target)
    return resample_poly(x, target // g, rate // g, axis=0)


def _fade(x: np.ndarray, rate: int, seconds: float = 0.01) -> np.ndarray:
    """Short fades so that joining pieces with silence does not itself make clicks."""
    x = x - np.mean(x, axis=0)
    n = min(len(x) // 2, int(seconds * rate))
    if n > 0:
        ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
        if x.ndim == 2:
            ramp = ramp[:, None]
        x[:n] *= ramp
        x[len(x) - n:] *= ramp[::-1]
    return x


def _join(parts: list[np.ndarray], rate: int, gap_s: float, limit_s: float) -> np.ndarray:
    out: list[np.ndarray] = []
    total = 0
    for p in parts:
        if total >= limit_s * rate:
            break
        p = _fade(p, rate)
        gap = np.zeros((int(gap_s * rate),) + p.shape[1:])
        out += [p, gap]
        total += len(p) + len(gap)
    return np.concatenate(out)


def _run_tts(cmd: list[str], out: Path) -> tuple[np.ndarray, int]:
    subprocess.run(cmd, check=True, capture_output=True)
    x, rate = sf.read(out)
    return _mono(x), rate


def espeak(voice: str) -> Callable[[], tuple[np.ndarray, int]]:
    def make() -> tuple[np.ndarray, int]:
        parts = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, text in enumerate(TEXTS):
                path = Path(tmp) / f"{i}.wav"
                x, rate = _run_tts(["espeak-ng", "-v", voice, "-s", str(140 + 15 * i), "-w", str(path), text], path)
                parts.append(x)
        return _join(parts, rate, 0.3, 60), rate
    return make


def flite(voice: str) -> Callable[[], tuple[np.ndarray, int]]:
    def make() -> tuple[np.ndarray, int]:
        parts = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, text in enumerate(TEXTS):
                path = Path(tmp) / f"{i}.wav"
                x, rate = _run_tts(["flite", "-voice", voice, "-t", text, "-o", str(path)], path)
                parts.append(x)
        return _join(parts, rate, 0.3, 60), rate
    return make


def festival() -> tuple[np.ndarray, int]:
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, text in enumerate(TEXTS):
            txt, path = Path(tmp) / f"{i}.txt", Path(tmp) / f"{i}.wav"
            txt.write_text(text)
            x, rate = _run_tts(["text2wave", "-o", str(path), str(txt)], path)
            parts.append(x)
    return _join(parts, rate, 0.3, 60), rate


def _read_files(files: list[str], gap_s: float, limit_s: float, mono: bool = True) -> tuple[np.ndarray, int]:
    parts, rate = [], None
    for f in files:
        x, r = sf.read(f, always_2d=True)
        x = _mono(x) if mono else x
        if rate is None:
            rate = r
        parts.append(_resample(x, r, rate))
    if not parts:
        raise FileNotFoundError(f"no files among {len(files)} candidates")
    return _join(parts, rate, gap_s, limit_s), rate


def alsa_prompts() -> tuple[np.ndarray, int]:
    files = [f for f in sorted(glob.glob("/usr/share/sounds/alsa/*.wav")) if "Noise" not in f]
    return _read_files(files, 0.25, 60)


def klettres(lang: str) -> Callable[[], tuple[np.ndarray, int]]:
    """Letters and syllables spoken by one person (KLettres ships one speaker per language)."""
    def make() -> tuple[np.ndarray, int]:
        files = sorted(glob.glob(f"/usr/share/klettres/{lang}/syllab/*.ogg")) + sorted(
            glob.glob(f"/usr/share/klettres/{lang}/alpha/*.ogg"))
        return _read_files(files, 0.12, 40)
    return make


def ktuberling(lang: str) -> Callable[[], tuple[np.ndarray, int]]:
    """Words spoken by one person per language (KTuberling's stamp names): stops out of silence."""
    def make() -> tuple[np.ndarray, int]:
        files = sorted(glob.glob(f"/usr/share/ktuberling/sounds/{lang}/*.ogg")) + sorted(
            glob.glob(f"/usr/share/ktuberling/sounds/{lang}/*.wav"))
        return _read_files(files, 0.15, 60)
    return make


def _ktuberling_sources(split: str, speakers: dict[str, tuple[int, int, str]]) -> dict[str, tuple]:
    """Table rows for KTuberling speakers of one split: language -> (rate, channels, floor)."""
    return {f"ktuberling-{lang}": ("speech", split, rate, channels, floor, f"ktuberling-data {lang} (human)",
                                   ktuberling(lang)) for lang, (rate, channels, floor) in speakers.items()}


def midi(name: str) -> Callable[[], tuple[np.ndarray, int]]:
    """A General MIDI piece of OpenTTD's openmsx set rendered by fluidsynth with FluidR3_GM."""
    def make() -> tuple[np.ndarray, int]:
        sf2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "m.wav"
            subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", str(out), sf2,
                            f"/usr/share/games/openttd/baseset/openmsx/{name}.mid"], check=True, capture_output=True)
            x, rate = sf.read(out, always_2d=True)
        return x, rate
    return make


def recording(pattern: str, mono: bool = False) -> Callable[[], tuple[np.ndarray, int]]:
    def make() -> tuple[np.ndarray, int]:
        files = sorted(glob.glob(pattern))
        return _read_files(files, 0.2, 60, mono=mono)
    return make


def synthetic(kind: str) -> Callable[[], tuple[np.ndarray, int]]:
    def make() -> tuple[np.ndarray, int]:
        from bench.clicks import synth_music, voice_like

        rng = np.random.default_rng(_seed("synthetic", kind))
        rate = 44100
        maker = voice_like if kind == "voice" else synth_music
        return maker(rate, EXCERPT_S + 4, rng), rate
    return make


_LMMS = "/usr/share/lmms/samples/instruments/"

# name -> (family, split, rate, channels, floor, origin, builder)
_TABLE: dict[str, tuple[str, str, int, int, str, str, Callable[[], tuple[np.ndarray, int]]]] = {
    # speech, training split
    "espeak-en-us": ("speech", "train", 16000, 1, "white", "espeak-ng en-us", espeak("en-us")),
    "espeak-de-f2": ("speech", "train", 44100, 1, "room", "espeak-ng de+f2", espeak("de+f2")),
    "flite-kal": ("speech", "train", 16000, 1, "hum50", "flite kal", flite("kal")),
    "flite-awb": ("speech", "train", 48000, 2, "pink", "flite awb", flite("awb")),
    # (klettres-data's English recordings carry clicks of their own: not usable as clean material)
    # (nor festival's ked and Italian lp diphone voices, tried as more training speech: their diphone
    # joins click, a sharp spike inside a vowel, 6 and 17 times in 20 s)
    "klettres-nl": ("speech", "train", 44100, 1, "room", "klettres-data nl (human)", klettres("nl")),
    "klettres-de": ("speech", "train", 16000, 1, "white", "klettres-data de (human)", klettres("de")),
    "klettres-it": ("speech", "train", 48000, 1, "hum60", "klettres-data it (human)", klettres("it")),
    "librivox-austen": ("speech", "train", 16000, 1, "none", "pocketsphinx-testdata LibriVox reading (human)",
                        recording("/usr/share/pocketsphinx/test/data/librivox/*.wav", mono=True)),
    # (ktuberling-data's Danish and Walloon recordings carry clicks of their own)
    **_ktuberling_sources("train", {"ru": (44100, 1, "white"), "uk": (48000, 1, "room"), "el": (44100, 2, "pink"),
                                    "ca": (16000, 1, "hum50"), "de": (48000, 1, "none")}),
    "voice-like": ("speech", "train", 44100, 1, "none", "bench/clicks.py voice_like", synthetic("voice")),
    # speech, test split: other engines, voices, speakers and languages
    "espeak-en-gb-scotland-f3": ("speech", "test", 44100, 1, "pink", "espeak-ng en-gb-scotland+f3",
                                 espeak("en-gb-scotland+f3")),
    "flite-slt": ("speech", "test", 16000, 1, "room", "flite slt", flite("slt")),
    "flite-rms": ("speech", "test", 44100, 2, "hum60", "flite rms", flite("rms")),
    "festival-kal": ("speech", "test", 48000, 1, "white", "festival kal_diphone", festival),
    "alsa-prompts": ("speech", "test", 48000, 1, "none", "alsa-utils prompts (human)", alsa_prompts),
    "klettres-fr": ("speech", "test", 44100, 1, "hum50", "klettres-data fr (human)", klettres("fr")),
    "klettres-es": ("speech", "test", 16000, 1, "pink", "klettres-data es (human)", klettres("es")),
    # speech, validation split: speakers neither trained nor tuned on, read once to choose between
    # operating points the training split could not tell apart (the test split is never read for that)
    # (the French speaker was recorded at 8 kHz)
    **_ktuberling_sources("valid", {"lt": (44100, 1, "pink"), "gl": (48000, 1, "white"), "sl": (44100, 2, "room"),
                                    "en": (16000, 1, "hum60"), "fr": (44100, 1, "none"), "es": (48000, 1, "pink"),
                                    "it": (44100, 1, "white"), "nl": (16000, 1, "room"), "pt": (44100, 2, "hum50")}),
    # music, training split
    "midi-flying-scotsman": ("music", "train", 44100, 2, "white", "openttd-openmsx + fluidsynth",
                             midi("flying_scotsman")),
    "midi-city-blues": ("music", "train", 48000, 2, "room", "openttd-openmsx + fluidsynth", midi("city_blues_redfarn")),
    "etr-race1": ("music", "train", 44100, 2, "none", "extremetuxracer-data", recording(
        "/usr/share/games/etr/music/race1-jt.ogg")),
    "lmms-keys": ("music", "train", 44100, 1, "pink", "lmms-common organ samples", recording(
        _LMMS + "*organ0[12].ogg", mono=True)),
    "synth-music": ("music", "train", 44100, 1, "none", "bench/clicks.py synth_music", synthetic("music")),
    # music, test split
    "midi-boogi-marabi": ("music", "test", 44100, 2, "pink", "openttd-openmsx + fluidsynth",
                          midi("boogi_marabi_redfarn")),
    "midi-chemistry-lab": ("music", "test", 48000, 1, "hum50", "openttd-openmsx + fluidsynth", midi("chemistry_lab")),
    "etr-calmrace": ("music", "test", 44100, 2, "room", "extremetuxracer-data", recording(
        "/usr/share/games/etr/music/calmrace-ks.ogg")),
    "frozen-bubble-main": ("music", "test", 44100, 2, "white", "frozen-bubble-data", recording(
        "/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg")),
    "lmms-solo": ("music", "test", 44100, 1, "room", "lmms-common piano/violin/guitar/flute samples", recording(
        _LMMS + "[pvsf][iltl]*0[1].ogg", mono=True)),
}

SOURCES: dict[str, Source] = {name: Source(name, *row[:6]) for name, row in _TABLE.items()}
SPLIT = {split: [s.name for s in SOURCES.values() if s.split == split] for split in ("train", "valid", "test")}


def add_floor(x: np.ndarray, rate: int, floor: str, rng: np.random.Generator) -> np.ndarray:
    """A background under the source, about 45-55 dB below its RMS (hum: 40 dB).

    White and pink hiss, mains hum (fundamental plus odd harmonics) and a room tone (low-passed
    rumble with a little hiss).
    """
    if floor == "none":
        return x
    n = len(x)
    rms = float(np.sqrt(np.mean(x ** 2))) or 1e-3
    shape = x.shape
    if floor == "white":
        f = rng.standard_normal(shape)
        level = -50
    elif floor == "pink":
        b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
        a = [1, -2.494956002, 2.017265875, -0.522189400]
        f = lfilter(b, a, rng.standard_normal(shape), axis=0)
        level = -48
    elif floor.startswith("hum"):
        f0 = float(floor[3:])
        t = np.arange(n) / rate
        f = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in (1, 3, 5, 7))
        f = np.repeat(f[:, None], shape[1], axis=1) if x.ndim == 2 else f
        f = f + 0.05 * rng.standard_normal(shape)
        level = -42
    elif floor == "room":
        sos = butter(2, 300, fs=rate, output="sos")
        f = sosfilt(sos, rng.standard_normal(shape), axis=0)
        f = f / (np.std(f) + 1e-12) + 0.2 * rng.standard_normal(shape)
        level = -45
    else:
        raise ValueError(f"unknown floor {floor!r}")
    f = f / (np.sqrt(np.mean(f ** 2)) + 1e-12)
    return x + f * rms * 10 ** (level / 20)


def _excerpt(x: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    """The loudest-on-average stretch of ``seconds`` (skips intros and silent tails)."""
    n = int(seconds * rate)
    if len(x) <= n:
        return x
    m = _mono(x)
    hop = rate // 2
    energy = np.convolve(np.add.reduceat(m ** 2, np.arange(0, len(m), hop)), np.ones(n // hop), mode="valid")
    start = int(np.argmax(energy[:max(1, (len(m) - n) // hop)])) * hop
    return x[start:start + n]


def build_source(src: Source) -> np.ndarray:
    x, rate = _TABLE[src.name][6]()
    x = np.asarray(x, dtype=np.float64)
    x = _resample(x, rate, src.rate_hz)
    x = _excerpt(x, src.rate_hz, EXCERPT_S)
    if src.channels == 2 and x.ndim == 1:
        # a second microphone: a slightly delayed, slightly filtered copy
        d = int(0.0007 * src.rate_hz)
        right = np.concatenate((np.zeros(d), x[:len(x) - d]))
        right = lfilter([0.8, 0.2], [1.0], right)
        x = np.stack((x, right), axis=1)
    elif src.channels == 1 and x.ndim == 2:
        x = _mono(x)
    x = add_floor(x, src.rate_hz, src.floor, np.random.default_rng(_seed("floor", src.name)))
    x = _fade(x, src.rate_hz, 0.02)
    return 0.5 * x / (np.max(np.abs(x)) + 1e-12)


def cache_path(name: str) -> Path:
    return CACHE / f"{name}.flac"


def load(name: str) -> tuple[np.ndarray, int]:
    """The cached clean excerpt of a source (float64, (frames,) or (frames, 2)) and its rate."""
    x, rate = sf.read(cache_path(name), dtype="float64")
    return x, rate


def build(names: list[str] | None = None, force: bool = False) -> dict:
    """Build every missing source; returns the manifest (also written to the cache)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    manifest_path = CACHE / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    if manifest.get("version") != CORPUS_VERSION:
        manifest = {"version": CORPUS_VERSION, "sources": {}}
    missing_tools = [t for t in ("espeak-ng", "flite", "text2wave", "fluidsynth") if shutil.which(t) is None]
    if missing_tools:
        raise SystemExit(f"missing tools {missing_tools}: install the Debian packages in "
                         "bench/requirements-debian.txt (make bench-deps)")
    failed = []
    for name in names or list(SOURCES):
        src = SOURCES[name]
        path = cache_path(name)
        if path.exists() and name in manifest["sources"] and not force:
            continue
        try:
            x = build_source(src)
        except (OSError, subprocess.CalledProcessError, ValueError, RuntimeError) as exc:
            failed.append(f"{name}: {exc}")
            continue
        sf.write(path, x, src.rate_hz, subtype="PCM_24")
        manifest["sources"][name] = {**asdict(src), "seconds": round(len(x) / src.rate_hz, 3)}
        log(f"corpus: {name:28s} {src.split:5s} {src.family:6s} {src.rate_hz:5d} Hz {src.channels} ch "
            f"{len(x) / src.rate_hz:5.1f} s ({src.origin}, floor {src.floor})")
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    if failed:
        raise SystemExit("corpus: could not build " + "; ".join(failed)
                         + "\n(install the Debian packages in bench/requirements-debian.txt: make bench-deps)")
    return manifest


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild every source")
    parser.add_argument("names", nargs="*", help="only these sources")
    args = parser.parse_args()
    manifest = build(args.names or None, args.force)
    for split, names in SPLIT.items():
        secs = sum(manifest["sources"][n]["seconds"] for n in names if n in manifest["sources"])
        log(f"{split}: {len(names)} sources, {secs / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
