"""The before/after picture of a local run.

The "after" curve is the pipeline's actual output file. Click markers come from running our
engine's detection on the input with the upload's parameters: the notification does not carry
click positions, and with our own service as the remote side these are the clicks it repaired.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def write_report(source: Path, output: Path, picture: Path, parameters: Mapping[str, Any] | None = None) -> int:
    """Write the PNG; return the number of clicks marked."""
    from declick.engine import DeclickParams, declick
    from declick.engine.io import read_audio
    from declick.engine.report import render_report

    parameters = parameters or {}
    params = DeclickParams(
        detection_mult=float(parameters.get("detection_mult", 8.0)),
        click_len_ms=float(parameters.get("click_len", 10)),
    )
    before, rate, _ = read_audio(source)
    after, after_rate, _ = read_audio(output)
    if after_rate != rate:
        raise ValueError(f"{output} is at {after_rate} Hz but {source} is at {rate} Hz; cannot overlay them")
    _, found = declick(before, rate, params)
    picture.parent.mkdir(parents=True, exist_ok=True)
    render_report(before, after, rate, found.clicks, picture, title=f"{source.name} → {output.name}")
    return len(found.clicks)
