"""`declick local run`, as `make demo` calls it: notifications on stdout, outputs and picture on disk."""

from __future__ import annotations

import json

from declick.cli import main
from tests.e2e import audio


def test_local_run_on_our_service_writes_output_and_picture(template, tmp_path, capsys):
    source = tmp_path / "speech with clicks.wav"
    source.write_bytes(audio.wav(seconds=0.8, seed=11))
    out = tmp_path / "out"
    code = main(["local", "run", str(source), "--out", str(out), "--report", str(out / "before_after.png")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    (line,) = captured.out.strip().splitlines()
    note = json.loads(line)
    assert note["status"] == "SUCCEEDED" and note["input"]["key"] == "speech with clicks.wav"
    assert (out / "speech with clicks.mp3").stat().st_size == note["output"]["size"]
    assert (out / "before_after.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "pipeline.log").stat().st_size > 0
    assert "SUCCEEDED ->" in captured.err


def test_local_run_exits_non_zero_when_an_upload_does_not_succeed(template, tmp_path, capsys):
    good = tmp_path / "good.wav"
    good.write_bytes(audio.wav(seed=12))
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all\n" * 10)
    code = main(["local", "run", str(good), str(bad), "--out", str(tmp_path / "out"), "--meta", "output-format=wav"])
    captured = capsys.readouterr()
    assert code == 1
    notes = {json.loads(line)["input"]["key"]: json.loads(line) for line in captured.out.strip().splitlines()}
    assert notes["good.wav"]["status"] == "SUCCEEDED" and notes["good.wav"]["output"]["key"] == "good.wav"
    assert notes["notes.wav"]["status"] == "REJECTED" and notes["notes.wav"]["error"]["code"] == "NOT_AUDIO"
    assert (tmp_path / "out" / "good.wav").is_file()
    assert "notes.wav: REJECTED NOT_AUDIO" in captured.err


def test_local_run_against_another_api_endpoint(template, tmp_path, capsys, monkeypatch):
    from declick.local.fake_vendor import FakeVendor, Reply

    source = tmp_path / "call.wav"
    source.write_bytes(audio.wav(seed=13))
    with FakeVendor(appkey="k-cli", appsecret="s-cli") as vendor:
        result = vendor.serve_file("call.wav", audio.wav(seed=14), "audio/wav")
        vendor.script_create(Reply.created("task-cli"))
        vendor.script_task("task-cli", Reply.result(2, wait_time="0"), Reply.result(3, voice_result=result))
        monkeypatch.setenv("DECLICK_APPSECRET", "s-cli")
        argv = ["local", "run", str(source), "--out", str(tmp_path / "out"), "--api-url", vendor.url]
        code = main([*argv, "--appkey", "k-cli", "--meta", "output-format=wav", "--prefix", "calls/2026"])
        assert len(vendor.created_tasks()) == 1
        assert vendor.created_tasks()[0].json["file_ext"] == "wav"
    captured = capsys.readouterr()
    assert code == 0, captured.err
    note = json.loads(captured.out)
    assert note["task"]["id"] == "task-cli" and note["input"]["key"] == "calls/2026/call.wav"
    assert (tmp_path / "out" / "calls" / "2026" / "call.wav").read_bytes() == audio.wav(seed=14)
    assert "the given API" in captured.err
