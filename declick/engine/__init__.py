"""Declick engine: click detection and restoration as a library.

The public API is small on purpose (see docs/architecture.md, "Engine API")::

    from declick.engine import DeclickParams, declick, clean_file
    restored, report = declick(samples, sample_rate, DeclickParams(detection_mult=8.0, click_len_ms=10.0))
    summary = clean_file("in.wav", "out.mp3", DeclickParams(), out_format="mp3")

Heavy modules (numpy, scipy, soundfile) are imported on first use so that parameter
validation and the CLI's ``--help`` stay cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .params import (
    CLICK_LEN_MS_RANGE,
    DETECTION_MULT_RANGE,
    AudioReadError,
    AudioWriteError,
    CleanSummary,
    Click,
    DeclickError,
    DeclickParams,
    DeclickReport,
    ParameterError,
)

if TYPE_CHECKING:
    from .core import Declicker, declick
    from .io import clean_file

__all__ = [
    "CLICK_LEN_MS_RANGE",
    "DETECTION_MULT_RANGE",
    "AudioReadError",
    "AudioWriteError",
    "CleanSummary",
    "Click",
    "DeclickError",
    "DeclickParams",
    "DeclickReport",
    "Declicker",
    "ParameterError",
    "clean_file",
    "declick",
]

_LAZY = {"declick": "core", "Declicker": "core", "clean_file": "io"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
