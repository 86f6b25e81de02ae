"""``declick clean IN OUT``: the engine as a command.

Only argparse is imported at module level: ``declick --help`` must not pay for numpy/scipy.
"""

from __future__ import annotations

import argparse
import sys

from .params import (
    CLICK_LEN_MS_RANGE,
    DEFAULT_CLICK_LEN_MS,
    DEFAULT_DETECTION_MULT,
    DETECTION_MULT_RANGE,
)

# files at least this long get a progress bar
_PROGRESS_MIN_SECONDS = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="IN", help="input audio (WAV or MP3)")
    parser.add_argument("output", metavar="OUT", help="output audio file")
    parser.add_argument("--detection-mult", type=float, default=DEFAULT_DETECTION_MULT, metavar="F",
                        help=f"detection threshold multiplier, {DETECTION_MULT_RANGE[0]:g}-"
                             f"{DETECTION_MULT_RANGE[1]:g} (default {DEFAULT_DETECTION_MULT:g}); higher finds fewer")
    parser.add_argument("--click-len", type=float, default=DEFAULT_CLICK_LEN_MS, metavar="MS",
                        help=f"longest click to repair in milliseconds, {CLICK_LEN_MS_RANGE[0]:g}-"
                             f"{CLICK_LEN_MS_RANGE[1]:g} (default {DEFAULT_CLICK_LEN_MS:g}); longer events are kept")
    parser.add_argument("--format", choices=("wav", "mp3"), default=None,
                        help="output format (default: from OUT's suffix, else wav)")
    parser.add_argument("--report", metavar="PNG", default=None,
                        help="also draw waveform and spectrogram before/after with the clicks marked")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar (none anyway when stderr is not a terminal)")


def run(args: argparse.Namespace) -> int:
    from . import AudioReadError, DeclickError, DeclickParams, ParameterError

    try:
        params = DeclickParams(detection_mult=args.detection_mult, click_len_ms=args.click_len)
    except ParameterError as exc:
        print(f"declick clean: error: {exc}", file=sys.stderr)
        return 2

    from .io import clean_file, open_input

    bar = None
    try:
        with open_input(args.input) as f:
            seconds = f.frames / f.samplerate if f.samplerate else 0.0
        progress = None
        # a bar is for people watching: not in logs, pipes or CI (issue #9)
        if not args.quiet and seconds >= _PROGRESS_MIN_SECONDS and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=None, unit="frames", unit_scale=True, file=sys.stderr, desc="declick", leave=False)

            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

        summary = clean_file(args.input, args.output, params, out_format=args.format, progress=progress)
    except AudioReadError as exc:
        print(f"declick clean: error: {exc}", file=sys.stderr)
        return 3
    except (DeclickError, OSError) as exc:
        print(f"declick clean: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    print(summary.line())
    if args.report:
        from .io import read_audio
        from .report import render_report

        try:
            before, rate, _ = read_audio(args.input)
            after, _, _ = read_audio(args.output)
            render_report(before, after, rate, list(summary.clicks), args.report,
                          title=f"declick clean: {summary.clicks_repaired} clicks repaired")
        except (DeclickError, OSError, ValueError) as exc:
            print(f"declick clean: error: cannot draw report: {exc}", file=sys.stderr)
            return 1
        print(f"report written to {args.report}")
    return 0
