"""SNS topics (user notifications and ops alarms), their KMS key, and the API credentials secret.

Both topics are encrypted with one customer-managed key because the AWS-managed ``aws/sns`` key
cannot be granted to CloudWatch alarms (its policy is not editable), and alarms must be able to
publish to the ops topic.
"""

from __future__ import annotations

import re

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge

_COMPLETE_SECRET_ARN = re.compile(r"-[A-Za-z0-9]{6}$")


class Notifications(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)

        self.topic_key = kms.Key(
            self,
            "TopicKey",
            description="Declick SNS topics (notifications and ops alarms)",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        # CloudWatch alarm actions publish to the encrypted ops topic as this service principal.
        self.topic_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )

        self.topic = sns.Topic(
            self,
            "NotificationsTopic",
            display_name="Declick notifications",
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        self.ops_topic = sns.Topic(
            self,
            "OpsTopic",
            display_name="Declick operations alarms",
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        for address in config.notification_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        for address in config.ops_emails:
            self.ops_topic.add_subscription(subscriptions.EmailSubscription(address))

        if config.api_secret_arn:
            if _COMPLETE_SECRET_ARN.search(config.api_secret_arn):
                self.secret = secretsmanager.Secret.from_secret_complete_arn(
                    self, "ApiCredentials", config.api_secret_arn
                )
            else:
                self.secret = secretsmanager.Secret.from_secret_partial_arn(
                    self, "ApiCredentials", config.api_secret_arn
                )
        else:
            # A placeholder the operator overwrites with the vendor-issued pair (docs/operations.md);
            # the generated value only keeps the real credentials out of the template.
            secret = secretsmanager.Secret(
                self,
                "ApiCredentials",
                description='Declick remote API credentials {"appkey": ..., "appsecret": ...}',
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template='{"appkey": "REPLACE_WITH_VENDOR_APPKEY"}',  # noqa: S106 - a placeholder
                    generate_string_key="appsecret",
                    exclude_punctuation=True,
                    password_length=32,
                ),
                removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
            )
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                "The appkey/appsecret pair is issued by the remote API vendor; we cannot mint new ones, so "
                "automatic rotation is impossible. Operators replace the value when the vendor re-issues it.",
            )
            self.secret = secret
