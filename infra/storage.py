"""Buckets, queues and the idempotency table: everything that holds user data or work items.

Input and output live in separate buckets so that a delivered result can never trigger another
submission. Encryption is SSE-S3 / SQS-managed SSE on purpose: both are free, need no key policy
for the S3 → SQS notification, and keep presigned ``file_link`` URLs working without KMS grants.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import SUBMIT_QUEUE_RETENTION_DAYS, StackConfig
from infra.ledger import job_ledger_table
from infra.nag import acknowledge
from infra.secure_storage import encrypted_queue, encrypted_table, private_bucket


class Storage(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        submit_timeout: Duration,
        dead_letter_timeout: Duration,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY

        self.access_logs_bucket = private_bucket(
            self,
            "AccessLogsBucket",
            removal=removal,
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-logs", expiration=Duration.days(config.access_log_expiration_days)),
            ],
        )
        acknowledge(
            self.access_logs_bucket,
            "AwsSolutions-S1",
            "This is the server access log target itself; logging it into itself would loop.",
        )

        self.input_bucket = self._data_bucket(
            "InputBucket", config, removal, config.input_expiration_days, log_prefix="input/"
        )
        self.output_bucket = self._data_bucket(
            "OutputBucket", config, removal, config.output_expiration_days, log_prefix="output/"
        )

        # AWS guidance for Lambda consumers: visibility timeout at least six times the function
        # timeout, so that a message is not handed out again while a (retried) batch still runs.
        self.dead_letter_queue = encrypted_queue(
            self,
            "SubmitDeadLetterQueue",
            queue_name=config.resource_name("submit-dead-letters"),
            visibility_timeout=Duration.seconds(dead_letter_timeout.to_seconds() * 6),
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter queue of the submit queue; a DLQ of a DLQ would only hide failures "
            "(its consumer reports every dead upload and an alarm watches its depth).",
        )
        self.submit_queue = encrypted_queue(
            self,
            "SubmitQueue",
            queue_name=config.resource_name("submit"),
            visibility_timeout=Duration.seconds(submit_timeout.to_seconds() * 6),
            retention_period=Duration.days(SUBMIT_QUEUE_RETENTION_DAYS),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=config.submit_max_receive_count
            ),
        )
        # ObjectCreated:* covers Put, Post, Copy and CompleteMultipartUpload.
        self.input_bucket.add_event_notification(s3.EventType.OBJECT_CREATED, s3n.SqsDestination(self.submit_queue))

        self.idempotency_table = encrypted_table(
            self,
            "IdempotencyTable",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
            time_to_live_attribute="expiration",
            removal=removal,
        )
        self.ledger_table = job_ledger_table(self, "JobLedgerTable", removal=removal)

    def _data_bucket(
        self, construct_id: str, config: StackConfig, removal: RemovalPolicy, expiration_days: int, log_prefix: str
    ) -> s3.Bucket:
        return private_bucket(
            self,
            construct_id,
            versioned=True,
            access_logs_bucket=self.access_logs_bucket,
            access_logs_prefix=log_prefix,
            removal=removal,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-objects",
                    expiration=Duration.days(expiration_days),
                    noncurrent_version_expiration=Duration.days(config.noncurrent_version_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(id="remove-expired-delete-markers", expired_object_delete_marker=True),
            ],
        )
