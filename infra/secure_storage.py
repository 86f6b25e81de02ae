"""The security settings every Declick bucket, queue and table has, declared once.

Buckets: SSE-S3, all public access blocked, TLS only, ACLs disabled (bucket owner enforced).
Queues: SQS-managed SSE, TLS only. Tables: AWS-managed encryption, point-in-time recovery,
on-demand billing. Callers add only what is theirs (names, lifecycles, keys, timeouts); the
construct ids they pass are used as they are, so logical ids do not depend on this module.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    removal: RemovalPolicy,
    lifecycle_rules: Sequence[s3.LifecycleRule],
    access_logs_bucket: s3.IBucket | None = None,
    access_logs_prefix: str | None = None,
    versioned: bool | None = None,
    auto_delete_objects: bool | None = None,
) -> s3.Bucket:
    """An encrypted, TLS-only, private bucket (SSE-S3: server access logging delivers only to those)."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        versioned=versioned,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs_bucket,
        server_access_logs_prefix=access_logs_prefix,
        removal_policy=removal,
        auto_delete_objects=auto_delete_objects,
        lifecycle_rules=list(lifecycle_rules),
    )


def encrypted_queue(
    scope: Construct,
    construct_id: str,
    *,
    retention_period: Duration,
    visibility_timeout: Duration | None = None,
    queue_name: str | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
) -> sqs.Queue:
    """An SQS queue encrypted at rest (SQS-managed SSE) that refuses requests without TLS."""
    return sqs.Queue(
        scope,
        construct_id,
        queue_name=queue_name,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        retention_period=retention_period,
        dead_letter_queue=dead_letter_queue,
    )


def encrypted_table(
    scope: Construct,
    construct_id: str,
    *,
    partition_key: dynamodb.Attribute,
    removal: RemovalPolicy,
    sort_key: dynamodb.Attribute | None = None,
    time_to_live_attribute: str | None = None,
) -> dynamodb.Table:
    """An on-demand DynamoDB table, encrypted with the AWS-managed key, with point-in-time recovery."""
    return dynamodb.Table(
        scope,
        construct_id,
        partition_key=partition_key,
        sort_key=sort_key,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute=time_to_live_attribute,
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=removal,
    )
