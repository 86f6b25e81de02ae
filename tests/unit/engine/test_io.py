"""File front-end: formats, subtypes, round trips and errors, with real files via soundfile."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from declick.engine import AudioReadError, AudioWriteError, DeclickParams, ParameterError, clean_file

from .helpers import music_like, to_int16


def _write(path, data, rate, subtype):
    sf.write(str(path), data, rate, subtype=subtype, format="WAV")
    return path


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_wav_round_trip_keeps_subtype_length_rate_and_exactness(tmp_path, subtype):
    rate = 32000
    x = np.stack((music_like(rate, 2.0, 1), music_like(rate, 2.0, 2)), axis=1) * 0.8
    x[rate, 0] += 0.5
    src = _write(tmp_path / "in.wav", x, rate, subtype)
    dst = tmp_path / "out.wav"
    summary = clean_file(src, dst, DeclickParams())
    info = sf.info(str(dst))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (rate, 2, len(x), subtype)
    assert summary.clicks_repaired == 1 and summary.clicks[0].channel == 0
    assert (summary.frames, summary.channels, summary.sample_rate) == (len(x), 2, rate)
    assert summary.audio_seconds == pytest.approx(2.0)
    dtype = "float32" if subtype == "FLOAT" else "int32"
    before = sf.read(str(src), dtype=dtype)[0]
    after = sf.read(str(dst), dtype=dtype)[0]
    changed = np.flatnonzero(np.any(before != after, axis=1))
    click = summary.clicks[0]
    assert changed.size > 0 and changed.min() >= click.start and changed.max() < click.stop
    assert np.array_equal(after[:, 1], before[:, 1])


def test_pcm24_restored_samples_stay_on_the_24_bit_grid(tmp_path):
    rate = 44100
    x = music_like(rate, 1.0)
    x[20000] -= 0.7
    src = _write(tmp_path / "in.wav", x, rate, "PCM_24")
    clean_file(src, tmp_path / "out.wav")
    after = sf.read(str(tmp_path / "out.wav"), dtype="int32")[0]
    assert np.all(after % 256 == 0)
    assert abs(after[20000] / 2 ** 31 - (x[20000] + 0.7)) < 0.01


def test_mp3_in_and_out(tmp_path):
    rate = 44100
    x = music_like(rate, 2.0)
    x[50000] += 0.6
    src_wav = _write(tmp_path / "in.wav", x, rate, "PCM_16")
    mp3 = tmp_path / "out.mp3"
    summary = clean_file(src_wav, mp3, out_format="mp3")
    assert summary.out_format == "mp3" and summary.clicks_repaired == 1
    info = sf.info(str(mp3))
    assert info.format == "MP3" and info.samplerate == rate and info.channels == 1
    # an MP3 as input, WAV out (16-bit, since MP3 has no PCM subtype)
    back = tmp_path / "back.wav"
    summary2 = clean_file(mp3, back)
    info2 = sf.info(str(back))
    assert info2.subtype == "PCM_16" and info2.frames == sf.info(str(mp3)).frames
    assert summary2.frames == info2.frames


def test_format_follows_suffix_unless_given(tmp_path):
    src = _write(tmp_path / "in.wav", to_int16(music_like(16000, 0.5)), 16000, "PCM_16")
    assert clean_file(src, tmp_path / "a.mp3").out_format == "mp3"
    assert sf.info(str(tmp_path / "a.mp3")).format == "MP3"
    assert clean_file(src, tmp_path / "b.bin").out_format == "wav"
    assert sf.info(str(tmp_path / "b.bin")).format == "WAV"
    with pytest.raises(ParameterError):
        clean_file(src, tmp_path / "c.wav", out_format="flac")


def test_one_frame_file(tmp_path):
    src = _write(tmp_path / "one.wav", np.array([[1234, -5]], dtype=np.int16), 8000, "PCM_16")
    summary = clean_file(src, tmp_path / "o.wav")
    data, rate = sf.read(str(tmp_path / "o.wav"), dtype="int16", always_2d=True)
    assert rate == 8000 and data.tolist() == [[1234, -5]] and summary.frames == 1


def test_unreadable_input(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(AudioReadError):
        clean_file(bad, tmp_path / "o.wav")
    with pytest.raises(AudioReadError):
        clean_file(tmp_path / "missing.wav", tmp_path / "o.wav")
    assert not (tmp_path / "o.wav").exists()


def test_unsupported_rates(tmp_path):
    src = _write(tmp_path / "in.wav", np.zeros(1000, np.int16), 96000, "PCM_16")
    with pytest.raises(AudioWriteError):
        clean_file(src, tmp_path / "o.mp3")
    assert clean_file(src, tmp_path / "o.wav").sample_rate == 96000
    low = _write(tmp_path / "low.wav", np.zeros(1000, np.int16), 6000, "PCM_16")
    with pytest.raises(ParameterError):
        clean_file(low, tmp_path / "o2.wav")
    assert not (tmp_path / "o2.wav").exists()


def test_progress_is_reported(tmp_path):
    rate = 8000
    src = _write(tmp_path / "in.wav", to_int16(music_like(rate, 20.0)), rate, "PCM_16")
    calls = []
    clean_file(src, tmp_path / "o.wav", progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1] == (20 * rate, 20 * rate)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
