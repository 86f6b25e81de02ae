"""The Step Functions state machine that polls the remote task until it is done, then delivers or reports.

Ending states: a delivered result ends in ``Delivered`` (Succeed). A remote failure (status 4/5/6,
an unknown status) is a business outcome: it is reported and ends in ``FailureReported``
(Succeed), so the ``ExecutionsFailed`` alarm only fires for problems ops must look at: a caught
error (``$.error``) or a give-up end, after the user was notified, in ``PipelineFailed`` (Fail).
If ``ReportFailure`` itself keeps failing after its retries the execution fails without a
notification — that is the one case left to the ``ExecutionsFailed`` alarm.

Retry and Catch match Lambda error types, which are our exception class names: they are taken
from ``declick_contract.errors`` so a renamed class cannot silently stop matching.
"""

from __future__ import annotations

from aws_cdk import Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from declick_contract.api import FAILED_STATUSES, PENDING_STATUSES, Status
from declick_contract.errors import RemoteApiTransientError, ResultDownloadError
from infra.config import StackConfig

# Errors of the Lambda service itself (not of our code): always worth retrying with backoff.
TRANSIENT_LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
]
# A function's reserved concurrency used up (the back-pressure on the vendor, see
# docs/operations.md): retried longer than a service error, for up to about 14 minutes
# (2 s doubling, at most 120 s apart, 12 attempts), well inside the 30 minutes the stack config
# keeps between the pipeline's own give-up and the execution timeout. Before, about two minutes
# of throttling ended an upload FAILED.
THROTTLED_LAMBDA_ERRORS = ["Lambda.TooManyRequestsException"]
THROTTLE_RETRY_ATTEMPTS = 12
THROTTLE_RETRY_MAX_DELAY_SECONDS = 120

# Our own failures worth another try: the handler ran out of time or crashed, or (after the API
# client's own retries) the vendor or the result host was still unreachable. Deterministic errors
# (bad result URL, rejected request...) go straight to the Catch.
CRASH_ERRORS = ["Sandbox.Timedout", "Lambda.Unknown", "Runtime.ExitError"]
# Vendor outages while polling are not errors here: poll_task answers `retry` and the Choice loops
# back to the Wait with backoff until the outage tolerance is spent (polling.py).
POLL_RETRYABLE = CRASH_ERRORS
DELIVER_RETRYABLE = [*CRASH_ERRORS, RemoteApiTransientError.__name__, ResultDownloadError.__name__]


def build_state_machine(
    scope: Construct,
    *,
    config: StackConfig,
    functions: dict[str, lambda_.IFunction],
    poll_timeout: Duration,
    retention: logs.RetentionDays,
    removal: RemovalPolicy,
) -> sfn.StateMachine:
    """The machine, its states created in ``scope`` (the Pipeline construct: their logical IDs depend on it)."""
    f = functions
    # Retries of our own handler failures (crash, out of memory, sandbox timeout). Remote API
    # hiccups are already retried inside the handlers (API_MAX_RETRIES), so a few are enough.
    own_interval = Duration.seconds(config.task_retry_interval_seconds)

    def retry_transient(task: sfn.TaskStateBase, extra: list[str] | None = None) -> None:
        task.add_retry(
            errors=THROTTLED_LAMBDA_ERRORS,
            interval=Duration.seconds(2),
            max_attempts=THROTTLE_RETRY_ATTEMPTS,
            backoff_rate=2.0,
            max_delay=Duration.seconds(THROTTLE_RETRY_MAX_DELAY_SECONDS),
            jitter_strategy=sfn.JitterType.FULL,
        )
        task.add_retry(
            errors=TRANSIENT_LAMBDA_ERRORS + (extra or []),
            interval=Duration.seconds(2),
            max_attempts=6,
            backoff_rate=2.0,
            max_delay=Duration.seconds(60),
            jitter_strategy=sfn.JitterType.FULL,
        )

    def invoke(construct_id: str, function: str, result_path: str, comment: str, **extra) -> tasks.LambdaInvoke:
        """A Task whose Resource is the function ARN and whose retries are all ours (below)."""
        return tasks.LambdaInvoke(
            scope,
            construct_id,
            lambda_function=f[function],
            payload_response_only=True,
            retry_on_service_exceptions=False,
            result_path=result_path,
            comment=comment,
            **extra,
        )

    report_failure = invoke(
        "ReportFailure",
        "report_failure",
        "$.report",
        "Publish FAILED (remote failure, give-up or a caught error at $.error)",
    )
    retry_transient(report_failure)
    # The notification must get out: any failure of our own code is retried; no Catch, no loop.
    report_failure.add_retry(errors=["States.TaskFailed"], interval=own_interval, max_attempts=3, backoff_rate=2.0)

    pipeline_failed = sfn.Fail(
        scope,
        "PipelineFailed",
        error="Declick.PipelineFailed",
        cause="A pipeline step failed or the remote task never finished; FAILED was notified.",
    )
    failure_reported = sfn.Succeed(scope, "FailureReported", comment="The remote task failed; FAILED was notified.")
    give_up = sfn.Condition.and_(
        sfn.Condition.is_present("$.poll.give_up"),
        sfn.Condition.boolean_equals("$.poll.give_up", True),
    )
    after_report = (
        sfn.Choice(scope, "FailureKind", comment="Pipeline problems fail the execution (alarm), remote ones do not")
        .when(sfn.Condition.is_present("$.error"), pipeline_failed)
        .when(give_up, pipeline_failed)
        .otherwise(failure_reported)
    )
    report_failure.next(after_report)

    def catch_all(task: sfn.TaskStateBase) -> None:
        task.add_catch(report_failure, errors=["States.ALL"], result_path="$.error")

    poll = invoke(
        "PollTask",
        "poll_task",
        "$.poll",
        "GET the remote task result",
        task_timeout=sfn.Timeout.duration(poll_timeout),
    )
    retry_transient(poll, ["States.Timeout"])
    # Polling is a read, safe to repeat.
    poll.add_retry(errors=POLL_RETRYABLE, interval=own_interval, max_attempts=2, backoff_rate=2.0)
    catch_all(poll)

    deliver = invoke(
        "DeliverResult",
        "deliver_result",
        "$.delivery",
        "Copy voice_result to the output bucket and publish SUCCEEDED",
    )
    retry_transient(deliver)
    # Idempotent (keyed by the task id), so retrying our own failures is safe.
    deliver.add_retry(errors=DELIVER_RETRYABLE, interval=own_interval, max_attempts=2, backoff_rate=2.0)
    catch_all(deliver)
    deliver.next(sfn.Succeed(scope, "Delivered"))

    wait = sfn.Wait(
        scope,
        "WaitForRemote",
        time=sfn.WaitTime.seconds_path("$.poll.wait_seconds"),
        comment="The remote's wait_time, clamped by poll_task",
    )
    wait.next(poll)

    status = "$.poll.status"

    def status_is(*values: int) -> sfn.Condition:
        conditions = [sfn.Condition.number_equals(status, int(value)) for value in values]
        return conditions[0] if len(conditions) == 1 else sfn.Condition.or_(*conditions)

    vendor_unavailable = sfn.Condition.and_(
        sfn.Condition.is_present("$.poll.retry"),
        sfn.Condition.boolean_equals("$.poll.retry", True),
    )
    route = (
        sfn.Choice(
            scope, "RouteStatus", comment="1/2 waiting or processing, 3 done, 4/5/6 failed; retry: vendor unreadable"
        )
        .when(give_up, report_failure)
        .when(vendor_unavailable, wait)
        .when(sfn.Condition.is_not_present(status), report_failure)
        .when(sfn.Condition.is_not_numeric(status), report_failure)
        .when(status_is(*sorted(PENDING_STATUSES)), wait)
        .when(status_is(Status.COMPLETE), deliver)
        .when(status_is(*sorted(FAILED_STATUSES)), report_failure)
        .otherwise(report_failure)
    )
    poll.next(route)

    stack = Stack.of(scope)
    log_group = logs.LogGroup(
        scope,
        "StateMachineLogs",
        # The /aws/vendedlogs/ prefix keeps the CloudWatch Logs resource policy from growing per
        # group; the stack id suffix lets a retained group outlive the stack without blocking a redeploy.
        log_group_name=f"/aws/vendedlogs/states/{stack.stack_name}-" + Fn.select(2, Fn.split("/", stack.stack_id)),
        retention=retention,
        removal_policy=removal,
    )
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(poll),
        state_machine_type=sfn.StateMachineType.STANDARD,
        state_machine_name=config.resource_name("pipeline"),
        timeout=Duration.seconds(config.state_machine_timeout_seconds),
        tracing_enabled=True,
        logs=sfn.LogOptions(
            destination=log_group,
            level=sfn.LogLevel.ALL if config.state_machine_log_level == "ALL" else sfn.LogLevel.ERROR,
            # Execution data holds the vendor's signed voice_result URL (and the user's key names):
            # the log keeps state names, types, timings and error names; the data stays in the
            # execution history, readable only with states:GetExecutionHistory.
            include_execution_data=False,
        ),
        comment="Declick: poll the remote task until done, deliver or report",
    )
    return machine
