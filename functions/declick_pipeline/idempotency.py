"""Run a step at most once per key, remembered in the DynamoDB idempotency table.

Powertools' `idempotent_function` wants its persistence layer when it decorates; building that
layer needs the settings and a DynamoDB client, which must not happen at import time. So the
decoration happens per call, against the lazily created store in `runtime`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

from declick_pipeline import runtime


def run_once(
    function: Callable[..., Any],
    *,
    key_prefix: str,
    key: dict[str, Any],
    lambda_context: Any = None,
    **kwargs: Any,
) -> Any:
    """Call `function(key=key, **kwargs)` unless it already succeeded for this key; then return the stored result.

    A call that raises leaves no record, so the retry really runs again. A concurrent duplicate
    gets `IdempotencyAlreadyInProgressError`, which the callers let propagate (the message or
    state is retried later, by which time the first call has finished).
    """
    config = IdempotencyConfig(
        expires_after_seconds=runtime.settings().idempotency_ttl_seconds,
        raise_on_no_idempotency_key=True,
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)
    guarded = idempotent_function(
        function,
        data_keyword_argument="key",
        persistence_store=runtime.idempotency_store(key_prefix),
        config=config,
        key_prefix=key_prefix,
    )
    return guarded(key=key, **kwargs)
