"""Retry and Catch match Lambda error types by text: each name must be a real exception class.

A Lambda's error type is the raised exception's class name; a name in the state machine that no
class carries is a Retry that never fires or a Catch that never routes (and `report_failure`
would map it to INTERNAL_ERROR). AWS-defined names (`States.*`, `Lambda.*`, ...) are checked
against the documented list instead.
"""

from __future__ import annotations

from typing import Any

import pytest

from declick_contract import errors
from declick_pipeline.failure_report import CAUGHT_ERRORS
from tests.infra.template_tools import state_machine_definition

# Error names AWS itself reports for Lambda tasks (Step Functions and Lambda documentation).
AWS_ERROR_NAMES = {
    "States.ALL",
    "States.TaskFailed",
    "States.Timeout",
    "States.HeartbeatTimeout",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.Unknown",
    "Sandbox.Timedout",
    "Runtime.ExitError",
}
OUR_ERROR_NAMES = {cls.__name__ for cls in errors.PIPELINE_ERRORS}


def _error_names(definition: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for name, state in definition["States"].items():
        for kind in ("Retry", "Catch"):
            for rule in state.get(kind, []):
                found += [(name, kind, error) for error in rule["ErrorEquals"]]
    return found


def test_the_state_machine_names_errors(template):
    names = _error_names(state_machine_definition(template))
    # The check below must have something to check: our own retryable errors are named.
    assert {error for _, _, error in names} & OUR_ERROR_NAMES


def test_every_retry_and_catch_error_is_a_real_exception_class(template):
    unknown = [
        f"{state}.{kind}: {error}"
        for state, kind, error in _error_names(state_machine_definition(template))
        if error not in AWS_ERROR_NAMES and error not in OUR_ERROR_NAMES
    ]
    assert not unknown, f"error names that no exception class carries: {unknown}"


@pytest.mark.parametrize("name", sorted(CAUGHT_ERRORS))
def test_every_reported_error_name_is_a_real_exception_class(name):
    assert name in OUR_ERROR_NAMES or name in AWS_ERROR_NAMES


def test_a_misspelt_name_would_be_caught():
    definition = {"States": {"Poll": {"Retry": [{"ErrorEquals": ["RemoteApiTransientErorr"]}]}}}
    names = [error for _, _, error in _error_names(definition)]
    assert [n for n in names if n not in AWS_ERROR_NAMES | OUR_ERROR_NAMES] == ["RemoteApiTransientErorr"]
