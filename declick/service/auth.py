"""Who may call the API: HTTP Basic `appkey:appsecret` pairs, and the operator's bearer token."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
from collections.abc import Mapping

from fastapi import Request
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.security.base import SecurityBase

from declick.service.codes import Code
from declick.service.errors import ApiError

log = logging.getLogger("declick.service")


class BasicAuth(SecurityBase):
    """Declares HTTP Basic in the OpenAPI document; the check itself is `Authenticator.authenticate`."""

    def __init__(self) -> None:
        self.model = HTTPBaseModel(scheme="basic", description="Basic base64(appkey:appsecret)")
        self.scheme_name = "BasicAuth"

    async def __call__(self, request: Request) -> str | None:
        return request.headers.get("Authorization")


basic_auth = BasicAuth()


def _digest(value: str) -> bytes:
    # Comparing fixed-length digests keeps compare_digest from leaking the secret's length.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class Authenticator:
    def __init__(self, credentials: Mapping[str, str], admin_token: str | None):
        self._credentials = [(_digest(k), _digest(v), k) for k, v in credentials.items()]
        self._admin = _digest(f"Bearer {admin_token}") if admin_token else None

    def authenticate(self, header: str | None) -> str:
        """The appkey of a valid `Authorization: Basic` header, else ApiError(AUTH_FAILED)."""
        scheme, _, param = (header or "").partition(" ")
        if scheme.lower() != "basic" or not param.strip():
            raise ApiError(Code.AUTH_FAILED, "missing Basic credentials", 401)
        try:
            user, sep, password = base64.b64decode(param.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ApiError(Code.AUTH_FAILED, "malformed Basic credentials", 401) from None
        if not sep:
            raise ApiError(Code.AUTH_FAILED, "malformed Basic credentials", 401)
        user_digest, password_digest = _digest(user), _digest(password)
        found = None
        for key_digest, secret_digest, key in self._credentials:  # no early exit: same time for every pair
            if secrets.compare_digest(key_digest, user_digest) & secrets.compare_digest(secret_digest, password_digest):
                found = key
        if found is None:
            log.warning("authentication failed", extra={"appkey": user[:64]})
            raise ApiError(Code.AUTH_FAILED, "wrong appkey or appsecret", 401)
        return found

    def is_operator(self, header: str | None) -> bool:
        """`Authorization: Bearer <admin token>`; always False when no token is configured."""
        return self._admin is not None and secrets.compare_digest(_digest(header or ""), self._admin)
