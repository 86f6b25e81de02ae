"""SNS topics (user notifications and ops alarms) and their KMS key.

Both topics are encrypted with one customer-managed key because the AWS-managed ``aws/sns`` key
cannot be granted to CloudWatch alarms (its policy is not editable), and alarms must be able to
publish to the ops topic.

Alarms need two permissions, and SNS/KMS refuse silently in the alarm history without either:
``sns:Publish`` in the ops topic's policy (``enforce_ssl`` creates that policy with only the TLS
Deny, which replaces SNS's default owner policy) and ``kms:GenerateDataKey*``/``kms:Decrypt`` in
the key policy. The topic statement is scoped to this account's alarms of this stage
(``aws:SourceAccount``, ``aws:SourceArn``); the key statement is AWS's documented one without
conditions (CloudWatch does not pass them to KMS), which gives nothing without the topic's consent.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
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
            topic_name=config.resource_name("notifications"),
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        self.ops_topic = sns.Topic(
            self,
            "OpsTopic",
            display_name="Declick operations alarms",
            topic_name=config.resource_name("ops"),
            master_key=self.topic_key,
            enforce_ssl=True,
        )
        stack = Stack.of(self)
        self.alarm_name_prefix = config.resource_name("")
        self.ops_topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.ops_topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:"
                        f"{self.alarm_name_prefix}*"
                    },
                },
            )
        )
        for address in config.notification_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(address))
        for address in config.ops_emails:
            self.ops_topic.add_subscription(subscriptions.EmailSubscription(address))
