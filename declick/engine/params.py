"""Parameters, errors and result records of the engine.

Kept free of numpy so that the CLI and the service can validate parameters without paying for
the numeric stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from declick_contract import api

DETECTION_MULT_RANGE = api.DETECTION_MULT_RANGE
CLICK_LEN_MS_RANGE = (float(api.CLICK_LEN_RANGE[0]), float(api.CLICK_LEN_RANGE[1]))
SAMPLE_RATE_RANGE = (8000, 96000)
DEFAULT_DETECTION_MULT = api.DEFAULT_DETECTION_MULT
DEFAULT_CLICK_LEN_MS = float(api.DEFAULT_CLICK_LEN)


class DeclickError(Exception):
    """Base of the engine's own errors, so callers can catch them without catching bugs."""


class ParameterError(DeclickError, ValueError):
    """A parameter (or the audio's sample rate) is outside what the engine supports."""


class AudioReadError(DeclickError):
    """The input file cannot be opened or decoded as audio."""


class AudioWriteError(DeclickError):
    """The output cannot be written in the requested format (e.g. MP3 above 48 kHz)."""


def _check_range(name: str, value: float, bounds: tuple[float, float]) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(number) or not bounds[0] <= number <= bounds[1]:
        raise ParameterError(f"{name} must be between {bounds[0]:g} and {bounds[1]:g}, got {value!r}")
    return number


@dataclass(frozen=True)
class DeclickParams:
    """The two knobs of the remote API, with its ranges.

    ``detection_mult`` scales the detection threshold: a sample is suspicious when its
    prediction error exceeds ``detection_mult`` times a robust (median-based) estimate of the
    local prediction-error scale. Higher means fewer, stronger clicks are found.

    ``click_len_ms`` is the longest click that is repaired, in **milliseconds** (the remote API
    calls it ``click_len`` and gives no unit; keyboard clicks last 3-15 ms, so a sample count in
    5-30 would be meaningless at 44.1 kHz). A burst up to three times longer (at most 30 ms) is
    repaired only when the verifier is sure it is a click (a real key click is several impacts
    and their ringing, 5-30 ms); anything longer is left untouched, because repairing it would
    mean inventing tens of milliseconds of signal.
    """

    detection_mult: float = DEFAULT_DETECTION_MULT
    click_len_ms: float = DEFAULT_CLICK_LEN_MS

    def __post_init__(self) -> None:
        object.__setattr__(self, "detection_mult",
                           _check_range("detection_mult", self.detection_mult, DETECTION_MULT_RANGE))
        object.__setattr__(self, "click_len_ms",
                           _check_range("click_len_ms", self.click_len_ms, CLICK_LEN_MS_RANGE))


def check_sample_rate(sample_rate: int) -> int:
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"sample rate must be an integer, got {sample_rate!r}") from exc
    if rate != sample_rate or not SAMPLE_RATE_RANGE[0] <= rate <= SAMPLE_RATE_RANGE[1]:
        raise ParameterError(
            f"sample rate must be between {SAMPLE_RATE_RANGE[0]} and {SAMPLE_RATE_RANGE[1]} Hz, got {sample_rate!r}")
    return rate


@dataclass(frozen=True)
class Click:
    """One repaired span: frames ``start`` (inclusive) to ``stop`` (exclusive) of one channel.

    Only samples inside such spans are ever changed by the engine.
    """

    channel: int
    start: int
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass
class DeclickReport:
    """What the engine did to one signal."""

    sample_rate: int
    frames: int
    channels: int
    clicks: list[Click] = field(default_factory=list)
    #: impulsive events found but longer than ``click_len_ms`` (and not sure clicks up to three
    #: times that), therefore left alone
    skipped_long: int = 0
    #: events that looked like the signal's own transients once restored, therefore left alone
    skipped_signal: int = 0
    #: events whose restoration could not be solved (numerically singular), therefore left alone
    skipped_unsolved: int = 0

    @property
    def clicks_found(self) -> int:
        """Clicks detected, repaired or not (too long, or unsolvable)."""
        return len(self.clicks) + self.skipped_long + self.skipped_unsolved

    @property
    def clicks_repaired(self) -> int:
        return len(self.clicks)


@dataclass(frozen=True)
class CleanSummary:
    """Result of :func:`declick.engine.clean_file`."""

    clicks_found: int
    clicks_repaired: int
    audio_seconds: float
    wall_seconds: float
    sample_rate: int
    channels: int
    frames: int
    out_format: str
    clicks: tuple[Click, ...] = ()

    def line(self) -> str:
        speed = self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else float("inf")
        return (f"{self.clicks_found} clicks found, {self.clicks_repaired} repaired in "
                f"{self.audio_seconds:.2f} s of audio ({self.channels} ch, {self.sample_rate} Hz) "
                f"in {self.wall_seconds:.2f} s wall ({speed:.0f}x real time)")
