"""Self-hosted click-removal service speaking the vendor's v3 ecr API (`declick engine serve`).

Heavy pieces (FastAPI, uvicorn, pydantic-settings, the engine) are imported only when used, so that
importing the package stays cheap: every worker process imports it when it is spawned.
"""

from __future__ import annotations

__all__ = ["ConfigError", "ServiceHandle", "ServiceSettings", "create_app", "from_env", "run_in_thread"]


def __getattr__(name: str):
    if name in ("ConfigError", "ServiceSettings", "from_env"):
        from declick.service import settings

        return getattr(settings, name)
    if name == "create_app":
        from declick.service.app import create_app

        return create_app
    if name in ("run_in_thread", "ServiceHandle"):
        from declick.service import server

        return getattr(server, name)
    raise AttributeError(name)
