"""Bounds on every string the vendor sends us, applied before it reaches state, logs or notifications.

The vendor's `msg`, `reason`, `task_id` and `voice_result` end up in the Step Functions state
(256 KB per execution, `States.DataLimitExceeded` beyond), in CloudWatch log lines and in the
users' notifications. A vendor bug (a 300 kB stack trace as `reason`) or a hostile answer must
not break any of them, so free text is cut to a bound and stripped of control characters, and
identifiers that would have to be altered to fit are refused outright: an altered task id or URL
would point at someone else's task or nowhere.
"""

from __future__ import annotations

import re
from typing import Any

# Free text (msg, reason, error messages quoting the vendor): plenty for a human-readable reason.
TEXT_MAX_CHARS = 1000
# An identifier we put in a URL path and an execution name; real ids are a few dozen characters.
TASK_ID_MAX_CHARS = 128
# A presigned result URL can be long (a session token alone is ~1 kB), but not unbounded.
URL_MAX_CHARS = 4096

_SPACES = re.compile(r" {2,}")


def _printable(text: str) -> str:
    """Every character Python does not call printable (controls, format characters such as bidi
    overrides and zero-width joiners, separators other than space, lone surrogates that cannot
    even be encoded as UTF-8, unassigned code points) becomes a space; runs of them become one."""
    if text.isprintable():
        return text
    return _SPACES.sub(" ", "".join(ch if ch.isprintable() else " " for ch in text))


def clean_text(value: Any, limit: int = TEXT_MAX_CHARS) -> str | None:
    """Vendor free text as one safe line of at most `limit` characters; None when blank.

    Runs of unprintable characters become one space. A cut text says how much was dropped, so a
    reader knows the vendor sent more. Only a window a little longer than the bound is scanned,
    so a 300 kB reason costs no more than a short one.
    """
    if value is None:
        return None
    text = value if isinstance(value, str) else _as_string(value)
    window = limit + 256
    cleaned = _printable(text[:window]).strip()
    if len(text) <= window and len(cleaned) <= limit:
        return cleaned or None
    marker = f" ... [cut: the vendor sent {len(text)} characters]"
    return cleaned[: max(0, limit - len(marker))].rstrip() + marker


def _as_string(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an int past Python's 4300-digit str() limit
        return f"<{type(value).__name__} too large to show>"


def is_clean_identifier(value: str, limit: int) -> bool:
    """Printable ASCII without spaces, 1..limit characters: usable as-is in a path, a log and a name."""
    return 0 < len(value) <= limit and all(0x21 <= ord(ch) <= 0x7E for ch in value)
