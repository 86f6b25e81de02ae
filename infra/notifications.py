"""SNS topics (user notifications and ops alarms) and their KMS key.

Both topics are encrypted with one customer-managed key because the AWS-managed ``aws/sns`` key
cannot be granted to CloudWatch alarms (its policy is not editable), and alarms must be able to
publish to the ops topic.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import StackConfig


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
