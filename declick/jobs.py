"""One task of the API, start to finish: fetch `file_link`, verify it, clean it, write the result.

Shared by the self-hosted service's worker processes (declick.service.worker) and the engine
backend's worker Lambda (functions/declick_engine_backend), so that both refuse the same files
with the same codes and reasons. Heavy imports (soundfile, the engine) happen inside the
functions: the service sets its thread-count variables before numpy loads.

A job is a plain dict and so is the answer, so nothing but picklable builtins crosses a pipe.
Every failure becomes `{"ok": False, "code": ..., "reason": ...}`; an exception escaping here
would leave the caller guessing what happened.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from declick_contract.codes import Code, reason_text

_WAV_FORMATS = frozenset({"WAV", "WAVEX", "RF64"})
_MP3_FORMATS = frozenset({"MP3", "MPEG"})
_PROGRESS_INTERVAL = 0.5  # seconds between progress messages to the scheduler


class TaskError(Exception):
    def __init__(self, code: Code, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


# What a task carries from its create request into a job; both task types (the service's SQLite
# row and the engine backend's DynamoDB item) use these names.
REQUEST_FIELDS = (
    "file_link",
    "file_size",
    "file_md5",
    "file_time",
    "input_ext",
    "detection_mult",
    "click_len",
    "output_ext",
)


def new_job(task_id: str, task: object, limits: object, *, retry_delay_seconds: float, **paths: str) -> dict:
    """The job `run_job` expects, from a task (REQUEST_FIELDS), the server's download and audio
    limits (`limits`: the service's or the backend's settings) and the paths of this run
    (`work_path`, `result_path`, optionally `part_path`)."""
    return {
        "id": task_id,
        **{name: getattr(task, name) for name in REQUEST_FIELDS},
        **paths,
        "max_bytes": limits.max_input_bytes,
        "download_timeout_seconds": limits.download_timeout_seconds,
        "download_retries": limits.download_retries,
        "download_retry_delay_seconds": retry_delay_seconds,
        "allowed_hosts": sorted(limits.allowed_hosts),
        "max_audio_seconds": limits.max_audio_seconds,
        "duration_tolerance_seconds": limits.duration_tolerance_seconds,
        "duration_tolerance_ratio": limits.duration_tolerance_ratio,
    }


def _part_path(job: dict) -> Path:
    """Where this run writes before the final rename: the service gives each attempt its own
    (`part_path`), so a restarted run never shares a file with an orphan of a crashed one."""
    return Path(job.get("part_path") or job["result_path"] + ".part")


def run_job(job: dict, conn=None) -> dict:
    started = time.monotonic()
    work = Path(job["work_path"])
    try:
        size, md5 = _download(job, work)
        _verify(job, size, md5)
        audio_seconds = _check_audio(job, work)
        engine_seconds, clicks = _clean(job, work, conn)
        result = Path(job["result_path"])
        return {
            "kind": "result",
            "id": job["id"],
            "ok": True,
            "audio_seconds": audio_seconds,
            "engine_seconds": engine_seconds,
            "wall_seconds": time.monotonic() - started,
            "size": result.stat().st_size,
            "clicks": clicks,
        }
    except TaskError as exc:
        return {
            "kind": "result",
            "id": job["id"],
            "ok": False,
            "code": int(exc.code),
            "reason": reason_text(exc.code, exc.detail),
        }
    except Exception as exc:  # noqa: BLE001 - the worker must answer, whatever broke
        detail = f"{exc.__class__.__name__}: {exc}"[:500]
        code = Code.PROCESSING_FAILED
        return {"kind": "result", "id": job["id"], "ok": False, "code": int(code), "reason": reason_text(code, detail)}
    finally:
        work.unlink(missing_ok=True)
        part = _part_path(job)
        for leftover in (part, part.with_name(part.name + ".partial")):  # ours, and the engine's temporary
            leftover.unlink(missing_ok=True)


def _download(job: dict, work: Path) -> tuple[int, str]:
    """Fetch `file_link`, retrying what may be transient (connection errors, 5xx, 429, timeouts)."""
    from declick_contract.safe_download import (
        DownloadError,
        DownloadPolicy,
        DownloadTooLargeError,
        UnsafeUrlError,
        stream_download,
    )

    policy = DownloadPolicy(
        max_bytes=job["max_bytes"],
        timeout_seconds=job["download_timeout_seconds"],
        allowed_hosts=frozenset(job["allowed_hosts"]),
    )
    work.parent.mkdir(parents=True, exist_ok=True)
    retries = job.get("download_retries", 0)
    for attempt in range(retries + 1):
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            with stream_download(job["file_link"], policy) as chunks, open(work, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            return size, digest.hexdigest()
        except UnsafeUrlError as exc:
            raise TaskError(Code.DOWNLOAD_FAILED, f"file_link refused: {exc}") from None
        except DownloadTooLargeError:
            raise TaskError(Code.FILE_TOO_LARGE, f"file_link is larger than {policy.max_bytes} bytes") from None
        except DownloadError as exc:
            if not exc.transient or attempt == retries:
                tries = f" (after {attempt + 1} tries)" if attempt else ""
                raise TaskError(Code.DOWNLOAD_FAILED, f"{exc}{tries}") from None
        except OSError as exc:
            raise TaskError(Code.DOWNLOAD_FAILED, f"cannot store the download: {exc.strerror}") from None
        time.sleep(job.get("download_retry_delay_seconds", 1.0) * (attempt + 1))
    raise AssertionError("unreachable")  # the loop returns or raises


def _verify(job: dict, size: int, md5: str) -> None:
    if size != job["file_size"]:
        raise TaskError(Code.CHECKSUM_MISMATCH, f"downloaded {size} bytes, file_info.file_size says {job['file_size']}")
    if md5 != job["file_md5"].lower():
        raise TaskError(
            Code.CHECKSUM_MISMATCH, f"downloaded file has md5 {md5}, file_info.file_md5 says {job['file_md5']}"
        )


def _check_audio(job: dict, work: Path) -> float:
    import soundfile

    try:
        info = soundfile.info(str(work))
    except Exception:  # noqa: BLE001 - libsndfile raises several types for undecodable input
        raise TaskError(Code.UNSUPPORTED_FORMAT, "the file is not readable as WAV or MP3") from None
    fmt = (info.format or "").upper()
    actual = "wav" if fmt in _WAV_FORMATS else "mp3" if fmt in _MP3_FORMATS else None
    if actual is None:
        raise TaskError(
            Code.UNSUPPORTED_FORMAT, f"the file is {info.format_info or fmt}, only WAV and MP3 are accepted"
        )
    if actual != job["input_ext"]:
        raise TaskError(Code.UNSUPPORTED_FORMAT, f"file_info.file_ext says {job['input_ext']} but the file is {actual}")
    if info.samplerate <= 0 or info.frames <= 0:
        raise TaskError(Code.INVALID_AUDIO, "the file contains no audio")
    duration = info.frames / info.samplerate
    if duration > job["max_audio_seconds"]:
        raise TaskError(
            Code.INVALID_AUDIO, f"audio is {duration:.0f} s long, the limit is {job['max_audio_seconds']:.0f} s"
        )
    tolerance = max(job["duration_tolerance_seconds"], job["duration_tolerance_ratio"] * duration)
    if abs(duration - job["file_time"]) > tolerance:
        raise TaskError(
            Code.INVALID_AUDIO, f"audio is {duration:.1f} s long, file_info.file_time says {job['file_time']:g} s"
        )
    return duration


def _clean(job: dict, work: Path, conn=None) -> tuple[float, int | None]:
    from declick.engine import AudioReadError, AudioWriteError, DeclickParams, ParameterError, clean_file

    result = Path(job["result_path"])
    part = _part_path(job)
    result.parent.mkdir(parents=True, exist_ok=True)
    try:
        params = DeclickParams(detection_mult=float(job["detection_mult"]), click_len_ms=float(job["click_len"]))
        started = time.monotonic()
        last_report = [started]

        def progress(done: int, total: int) -> None:
            # Throttled: the scheduler only needs it for wait_time estimates.
            now = time.monotonic()
            if conn is not None and now - last_report[0] >= _PROGRESS_INTERVAL:
                last_report[0] = now
                message = {"kind": "progress", "id": job["id"], "done": done, "total": total}
                conn.send({**message, "engine_seconds": now - started})

        summary = clean_file(str(work), str(part), params, out_format=job["output_ext"], progress=progress)
        elapsed = time.monotonic() - started
    except ParameterError as exc:  # ranges were validated on submission: this is the audio (e.g. its rate)
        raise TaskError(Code.UNSUPPORTED_FORMAT, str(exc)) from None
    except AudioWriteError as exc:
        raise TaskError(Code.PROCESSING_FAILED, str(exc)) from None
    except AudioReadError as exc:
        raise TaskError(Code.UNSUPPORTED_FORMAT, f"cannot decode the audio: {exc}") from None
    os.replace(part, result)
    clicks = getattr(summary, "clicks_repaired", None)
    return elapsed, int(clicks) if clicks is not None else None
