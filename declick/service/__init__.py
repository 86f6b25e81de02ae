"""Self-hosted click-removal service speaking the vendor's v3 ecr API (`declick engine serve`).

Heavy pieces (FastAPI, uvicorn, the engine) are imported only when used, so that importing the
package for its settings or codes stays cheap.
"""

from __future__ import annotations

from declick.service.settings import ConfigError, ServiceSettings, from_env

__all__ = ["ConfigError", "ServiceHandle", "ServiceSettings", "create_app", "from_env", "run_in_thread"]


def __getattr__(name: str):
    if name == "create_app":
        from declick.service.app import create_app

        return create_app
    if name in ("run_in_thread", "ServiceHandle"):
        from declick.service import server

        return getattr(server, name)
    raise AttributeError(name)
