"""The state machine definition, parsed from the synthesized template (docs/architecture.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.template_tools import (
    ARN_PREFIX,
    functions_by_handler,
    only,
    placeholder,
    state_machine_definition,
)

TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


@pytest.fixture(scope="module")
def definition(template: dict[str, Any]) -> dict[str, Any]:
    return state_machine_definition(template)


@pytest.fixture(scope="module")
def states(definition: dict[str, Any]) -> dict[str, Any]:
    return definition["States"]


def _targets(choice: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    return [({k: v for k, v in rule.items() if k != "Next"}, rule["Next"]) for rule in choice["Choices"]]


def _status_values(rule: dict[str, Any]) -> set[int]:
    """Numeric values a rule matches on $.poll.status (a single comparison or an Or of them)."""
    parts = rule.get("Or", [rule])
    values = set()
    for part in parts:
        if part.get("Variable") == "$.poll.status" and "NumericEquals" in part:
            values.add(part["NumericEquals"])
    return values


def test_starts_polling_and_tasks_invoke_the_contract_handlers(template, definition, states):
    assert definition["StartAt"] == "PollTask"
    functions = functions_by_handler(template)
    expected = {"PollTask": "poll_task", "DeliverResult": "deliver_result", "ReportFailure": "report_failure"}
    for state_name, handler in expected.items():
        state = states[state_name]
        assert state["Type"] == "Task"
        # payload_response_only: the Resource is the function ARN itself, the output is the handler's return.
        assert state["Resource"] == f"{ARN_PREFIX}{functions[handler][0]}.Arn"
        assert "Parameters" not in state
    assert states["PollTask"]["ResultPath"] == "$.poll"
    assert states["DeliverResult"]["ResultPath"] == "$.delivery"
    assert states["ReportFailure"]["ResultPath"] == "$.report"
    assert states["PollTask"]["Next"] == "RouteStatus"


def test_route_status_branches(states):
    route = states["RouteStatus"]
    assert route["Type"] == "Choice"
    rules = _targets(route)
    by_values = {frozenset(_status_values(rule)): target for rule, target in rules if _status_values(rule)}
    assert by_values == {
        frozenset({1, 2}): "WaitForRemote",
        frozenset({3}): "DeliverResult",
        frozenset({4, 5, 6}): "ReportFailure",
    }
    assert route["Default"] == "ReportFailure"

    # give_up is checked before any status rule, so a still-running task that hit its limits stops.
    first_rule, first_target = rules[0]
    assert first_target == "ReportFailure"
    assert {"Variable": "$.poll.give_up", "BooleanEquals": True} in first_rule["And"]
    status_positions = [i for i, (rule, _) in enumerate(rules) if _status_values(rule)]
    assert min(status_positions) > 0

    # A missing or non-numeric status is reported instead of failing the Choice (States.Runtime).
    guards = [rule for rule, target in rules[: min(status_positions)] if target == "ReportFailure"]
    assert {"Variable": "$.poll.status", "IsPresent": False} in guards
    assert {"Variable": "$.poll.status", "IsNumeric": False} in guards


def test_wait_uses_the_polled_wait_seconds_and_loops(states):
    wait = states["WaitForRemote"]
    assert wait["Type"] == "Wait"
    assert wait["SecondsPath"] == "$.poll.wait_seconds"
    assert "Seconds" not in wait
    assert wait["Next"] == "PollTask"


@pytest.mark.parametrize("state_name", ["PollTask", "DeliverResult", "ReportFailure"])
def test_every_task_retries_transient_lambda_errors_with_backoff(states, state_name):
    retries = states[state_name]["Retry"]
    covered = {error for r in retries for error in r["ErrorEquals"]}
    assert TRANSIENT <= covered, f"{state_name} does not retry {TRANSIENT - covered}"
    for retry in retries:
        assert retry["BackoffRate"] > 1
        assert retry["MaxAttempts"] >= 2
        assert retry["IntervalSeconds"] >= 1


def test_poll_retries_timeouts_and_has_a_timeout(states):
    poll = states["PollTask"]
    errors = {error for retry in poll["Retry"] for error in retry["ErrorEquals"]}
    assert "States.Timeout" in errors
    assert poll["TimeoutSeconds"] > 0


@pytest.mark.parametrize("state_name", ["PollTask", "DeliverResult"])
def test_tasks_catch_everything_into_report_failure(states, state_name):
    assert states[state_name]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReportFailure"}
    ]


def test_report_failure_has_no_catch_loop_and_ends_every_path(states):
    report = states["ReportFailure"]
    assert "Catch" not in report
    kind = states[report["Next"]]
    assert kind["Type"] == "Choice"
    rules = _targets(kind)
    failed = [rule for rule, target in rules if target == "PipelineFailed"]
    assert {"Variable": "$.error", "IsPresent": True} in failed
    assert any({"Variable": "$.poll.give_up", "BooleanEquals": True} in rule.get("And", []) for rule in failed)
    assert states["PipelineFailed"]["Type"] == "Fail"
    assert states[kind["Default"]]["Type"] == "Succeed"
    assert states[states["DeliverResult"]["Next"]]["Type"] == "Succeed"


def test_no_execution_ends_without_a_notification(states):
    """Every terminal state is reached only through DeliverResult or ReportFailure (both notify)."""
    predecessors: dict[str, set[str]] = {name: set() for name in states}
    for name, state in states.items():
        nexts = [state.get("Next"), state.get("Default")]
        nexts += [rule["Next"] for rule in state.get("Choices", [])]
        nexts += [catch["Next"] for catch in state.get("Catch", [])]
        for target in filter(None, nexts):
            predecessors[target].add(name)
    notifying = {"DeliverResult", "ReportFailure"}

    def reached_only_after_notifying(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in notifying:
            return True
        if name in seen or not predecessors[name]:
            return False
        return all(reached_only_after_notifying(p, seen | {name}) for p in predecessors[name])

    terminals = [n for n, s in states.items() if s["Type"] in ("Succeed", "Fail") or s.get("End")]
    assert terminals
    for name in terminals:
        assert reached_only_after_notifying(name), name


def test_machine_settings(template, synthesized):
    _, machine = only(template, "AWS::StepFunctions::StateMachine")
    props = placeholder(machine["Properties"])
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    logging = props["LoggingConfiguration"]
    assert logging["Level"] == "ALL"
    # Execution data carries the vendor's signed voice_result URL: never in the log.
    assert logging["IncludeExecutionData"] is False
    assert logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"].startswith(ARN_PREFIX)
    definition = state_machine_definition(template)
    config = synthesized.stack.config
    assert definition["TimeoutSeconds"] == config.state_machine_timeout_seconds
    assert definition["TimeoutSeconds"] > config.max_processing_seconds + config.wait_max_seconds


@pytest.mark.parametrize("state_name", ["PollTask", "DeliverResult"])
def test_only_transient_handler_errors_are_retried(states, state_name):
    """Unreachable vendor / crash: retried. A refused result URL or a rejected request: caught at once."""
    errors = {error for retry in states[state_name]["Retry"] for error in retry["ErrorEquals"]}
    assert "Sandbox.Timedout" in errors
    # poll_task waits out vendor outages itself (a `retry` poll loops to the Wait); deliver retries them.
    assert ("RemoteApiTransientError" in errors) == (state_name == "DeliverResult")
    assert not errors & {"States.ALL", "States.TaskFailed", "RemoteApiRejectedError", "ResultUrlRefusedError"}


def test_an_unreadable_vendor_loops_back_to_the_wait_unless_given_up(states):
    choices = states["RouteStatus"]["Choices"]
    targets = [choice["Next"] for choice in choices]
    retry = next(i for i, c in enumerate(choices) if "$.poll.retry" in json.dumps(c))
    give_up = next(i for i, c in enumerate(choices) if "$.poll.give_up" in json.dumps(c))
    assert give_up < retry and targets[retry] == "WaitForRemote" and targets[give_up] == "ReportFailure"


def test_report_failure_retries_any_failure_of_its_own(states):
    errors = {error for retry in states["ReportFailure"]["Retry"] for error in retry["ErrorEquals"]}
    assert "States.TaskFailed" in errors


@pytest.mark.parametrize("state_name", ["PollTask", "DeliverResult", "ReportFailure"])
def test_throttling_is_waited_out_for_minutes_but_inside_the_timeout_headroom(states, state_name):
    """A reserved concurrency used up is back-pressure, not a failure of the upload; yet the retries
    must end well before the execution timeout, which would end the upload with no notification."""
    throttle = [r for r in states[state_name]["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]]
    assert len(throttle) == 1
    retry = throttle[0]
    delays = [min(retry["IntervalSeconds"] * retry["BackoffRate"] ** k, retry["MaxDelaySeconds"])
              for k in range(retry["MaxAttempts"])]
    assert retry["JitterStrategy"] == "FULL"
    assert 600 <= sum(delays) <= 1800 / 2  # 10 min at least; half the config's 30 min headroom at most
