"""The credentials that sign ``file_link``, the presigned URL the vendor downloads an upload from.

A presigned URL dies with the credentials that signed it. A Lambda role's session credentials
live a few hours at most and Lambda does not promise any particular lifetime; assuming a
dedicated role from the function is role chaining, which AWS caps at one hour whatever the role's
``MaxSessionDuration``. Neither can back a link the vendor may open 12 hours later. Long-term
credentials can (SigV4 allows up to 7 days), so the links are signed with the access key of an
IAM user that exists for nothing else:

* it may only ``GetObject``/``GetObjectVersion`` in the input bucket, and only through a presigned
  URL (``s3:authType`` = ``REST-QUERY-STRING``) whose signature is at most the link lifetime old
  (``s3:signatureAge``): a leaked key cannot list, write, or mint longer links;
* the key is stored in Secrets Manager (never in the template or the environment; CloudFormation
  passes it from ``AWS::IAM::AccessKey`` to the secret) and read by submit_task only;
* it is replaced by deploying with ``declick:signingKeySerial`` + 1 (docs/operations.md); rotate
  at least every 90 days (Security Hub IAM.3).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge


class LinkSigner(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, input_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        # The permission sits on a group, not on the user (CIS / Security Hub IAM.2: no policies
        # attached to users directly).
        self.group = iam.Group(self, "Group")
        self.user = iam.User(self, "User", groups=[self.group])
        self.group.add_to_policy(
            iam.PolicyStatement(
                sid="ReadUploadsThroughPresignedUrlsOnly",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[input_bucket.arn_for_objects("*")],
                conditions={
                    "StringEquals": {"s3:authType": "REST-QUERY-STRING"},
                    "NumericLessThanEquals": {"s3:signatureAge": str(config.presign_expiry_seconds * 1000)},
                },
            )
        )
        self.access_key = iam.AccessKey(self, "AccessKey", user=self.user, serial=config.signing_key_serial)
        self.secret = secretsmanager.Secret(
            self,
            "Credentials",
            description="Declick file_link signing key (IAM user access key; read by submit_task only)",
            secret_object_value={
                "access_key_id": SecretValue.unsafe_plain_text(self.access_key.access_key_id),
                "secret_access_key": self.access_key.secret_access_key,
            },
            # The key dies with the stack; nothing else could use this copy of it.
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "The value is an IAM access key created by CloudFormation (AWS::IAM::AccessKey); it is rotated by "
            "deploying with declick:signingKeySerial + 1, which replaces the key and updates this secret in one "
            "change set (docs/operations.md). A Secrets Manager rotation Lambda would fight CloudFormation over it.",
        )
        stack = Stack.of(self)
        acknowledge(
            self.group,
            "AwsSolutions-IAM5",
            "Uploads may have any key; the user may only read input objects, only through presigned URLs no "
            "older than the link lifetime (s3:authType, s3:signatureAge).",
            findings=[f"Resource::<{stack.get_logical_id(input_bucket.node.default_child)}.Arn>/*"],
        )
