"""How every Declick Lambda is declared: one runtime, its own log group and role, active tracing.

The pipeline's functions and the engine backend's share this so that a security or runtime setting
(tracing, the explicit role, the log group's retention) cannot drift between the two. The children
are created directly in the caller's scope, with the ids ``<name>Logs``, ``<name>Role`` and
``<name>Function``: the logical ids of deployed functions, roles and log groups stay what they were.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
# The AwsSolutions-L1 reason ("not the latest runtime"); ``{layers}`` names the layers of the caller.
RUNTIME_REASON = (
    "python3.12 is the runtime the handlers and the {layers} are built and tested for "
    "(docs/architecture.md); moving to a newer runtime is a deliberate, tested change."
)


def dependencies_layer(
    scope: Construct, construct_id: str, *, code: lambda_.Code, description: str
) -> lambda_.LayerVersion:
    """A layer of third-party packages, built for the functions' runtime and architecture."""
    return lambda_.LayerVersion(
        scope,
        construct_id,
        code=code,
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description=description,
    )


def traced_function(
    scope: Construct,
    name: str,
    *,
    handler: str,
    code: lambda_.Code,
    layers: Sequence[lambda_.ILayerVersion],
    memory_mb: int,
    timeout: Duration,
    environment: dict[str, str],
    retention: logs.RetentionDays,
    removal: RemovalPolicy,
    description: str,
    role_description: str,
    ephemeral_mb: int = 512,
    function_name: str | None = None,
    reserved: int | None = None,
    layers_named: str = "dependencies layer",
) -> lambda_.Function:
    """A Lambda function ``<name>Function`` with its log group and its own role, in ``scope``."""
    log_group = logs.LogGroup(scope, f"{name}Logs", retention=retention, removal_policy=removal)
    # An explicit role instead of the default one: the default attaches the AWS-managed
    # AWSLambdaBasicExecutionRole, which may write to every log group of the account.
    role = iam.Role(
        scope,
        f"{name}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=role_description,
    )
    log_group.grant_write(role)
    function = lambda_.Function(
        scope,
        f"{name}Function",
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=handler,
        code=code,
        layers=list(layers),
        memory_size=memory_mb,
        timeout=timeout,
        ephemeral_storage_size=Size.mebibytes(ephemeral_mb),
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        role=role,
        environment=environment,
        function_name=function_name,
        reserved_concurrent_executions=reserved,
        description=description,
    )
    acknowledge(function, "AwsSolutions-L1", RUNTIME_REASON.format(layers=layers_named))
    acknowledge(
        role,
        "AwsSolutions-IAM5",
        "X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) do not support resource-level permissions.",
        findings=["Resource::*"],
    )
    return function
