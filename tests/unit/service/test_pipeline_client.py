"""The pipeline's own API client (declick_pipeline.remote_api) against our service.

The issue's bar is that the pipeline cannot tell the service from the vendor: so its real client
creates a task, polls it on the announced `wait_time`, and fetches `voice_result` with the same
safe downloader the deliver step uses; and it sees our errors as the errors it expects.
"""

from __future__ import annotations

import hashlib
import io
import time
from urllib.parse import urlsplit

import pytest
import soundfile as sf

from declick_contract.errors import RemoteApiAuthError, RemoteApiRejectedError
from declick_contract.models import CreateTaskRequest, FileInfo
from declick_contract.safe_download import DownloadPolicy, stream_download
from declick_pipeline.remote_api import Credentials, RemoteApiClient

from .conftest import APPKEY, APPSECRET, make_audio


@pytest.fixture(scope="module")
def service(start_service):
    return start_service(workers=1, min_wait_seconds=0, max_wait_seconds=2)


def _request(link: str, data: bytes, fmt: str = "wav", out: str = "mp3") -> CreateTaskRequest:
    return CreateTaskRequest(
        file_link=link,
        file_info=FileInfo(
            file_size=len(data),
            file_md5=hashlib.md5(data).hexdigest(),  # noqa: S324 - the API's checksum
            file_time=1,
            file_ext=fmt,
        ),
        detection_mult=8.0,
        click_len=10,
        output_ext=out,
        priority=5,
    )


def test_the_pipeline_client_runs_a_task_to_the_end(service, files):
    handle, _ = service
    client = RemoteApiClient(handle.url, Credentials(APPKEY, APPSECRET), max_retries=0)
    data = make_audio("wav", seconds=1, seed=30)
    task_id = client.create_task(_request(files.serve("pipeline.wav", data), data))
    deadline = time.monotonic() + 60
    while (result := client.get_result(task_id)).status in (1, 2):
        assert result.wait_time is not None and result.wait_time >= 0
        assert time.monotonic() < deadline
        time.sleep(max(result.wait_time, 0.05))
    assert result.status == 3, result
    assert result.voice_result
    policy = DownloadPolicy(
        max_bytes=10_000_000, timeout_seconds=10, allowed_hosts=frozenset({urlsplit(handle.url).netloc})
    )
    with stream_download(result.voice_result, policy) as chunks:
        body = b"".join(chunks)
    assert sf.info(io.BytesIO(body)).format == "MP3"


def test_the_pipeline_client_sees_our_errors_as_vendor_errors(service, files):
    handle, _ = service
    data = make_audio("wav", seconds=1, seed=31)
    request = _request(files.serve("pipeline-errors.wav", data), data)
    with pytest.raises(RemoteApiAuthError):
        RemoteApiClient(handle.url, Credentials(APPKEY, "wrong"), max_retries=0).create_task(request)
    client = RemoteApiClient(handle.url, Credentials(APPKEY, APPSECRET), max_retries=0)
    with pytest.raises(RemoteApiRejectedError) as unknown:
        client.get_result("no-such-task")
    assert unknown.value.code == 1003
    refused = request.model_copy(update={"file_link": "http://10.9.8.7/a.wav"})
    with pytest.raises(RemoteApiRejectedError) as bad:
        client.create_task(refused)
    assert bad.value.code == 1002
    assert "file_link" in bad.value.msg
