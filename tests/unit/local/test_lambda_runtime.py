"""The in-process Lambda runtime: one invocation at a time per module state, errors as Lambda reports them."""

from __future__ import annotations

import json
import threading

from declick.local.emulator import FunctionSpec, LambdaRuntime

MODULE = "tests.unit.local.runtime_handlers"


def _spec(name: str, handler: str) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name,
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler=f"{MODULE}.{handler}",
        memory_mb=128,
        timeout_s=30,
        environment={},
    )


def _invoke_together(runtime: LambdaRuntime, calls: list[tuple[str, dict]]) -> list[tuple[bytes, str | None]]:
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def call(index: int, name: str, event: dict) -> None:
        start.wait()
        results[index] = runtime.invoke(name, event)

    threads = [threading.Thread(target=call, args=(i, *c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_invocations_of_one_function_never_share_its_module_state_at_once():
    # Real Lambda gives each concurrent invocation its own execution environment. Here there is
    # one module state per function, so concurrent invocations must take turns (else, e.g., a
    # module-level Powertools BatchProcessor reports one batch's failures against another's).
    runtime = LambdaRuntime([_spec("busy", "busy")])
    runtime.load()
    results = _invoke_together(runtime, [("busy", {})] * 4)
    assert [json.loads(payload)["inside"] for payload, _ in results] == [1, 1, 1, 1]
    assert runtime.counts() == {"busy": 4}


def test_different_functions_still_run_at_the_same_time():
    runtime = LambdaRuntime([_spec("waiter", "wait_for_signal"), _spec("signaller", "send_signal")])
    runtime.load()
    results = _invoke_together(runtime, [("waiter", {"timeout": 10}), ("signaller", {})])
    assert json.loads(results[0][0]) == {"signalled": True}


def test_handler_errors_are_reported_like_the_lambda_runtime():
    runtime = LambdaRuntime([_spec("bad", "unserializable"), _spec("raises", "raises")])
    runtime.load()
    payload, error = runtime.invoke("bad", {})
    assert error == "Runtime.MarshalError" and json.loads(payload)["errorType"] == "Runtime.MarshalError"
    payload, error = runtime.invoke("raises", {})
    assert error == "LookupError"
    assert json.loads(payload)["errorMessage"] == "no such thing"
