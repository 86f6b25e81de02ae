"""Exceptions whose class names cross a process boundary.

A Lambda's error type is its exception's class name, and the state machine's Retry and Catch
match on that text (infra/workflow.py); `report_failure` turns it back into a notification code.
Keeping the classes here lets infra name them by `__name__`, and tests check that every name in
the synthesized state machine is one of them.
"""

from __future__ import annotations


class RemoteApiError(RuntimeError):
    """Base of every error raised by the remote API client."""


class RemoteApiTransientError(RemoteApiError):
    """Network trouble, 5xx or 429 that outlasted the retries: the same request may succeed later.

    `retry_after` is the vendor's `Retry-After` (seconds) when the client chose not to wait that
    long itself, so the caller can schedule the retry (e.g. an SQS message's visibility).
    """

    def __init__(self, message: str, *, http_status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.retry_after = retry_after


class RemoteApiRejectedError(RemoteApiError):
    """The vendor refused the request (`code != 0` or an HTTP 4xx): resending it will not help."""

    def __init__(self, message: str, *, code: int | None = None, msg: str = "", http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.msg = msg
        self.http_status = http_status


class RemoteApiAuthError(RemoteApiRejectedError):
    """401/403: our credentials are wrong. An operator problem, not the uploaded file's."""


class RemoteApiResponseError(RemoteApiError):
    """The vendor answered 2xx with a body we cannot understand (not JSON, missing fields)."""


class DeliveryRejectedError(Exception):
    """The result can never be delivered; retrying will not help."""


class ResultMissingError(DeliveryRejectedError):
    """The task is complete but the vendor gave no `voice_result` URL."""


class ResultUrlRefusedError(DeliveryRejectedError):
    """`voice_result` points somewhere we must not fetch from (not https, a private address...)."""


class ResultDownloadRefusedError(DeliveryRejectedError):
    """The result server refused the download for good (4xx, over the size limit, redirect loop)."""


class ResultFormatError(DeliveryRejectedError):
    """The downloaded bytes are not audio in the requested output format."""


class ResultDownloadError(RuntimeError):
    """The download failed in a way that may pass (5xx, timeout, dropped connection)."""


PIPELINE_ERRORS: tuple[type[Exception], ...] = (
    RemoteApiError,
    RemoteApiTransientError,
    RemoteApiRejectedError,
    RemoteApiAuthError,
    RemoteApiResponseError,
    DeliveryRejectedError,
    ResultMissingError,
    ResultUrlRefusedError,
    ResultDownloadRefusedError,
    ResultFormatError,
    ResultDownloadError,
)
