"""HTTP Basic credentials checked in constant time, for every server of the API.

The self-hosted service and the engine backend's API Lambda both accept
`Authorization: Basic base64(appkey:appsecret)`. The check compares SHA-256 digests (fixed length,
so the comparison does not leak a secret's length) of every known pair with no early exit, so
the time taken does not tell a caller which part was wrong or how many keys exist.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Mapping


class AuthenticationFailed(Exception):
    """The header is missing, malformed or names no known appkey/appsecret pair (the text says which)."""

    def __init__(self, detail: str, appkey: str = ""):
        super().__init__(detail)
        self.appkey = appkey[:64]


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class BasicAuthenticator:
    def __init__(self, credentials: Mapping[str, str]):
        self._credentials = [(digest(key), digest(secret), key) for key, secret in credentials.items()]

    def authenticate(self, header: str | None) -> str:
        """The appkey of a valid `Authorization: Basic` header, else AuthenticationFailed."""
        scheme, _, param = (header or "").partition(" ")
        if scheme.lower() != "basic" or not param.strip():
            raise AuthenticationFailed("missing Basic credentials")
        try:
            user, sep, password = base64.b64decode(param.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise AuthenticationFailed("malformed Basic credentials") from None
        if not sep:
            raise AuthenticationFailed("malformed Basic credentials")
        user_digest, password_digest = digest(user), digest(password)
        found = None
        for key_digest, secret_digest, key in self._credentials:  # no early exit: same time for every pair
            if secrets.compare_digest(key_digest, user_digest) & secrets.compare_digest(secret_digest, password_digest):
                found = key
        if found is None:
            raise AuthenticationFailed("wrong appkey or appsecret", appkey=user)
        return found


def same_owner(owner: str, appkey: str) -> bool:
    """Whether a task created with `owner` may be read with `appkey` (constant time)."""
    return secrets.compare_digest(owner.encode(), appkey.encode())
