"""The remote API's credentials secret: the operator's existing one, or a placeholder to fill in.

It used to live inside the ``Notifications`` construct; its logical ID is pinned to the one it had
there, because a new logical ID would make CloudFormation replace the secret on the next deploy,
and the operator would lose the vendor-issued appkey/appsecret stored in it.
"""

from __future__ import annotations

import re

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge

_COMPLETE_SECRET_ARN = re.compile(r"-[A-Za-z0-9]{6}$")
CONSTRUCT_ID = "ApiCredentials"
PINNED_LOGICAL_ID = "NotificationsApiCredentialsE6A00EF4"


def api_credentials(scope: Construct, config: StackConfig) -> secretsmanager.ISecret:
    """The secret the submit and poll Lambdas read ``{"appkey": ..., "appsecret": ...}`` from."""
    if config.api_secret_arn:
        if _COMPLETE_SECRET_ARN.search(config.api_secret_arn):
            return secretsmanager.Secret.from_secret_complete_arn(scope, CONSTRUCT_ID, config.api_secret_arn)
        return secretsmanager.Secret.from_secret_partial_arn(scope, CONSTRUCT_ID, config.api_secret_arn)
    # A placeholder the operator overwrites with the vendor-issued pair (docs/operations.md);
    # the generated value only keeps the real credentials out of the template.
    secret = secretsmanager.Secret(
        scope,
        CONSTRUCT_ID,
        description='Declick remote API credentials {"appkey": ..., "appsecret": ...}',
        generate_secret_string=secretsmanager.SecretStringGenerator(
            secret_string_template='{"appkey": "REPLACE_WITH_VENDOR_APPKEY"}',  # noqa: S106 - a placeholder
            generate_string_key="appsecret",
            exclude_punctuation=True,
            password_length=32,
        ),
        removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
    )
    secret.node.default_child.override_logical_id(PINNED_LOGICAL_ID)
    acknowledge(
        secret,
        "AwsSolutions-SMG4",
        "The appkey/appsecret pair is issued by the remote API vendor; we cannot mint new ones, so "
        "automatic rotation is impossible. Operators replace the value when the vendor re-issues it.",
    )
    return secret
