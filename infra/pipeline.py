"""The Lambdas and the Step Functions state machine that drive one upload to a notification.

Contract: docs/architecture.md (handler paths, environment, state data and ResultPaths). The state
machine itself is built in infra/workflow.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.bundling import dependencies_layer_code, function_code
from infra.config import DEAD_LETTER_CONCURRENCY, LOG_RETENTION_DAYS, StackConfig
from infra.lambda_function import dependencies_layer, traced_function
from infra.ledger import LEDGER_WRITE_ACTIONS
from infra.link_signing import LinkSigner
from infra.nag import acknowledge
from infra.notifications import Notifications
from infra.storage import Storage
from infra.workflow import build_state_machine

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
HANDLER_PACKAGE = "declick_pipeline.handlers"
MIB = 1024 * 1024


def retention_days(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a number of days (the enum lists them in ascending order)."""
    members = [member for member in logs.RetentionDays if member.name != "INFINITE"]
    return dict(zip(LOG_RETENTION_DAYS, members, strict=True))[days]


# What Powertools' DynamoDB idempotency layer calls; no Scan/Query/batch access.
IDEMPOTENCY_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]


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
        api_secret: secretsmanager.ISecret,
        sizes: dict[str, FunctionSizing],
        functions_dir: Path = FUNCTIONS_DIR,
    ) -> None:
        super().__init__(scope, construct_id)
        self.config = config
        self._retention = retention_days(config.log_retention_days)
        self._removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        self._sizes = sizes

        self.layer = dependencies_layer(
            self,
            "DependenciesLayer",
            code=dependencies_layer_code(functions_dir),
            description="Declick pipeline dependencies (functions/requirements.txt)",
        )
        self._code = function_code(functions_dir)
        environment = {
            **config.lambda_environment,
            "API_SECRET_ARN": api_secret.secret_arn,
            "TOPIC_ARN": notifications.topic.topic_arn,
            "OUTPUT_BUCKET": storage.output_bucket.bucket_name,
            "IDEMPOTENCY_TABLE": storage.idempotency_table.table_name,
            "LEDGER_TABLE": storage.ledger_table.table_name,
        }

        # Reserved concurrency: poll_task's is its share of the vendor's concurrency (the other
        # share is submit_task's event source maximum concurrency); the functions that end an
        # upload get theirs so that a busy account cannot throttle a notification away.
        self.reserved_concurrency = {
            "poll_task": config.poll_reserved_concurrency,
            "deliver_result": config.deliver_reserved_concurrency,
            "report_failure": config.report_reserved_concurrency,
            "report_dead_letter": DEAD_LETTER_CONCURRENCY,
        }
        self.functions: dict[str, lambda_.Function] = {}
        for name in ("poll_task", "deliver_result", "report_failure", "report_dead_letter"):
            self.functions[name] = self._function(name, environment, reserved=self.reserved_concurrency[name])

        # --- least-privilege grants, each scoped to the named resource
        poll = self.functions["poll_task"]
        api_secret.grant_read(poll)

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
        # The upload's notification-owner record (declick_pipeline.upload_records): the dead-letter
        # reporter stays silent for an upload already notified or handed to an execution.
        storage.idempotency_table.grant(self.functions["report_dead_letter"], "dynamodb:PutItem")

        self.state_machine = build_state_machine(
            self,
            config=config,
            functions=self.functions,
            poll_timeout=self._sizes["poll_task"].timeout.plus(Duration.seconds(30)),
            retention=self._retention,
            removal=self._removal,
        )

        self.link_signer = LinkSigner(self, "LinkSigner", config=config, input_bucket=storage.input_bucket)
        submit = self._function(
            "submit_task",
            {
                **environment,
                "STATE_MACHINE_ARN": self.state_machine.state_machine_arn,
                "SIGNING_SECRET_ARN": self.link_signer.secret.secret_arn,
            },
        )
        self.link_signer.secret.grant_read(submit)
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
        api_secret.grant_read(submit)
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
                max_concurrency=DEAD_LETTER_CONCURRENCY,
            )
        )

        # The job ledger is written by every step that moves an upload on (not by poll_task). Not
        # `table.grant`: that adds the table's indexes (`/index/*`), which a writer never needs.
        for name in ("submit_task", "deliver_result", "report_failure", "report_dead_letter"):
            self.functions[name].add_to_role_policy(
                iam.PolicyStatement(actions=LEDGER_WRITE_ACTIONS, resources=[storage.ledger_table.table_arn])
            )

        self._acknowledge_wildcards(storage)

    # ------------------------------------------------------------------ functions

    def _function(self, name: str, environment: dict[str, str], reserved: int | None = None) -> lambda_.Function:
        size = self._sizes[name]
        return traced_function(
            self,
            "".join(part.capitalize() for part in name.split("_")),
            handler=f"{HANDLER_PACKAGE}.{name}.handler",
            code=self._code,
            layers=[self.layer],
            memory_mb=size.memory_mb,
            timeout=size.timeout,
            ephemeral_mb=size.ephemeral_mb,
            environment=environment,
            retention=self._retention,
            removal=self._removal,
            description=f"Declick pipeline: {name}",
            role_description=f"Declick {name} Lambda",
            function_name=self.config.resource_name(name.replace("_", "-")),
            reserved=reserved,
        )

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
