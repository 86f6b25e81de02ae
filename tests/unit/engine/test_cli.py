"""``declick clean`` through the real dispatcher."""

from __future__ import annotations

import sys

import numpy as np
import soundfile as sf

from declick.cli import main

from .helpers import music_like, to_int16


def _src(tmp_path, seconds=1.0, rate=22050):
    x = music_like(rate, seconds)
    x[rate // 2] += 0.5
    path = tmp_path / "in.wav"
    sf.write(str(path), to_int16(x), rate, subtype="PCM_16")
    return path


def test_clean_prints_summary(tmp_path, capsys):
    out = tmp_path / "out.wav"
    assert main(["clean", str(_src(tmp_path)), str(out)]) == 0
    line = capsys.readouterr().out.strip().splitlines()[0]
    assert line.startswith("1 clicks found, 1 repaired in 1.00 s of audio")
    assert "wall" in line
    assert sf.info(str(out)).frames == 22050


def test_clean_with_parameters_and_mp3(tmp_path, capsys):
    out = tmp_path / "out.any"
    rc = main(["clean", str(_src(tmp_path)), str(out), "--detection-mult", "6", "--click-len", "30",
               "--format", "mp3"])
    assert rc == 0
    assert sf.info(str(out)).format == "MP3"


def test_out_of_range_parameters_fail(tmp_path, capsys):
    src = _src(tmp_path)
    assert main(["clean", str(src), str(tmp_path / "o.wav"), "--detection-mult", "11"]) == 2
    assert "detection_mult must be between 6 and 10" in capsys.readouterr().err
    assert main(["clean", str(src), str(tmp_path / "o.wav"), "--click-len", "2"]) == 2
    assert "click_len_ms must be between 5 and 30" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


def test_unreadable_input_fails(tmp_path, capsys):
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"\x00" * 100)
    assert main(["clean", str(bad), str(tmp_path / "o.wav")]) == 3
    assert "cannot read audio" in capsys.readouterr().err
    assert main(["clean", str(tmp_path / "nope.wav"), str(tmp_path / "o.wav")]) == 3


def test_report_writes_png(tmp_path, capsys):
    png = tmp_path / "r.png"
    assert main(["clean", str(_src(tmp_path)), str(tmp_path / "o.wav"), "--report", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
    assert "report written" in capsys.readouterr().out


def test_progress_bar_on_long_files_when_stderr_is_a_terminal(tmp_path, capsys, monkeypatch):
    src = _src(tmp_path, seconds=25.0, rate=8000)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["clean", str(src), str(tmp_path / "o.wav")]) == 0
    captured = capsys.readouterr()
    assert "declick" in captured.err  # tqdm's description, on stderr
    assert "clicks found" in captured.out


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    src = _src(tmp_path, seconds=25.0, rate=8000)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert main(["clean", str(src), str(tmp_path / "o.wav")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "clicks found" in captured.out


def test_render_report_marks_only_the_channel_drawn(tmp_path):
    from declick.engine import Click
    from declick.engine.report import render_report

    x = np.zeros((4000, 2), np.int16)
    render_report(x, x, 8000, [Click(0, 100, 120), Click(1, 200, 210)], tmp_path / "a.png", channel=1)
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
