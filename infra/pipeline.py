"""The Lambdas and the Step Functions state machine that drive one upload to a notification.

Contract: docs/architecture.md (handler paths, environment, state data and ResultPaths).

Ending states: a delivered result ends in ``Delivered`` (Succeed). A remote failure (status 4/5/6,
an unknown status) is a business outcome: it is reported and ends in ``FailureReported``
(Succeed), so the ``ExecutionsFailed`` alarm only fires for problems ops must look at: a caught
error (``$.error``) or a give-up end, after the user was notified, in ``PipelineFailed`` (Fail).
If ``ReportFailure`` itself keeps failing after its retries the execution fails without a
notification — that is the one case left to the ``ExecutionsFailed`` alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, Fn, RemovalPolicy, Size, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.bundling import dependencies_layer_code, function_code
from infra.config import LOG_RETENTION_DAYS, StackConfig
from infra.nag import acknowledge
from infra.notifications import Notifications
from infra.storage import Storage

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
HANDLER_PACKAGE = "declick_pipeline.handlers"
MIB = 1024 * 1024

# Errors of the Lambda service itself (not of our code): always worth retrying with backoff.
TRANSIENT_LAMBDA_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def retention_days(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a number of days (the enum lists them in ascending order)."""
    members = [member for member in logs.RetentionDays if member.name != "INFINITE"]
    return dict(zip(LOG_RETENTION_DAYS, members, strict=True))[days]


# What Powertools' DynamoDB idempotency layer calls; no Scan/Query/batch access.
IDEMPOTENCY_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]


# Our own failures worth another try: the handler ran out of time or crashed, or (after the API
# client's own retries) the vendor or the result host was still unreachable. Exception class names
# are the handlers' (functions/declick_pipeline: remote_api.py, delivery.py); deterministic errors
# (bad result URL, rejected request...) go straight to the Catch.
CRASH_ERRORS = ["Sandbox.Timedout", "Lambda.Unknown", "Runtime.ExitError"]
POLL_RETRYABLE = [*CRASH_ERRORS, "RemoteApiTransientError"]
DELIVER_RETRYABLE = [*CRASH_ERRORS, "RemoteApiTransientError", "ResultDownloadError"]


@dataclass(frozen=True)
class FunctionSizing:
    memory_mb: int
    timeout: Duration
    ephemeral_mb: int = 512


def submit_timeout(config: StackConfig) -> Duration:
    """One batch: each record streams up to ``max_input_bytes`` to /tmp and makes one remote call."""
    per_record = 30 + config.api_call_budget_seconds + config.max_input_bytes // (20 * MIB)
    return Duration.seconds(min(900, 30 + per_record * config.submit_batch_size))


def sizing(config: StackConfig) -> dict[str, FunctionSizing]:
    api = config.api_call_budget_seconds
    return {
        # numpy + soundfile probe the audio; 1 GB also buys the network share for a 50 MB S3 read.
        "submit_task": FunctionSizing(
            memory_mb=1024,
            timeout=submit_timeout(config),
            ephemeral_mb=max(512, 2 * config.max_input_bytes // MIB + 256),
        ),
        "poll_task": FunctionSizing(memory_mb=256, timeout=Duration.seconds(min(900, api + 30))),
        # Streams up to download_max_bytes from the vendor to S3 (multipart, bounded buffers).
        "deliver_result": FunctionSizing(
            memory_mb=1024,
            timeout=Duration.seconds(min(900, config.download_timeout_seconds + api + 120)),
            ephemeral_mb=max(512, config.download_max_bytes // MIB + 256),
        ),
        "report_failure": FunctionSizing(memory_mb=256, timeout=Duration.seconds(60)),
        "report_dead_letter": FunctionSizing(memory_mb=256, timeout=Duration.seconds(120)),
    }


class Pipeline(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        storage: Storage,
        notifications: Notifications,
        functions_dir: Path = FUNCTIONS_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self._retention = retention_days(config.log_retention_days)
        self._removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self._sizes = sizing(config)

        self.layer = lambda_.LayerVersion(
            self,
            "DependenciesLayer",
            code=dependencies_layer_code(functions_dir),
            compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
            compatible_architectures=[lambda_.Architecture.X86_64],
            description="Declick pipeline dependencies (functions/requirements.txt)",
        )
        self._code = function_code(functions_dir)
        environment = {
            **config.lambda_environment,
            "API_SECRET_ARN": notifications.secret.secret_arn,
            "TOPIC_ARN": notifications.topic.topic_arn,
            "OUTPUT_BUCKET": storage.output_bucket.bucket_name,
            "IDEMPOTENCY_TABLE": storage.idempotency_table.table_name,
        }

        self.functions: dict[str, lambda_.Function] = {}
        for name in ("poll_task", "deliver_result", "report_failure", "report_dead_letter"):
            self.functions[name] = self._function(name, environment)

        # --- least-privilege grants, each scoped to the named resource
        poll = self.functions["poll_task"]
        notifications.secret.grant_read(poll)

        deliver = self.functions["deliver_result"]
        deliver.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[storage.output_bucket.arn_for_objects("*")],
            )
        )
        storage.idempotency_table.grant(deliver, *IDEMPOTENCY_ACTIONS)
        # No secret for deliver: voice_result is a third-party URL fetched without vendor credentials.
        notifications.topic.grant_publish(deliver)

        notifications.topic.grant_publish(self.functions["report_failure"])
        notifications.topic.grant_publish(self.functions["report_dead_letter"])

        self.state_machine = self._state_machine(config)

        submit = self._function(
            "submit_task", {**environment, "STATE_MACHINE_ARN": self.state_machine.state_machine_arn}
        )
        self.functions["submit_task"] = submit
        submit.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[storage.input_bucket.arn_for_objects("*")],
            )
        )
        # Without ListBucket S3 answers 403 instead of 404 for an object deleted before submission,
        # and submit_task could not tell "gone" (REJECTED) from a real permission problem.
        submit.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[storage.input_bucket.bucket_arn])
        )
        self.state_machine.grant_start_execution(submit)
        storage.idempotency_table.grant(submit, *IDEMPOTENCY_ACTIONS)
        notifications.secret.grant_read(submit)
        notifications.topic.grant_publish(submit)

        submit.add_event_source(
            event_sources.SqsEventSource(
                storage.submit_queue,
                batch_size=config.submit_batch_size,
                report_batch_item_failures=True,
                max_concurrency=config.submit_max_concurrency,
            )
        )
        self.functions["report_dead_letter"].add_event_source(
            event_sources.SqsEventSource(
                storage.dead_letter_queue,
                batch_size=10,
                report_batch_item_failures=True,
                max_concurrency=2,
            )
        )

        self._acknowledge_wildcards(storage)

    # ------------------------------------------------------------------ functions

    def _function(self, name: str, environment: dict[str, str]) -> lambda_.Function:
        construct_id = "".join(part.capitalize() for part in name.split("_"))
        size = self._sizes[name]
        log_group = logs.LogGroup(self, f"{construct_id}Logs", retention=self._retention, removal_policy=self._removal)
        # An explicit role instead of the default one: the default attaches the AWS-managed
        # AWSLambdaBasicExecutionRole, which may write to every log group of the account.
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Declick {name} Lambda",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            f"{construct_id}Function",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler=f"{HANDLER_PACKAGE}.{name}.handler",
            code=self._code,
            layers=[self.layer],
            memory_size=size.memory_mb,
            timeout=size.timeout,
            ephemeral_storage_size=Size.mebibytes(size.ephemeral_mb),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            role=role,
            environment=environment,
            description=f"Declick pipeline: {name}",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "python3.12 is the runtime the handlers and the dependencies layer are built and tested for "
            "(docs/architecture.md); moving to a newer runtime is a deliberate, tested change.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) do not support resource-level permissions.",
            findings=["Resource::*"],
        )
        return function

    def _acknowledge_wildcards(self, storage: Storage) -> None:
        """The granular IAM5 findings left after scoping every grant to a named resource."""
        stack = Stack.of(self)

        def ref(construct: Construct) -> str:
            return f"<{stack.get_logical_id(construct.node.default_child)}.Arn>"

        for name in ("submit_task", "deliver_result", "report_failure", "report_dead_letter"):
            acknowledge(
                self.functions[name].role,
                "AwsSolutions-IAM5",
                "Publishing to a KMS-encrypted topic needs kms:GenerateDataKey* (the data-key variants); the "
                "statement is scoped to the topics' own key.",
                findings=["Action::kms:GenerateDataKey*"],
            )
        acknowledge(
            self.functions["submit_task"].role,
            "AwsSolutions-IAM5",
            "Uploads may have any key: read (GetObject/GetObjectVersion) is granted on the input bucket's "
            "objects only, nothing else of any other bucket.",
            findings=[f"Resource::{ref(storage.input_bucket)}/*"],
        )
        acknowledge(
            self.functions["deliver_result"].role,
            "AwsSolutions-IAM5",
            "Results are written under the upload's own key: PutObject/AbortMultipartUpload are granted on the "
            "output bucket's objects only (it has no notification, so writes never retrigger the pipeline).",
            findings=[f"Resource::{ref(storage.output_bucket)}/*"],
        )
        acknowledge(
            self.state_machine,
            "AwsSolutions-IAM5",
            "Resource '*' is required by CloudWatch Logs vended delivery (CreateLogDelivery, PutResourcePolicy, "
            "...) and X-Ray, which have no resource-level permissions; '<function>:*' lets the state machine "
            "invoke versions/aliases of its own three functions only (CDK LambdaInvoke grant).",
            findings=["Resource::*"]
            + [
                f"Resource::{ref(self.functions[name])}:*" for name in ("poll_task", "deliver_result", "report_failure")
            ],
        )

    # ------------------------------------------------------------------ state machine

    def _state_machine(self, config: StackConfig) -> sfn.StateMachine:
        f = self.functions
        # Retries of our own handler failures (crash, out of memory, sandbox timeout). Remote API
        # hiccups are already retried inside the handlers (API_MAX_RETRIES), so a few are enough.
        own_interval = Duration.seconds(config.task_retry_interval_seconds)

        def retry_transient(task: sfn.TaskStateBase, extra: list[str] | None = None) -> None:
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
                self,
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
            self,
            "PipelineFailed",
            error="Declick.PipelineFailed",
            cause="A pipeline step failed or the remote task never finished; FAILED was notified.",
        )
        failure_reported = sfn.Succeed(self, "FailureReported", comment="The remote task failed; FAILED was notified.")
        give_up = sfn.Condition.and_(
            sfn.Condition.is_present("$.poll.give_up"),
            sfn.Condition.boolean_equals("$.poll.give_up", True),
        )
        after_report = (
            sfn.Choice(self, "FailureKind", comment="Pipeline problems fail the execution (alarm), remote ones do not")
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
            task_timeout=sfn.Timeout.duration(self._sizes["poll_task"].timeout.plus(Duration.seconds(30))),
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
        deliver.next(sfn.Succeed(self, "Delivered"))

        wait = sfn.Wait(
            self,
            "WaitForRemote",
            time=sfn.WaitTime.seconds_path("$.poll.wait_seconds"),
            comment="The remote's wait_time, clamped by poll_task",
        )
        wait.next(poll)

        status = "$.poll.status"

        def status_is(*values: int) -> sfn.Condition:
            conditions = [sfn.Condition.number_equals(status, value) for value in values]
            return conditions[0] if len(conditions) == 1 else sfn.Condition.or_(*conditions)

        route = (
            sfn.Choice(self, "RouteStatus", comment="1/2 waiting or processing, 3 done, 4/5/6 failed")
            .when(give_up, report_failure)
            .when(sfn.Condition.is_not_present(status), report_failure)
            .when(sfn.Condition.is_not_numeric(status), report_failure)
            .when(status_is(1, 2), wait)
            .when(status_is(3), deliver)
            .when(status_is(4, 5, 6), report_failure)
            .otherwise(report_failure)
        )
        poll.next(route)

        stack = Stack.of(self)
        log_group = logs.LogGroup(
            self,
            "StateMachineLogs",
            # The /aws/vendedlogs/ prefix keeps the CloudWatch Logs resource policy from growing per
            # group; the stack id suffix lets a retained group outlive the stack without blocking a redeploy.
            log_group_name=f"/aws/vendedlogs/states/{stack.stack_name}-" + Fn.select(2, Fn.split("/", stack.stack_id)),
            retention=self._retention,
            removal_policy=self._removal,
        )
        machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(poll),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=Duration.seconds(config.state_machine_timeout_seconds),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group,
                level=sfn.LogLevel.ALL if config.state_machine_log_level == "ALL" else sfn.LogLevel.ERROR,
                include_execution_data=True,
            ),
            comment="Declick: poll the remote task until done, deliver or report",
        )
        return machine
