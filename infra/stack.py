"""The Declick pipeline stack, and in-process synthesis for tests and the local runner."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import StackConfig, context_of, load_config
from infra.engine_backend import EngineBackend, engine_credentials
from infra.monitoring import Monitoring
from infra.nag import acknowledge
from infra.notifications import Notifications
from infra.pipeline import Pipeline, sizing
from infra.secrets import api_credentials
from infra.storage import Storage

ROOT = Path(__file__).resolve().parent.parent
# Stacks are named ``Declick-<stage>`` (``declick:stage``, default dev): see StackConfig.stack_name.
STACK_NAME = "Declick"
# CDK's own switch: bundle assets only for the listed stacks. Empty = stage sources as they are.
SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}
# Templates synthesized in process are looked at or run on the emulator (which sets the functions'
# API URL itself), never deployed: cdk.json's placeholder API URL is fine there.
PLACEHOLDER_ALLOWED = {"declick:allowPlaceholderApiUrl": True}


class DeclickStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig | None = None, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        self.config = config or load_config(context_of(self.node))
        # Every taggable resource says which product and stage it belongs to (cost reports, IAM conditions).
        cdk.Tags.of(self).add("Project", "Declick")
        cdk.Tags.of(self).add("Stage", self.config.stage)
        sizes = sizing(self.config)
        self.storage = Storage(
            self,
            "Storage",
            config=self.config,
            submit_timeout=sizes["submit_task"].timeout,
            dead_letter_timeout=sizes["report_dead_letter"].timeout,
        )
        self.notifications = Notifications(self, "Notifications", config=self.config)
        self.engine_backend: EngineBackend | None = None
        if self.config.backend == "engine":
            self.api_secret = engine_credentials(self, self.config)
            self.engine_backend = EngineBackend(
                self,
                "EngineBackend",
                config=self.config,
                notifications=self.notifications,
                credentials=self.api_secret,
                access_logs_bucket=self.storage.access_logs_bucket,
            )
        else:
            self.api_secret = api_credentials(self, self.config)
        self.pipeline = Pipeline(
            self,
            "Pipeline",
            config=self.config,
            storage=self.storage,
            notifications=self.notifications,
            api_secret=self.api_secret,
            sizes=sizes,
        )
        if self.engine_backend is not None:
            for function in self.pipeline.functions.values():
                function.add_environment("API_BASE_URL", self.engine_backend.url)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=self.config,
            storage=self.storage,
            notifications=self.notifications,
            pipeline=self.pipeline,
        )

        self._acknowledge_cdk_internals()

        for name, value, description in (
            ("InputBucketName", self.storage.input_bucket.bucket_name, "Upload audio here"),
            ("OutputBucketName", self.storage.output_bucket.bucket_name, "Cleaned results appear here"),
            ("NotificationsTopicArn", self.notifications.topic.topic_arn, "Subscribe for SUCCEEDED/FAILED/REJECTED"),
            ("OpsTopicArn", self.notifications.ops_topic.topic_arn, "Subscribe for operational alarms"),
            ("ApiSecretArn", self.api_secret.secret_arn, self._secret_description()),
            ("StateMachineArn", self.pipeline.state_machine.state_machine_arn, "Pipeline executions"),
            ("TopicKeyArn", self.notifications.topic_key.key_arn, "KMS key of both topics (for SQS subscribers)"),
            (
                "LinkSigningSecretArn",
                self.pipeline.link_signer.secret.secret_arn,
                "Access key that signs file_link (docs/operations.md, checking a deploy)",
            ),
            ("DashboardName", self.monitoring.dashboard.dashboard_name, "CloudWatch dashboard of this stage"),
            ("JobLedgerTableName", self.storage.ledger_table.table_name, "Where each upload is (declick status)"),
            ("SubmitQueueUrl", self.storage.submit_queue.queue_url, "Uploads to submit (declick replay sends here)"),
        ):
            CfnOutput(self, name, value=value, description=description)
        if self.engine_backend is not None:
            CfnOutput(self, "EngineApiUrl", value=self.engine_backend.url, description="The engine backend's API")

    def _secret_description(self) -> str:
        if self.config.backend == "engine":
            return "Generated appkey/appsecret shared by the pipeline and the engine backend"
        return "Put the vendor appkey/appsecret here"

    def _acknowledge_cdk_internals(self) -> None:
        """Findings on the singleton Lambda CDK itself adds to configure S3 bucket notifications."""
        handler = self.node.try_find_child("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")
        if handler is None:
            return
        acknowledge(
            handler,
            "AwsSolutions-IAM4",
            "CDK's built-in BucketNotificationsHandler (runs only during deployment to put the bucket "
            "notification configuration) uses the AWS-managed basic execution policy; it is not configurable.",
            findings=["Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
        )


def default_context() -> dict[str, Any]:
    """The ``context`` block of cdk.json: what ``cdk synth`` would see without ``-c`` overrides."""
    return dict(json.loads((ROOT / "cdk.json").read_text()).get("context", {}))


def build_app(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None, nag: bool = True
) -> tuple[cdk.App, DeclickStack]:
    """An App with the stack (and cdk-nag unless ``nag`` is false), context = cdk.json + ``context``."""
    from infra.checks import add_nag_checks

    merged = {**default_context(), **(context or {})}
    app = cdk.App(context=merged, outdir=outdir)
    config = load_config(context_of(app.node))
    stack = DeclickStack(app, config.stack_name, config=config)
    if nag:
        add_nag_checks(app)
    return app, stack


def synth_template(context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The CloudFormation template of the pipeline stack, synthesized in process without bundling.

    ``context`` overrides cdk.json context (e.g. ``{"declick:apiBaseUrl": "https://..."}``). The
    dependencies layer is not built (CDK ``aws:cdk:bundling-stacks`` = []), so this is fast and
    offline; the template is otherwise identical to a deployable one. cdk-nag is not run here.
    """
    with tempfile.TemporaryDirectory(prefix="declick-synth-") as outdir:
        app, stack = build_app({**SKIP_BUNDLING, **PLACEHOLDER_ALLOWED, **(context or {})}, outdir=outdir, nag=False)
        assembly = app.synth()
        return assembly.get_stack_by_name(stack.stack_name).template
