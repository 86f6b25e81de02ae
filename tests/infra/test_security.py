"""Encryption, TLS-only access, private buckets and least-privilege IAM in the synthesized template."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.template_tools import (
    ARN_PREFIX,
    as_list,
    functions_by_handler,
    logical_id_with_prefix,
    only,
    placeholder,
    resources,
    role_statements,
)

PUBLIC_ACCESS_BLOCKED = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
# Statements where "*" is the only possible resource (no resource-level permissions exist).
STAR_ONLY_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}
IDEMPOTENCY_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def _denies_insecure_transport(statements: list[dict[str, Any]]) -> bool:
    return any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in statements
    )


def _policy_statements(template: dict[str, Any], policy_type: str, ref_key: str, logical_id: str) -> list[Any]:
    statements = []
    for res in resources(template, policy_type).values():
        targets = placeholder(as_list(res["Properties"][ref_key]))
        if any(str(target).startswith(f"{ARN_PREFIX}{logical_id}") for target in targets):
            statements += res["Properties"]["PolicyDocument"]["Statement"]
    return statements


@pytest.fixture(scope="module")
def buckets(template):
    return {
        "input": logical_id_with_prefix(template, "AWS::S3::Bucket", "StorageInputBucket"),
        "output": logical_id_with_prefix(template, "AWS::S3::Bucket", "StorageOutputBucket"),
        "logs": logical_id_with_prefix(template, "AWS::S3::Bucket", "StorageAccessLogsBucket"),
    }


@pytest.fixture(scope="module")
def roles(template) -> dict[str, str]:
    """Handler name -> logical id of its execution role."""
    return {
        name: res["Properties"]["Role"]["Fn::GetAtt"][0] for name, (_, res) in functions_by_handler(template).items()
    }


def test_buckets_are_encrypted_private_and_tls_only(template, buckets):
    assert len(resources(template, "AWS::S3::Bucket")) == 3
    for lid in buckets.values():
        props = template["Resources"][lid]["Properties"]
        rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert props["PublicAccessBlockConfiguration"] == PUBLIC_ACCESS_BLOCKED
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        statements = _policy_statements(template, "AWS::S3::BucketPolicy", "Bucket", lid)
        assert _denies_insecure_transport(statements), lid
        assert not any(s["Effect"] == "Allow" and s.get("Principal") == "*" for s in statements), lid


def test_data_buckets_are_versioned_logged_and_expire(template, buckets, synthesized):
    config = synthesized.stack.config
    for kind, days in (("input", config.input_expiration_days), ("output", config.output_expiration_days)):
        props = placeholder(template["Resources"][buckets[kind]]["Properties"])
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["LoggingConfiguration"]["DestinationBucketName"] == f"{ARN_PREFIX}{buckets['logs']}"
        rule = next(r for r in props["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r)
        assert rule["ExpirationInDays"] == days
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == config.noncurrent_version_expiration_days
        assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1


def test_uploads_notify_the_submit_queue_and_outputs_never_do(template, buckets):
    _, notifications = only(template, "Custom::S3BucketNotifications")
    props = placeholder(notifications["Properties"])
    assert props["BucketName"] == f"{ARN_PREFIX}{buckets['input']}"
    submit_queue = logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitQueue")
    assert props["NotificationConfiguration"] == {
        "QueueConfigurations": [{"Events": ["s3:ObjectCreated:*"], "QueueArn": f"{ARN_PREFIX}{submit_queue}.Arn"}]
    }
    # S3 may send to the queue only for this bucket.
    queue_policy = _policy_statements(template, "AWS::SQS::QueuePolicy", "Queues", submit_queue)
    s3_allow = [s for s in queue_policy if s["Effect"] == "Allow" and s["Principal"] == {"Service": "s3.amazonaws.com"}]
    assert s3_allow and placeholder(s3_allow[0]["Condition"])["ArnLike"]["aws:SourceArn"] == (
        f"{ARN_PREFIX}{buckets['input']}.Arn"
    )
    for lid in (buckets["output"], buckets["logs"]):
        assert "NotificationConfiguration" not in template["Resources"][lid]["Properties"]


def test_queues_are_encrypted_tls_only_and_redrive_to_the_dlq(template):
    queues = resources(template, "AWS::SQS::Queue")
    assert len(queues) == 2
    for lid, res in queues.items():
        assert res["Properties"]["SqsManagedSseEnabled"] is True
        assert _denies_insecure_transport(_policy_statements(template, "AWS::SQS::QueuePolicy", "Queues", lid)), lid
    dlq = logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitDeadLetterQueue")
    submit = logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitQueue")
    redrive = placeholder(queues[submit]["Properties"]["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": f"{ARN_PREFIX}{dlq}.Arn", "maxReceiveCount": 5}


def test_queue_visibility_covers_six_consumer_timeouts(template):
    functions = functions_by_handler(template)
    for handler, prefix in (("submit_task", "StorageSubmitQueue"), ("report_dead_letter", "StorageSubmitDeadLetter")):
        queue = template["Resources"][logical_id_with_prefix(template, "AWS::SQS::Queue", prefix)]
        timeout = functions[handler][1]["Properties"]["Timeout"]
        assert queue["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_topics_use_a_rotated_kms_key_alarms_can_use_and_are_tls_only(template):
    key_id, key = only(template, "AWS::KMS::Key")
    assert key["Properties"]["EnableKeyRotation"] is True
    key_statements = key["Properties"]["KeyPolicy"]["Statement"]
    assert any(s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"} for s in key_statements)
    topics = resources(template, "AWS::SNS::Topic")
    assert len(topics) == 2
    for lid, res in topics.items():
        assert res["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert _denies_insecure_transport(_policy_statements(template, "AWS::SNS::TopicPolicy", "Topics", lid)), lid


def test_email_subscriptions_come_from_context(template):
    subscriptions = {
        (placeholder(res["Properties"]["TopicArn"]), res["Properties"]["Endpoint"])
        for res in resources(template, "AWS::SNS::Subscription").values()
        if res["Properties"]["Protocol"] == "email"
    }
    topic = f"{ARN_PREFIX}{logical_id_with_prefix(template, 'AWS::SNS::Topic', 'NotificationsNotificationsTopic')}"
    ops = f"{ARN_PREFIX}{logical_id_with_prefix(template, 'AWS::SNS::Topic', 'NotificationsOpsTopic')}"
    assert subscriptions == {
        (topic, "listener@example.com"),
        (ops, "ops-one@example.com"),
        (ops, "ops-two@example.com"),
    }


def test_idempotency_table(template):
    table = template["Resources"][logical_id_with_prefix(template, "AWS::DynamoDB::Table", "StorageIdempotencyTable")]
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_secret_value_is_generated_never_in_the_template(template):
    lid = logical_id_with_prefix(template, "AWS::SecretsManager::Secret", "NotificationsApiCredentials")
    props = template["Resources"][lid]["Properties"]
    assert "SecretString" not in props
    generated = props["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "appsecret"
    assert '"appkey"' in generated["SecretStringTemplate"]


def test_only_unavoidable_statements_use_resource_star(template, roles):
    role_ids = set(roles.values()) | {
        logical_id_with_prefix(template, "AWS::IAM::Role", "PipelineStateMachineRole"),
    }
    for role in role_ids:
        for statement in role_statements(template, role):
            if "*" in as_list(statement["Resource"]):
                assert set(as_list(statement["Action"])) <= STAR_ONLY_ACTIONS, (role, statement)


def _grants(template, role: str) -> dict[str, set[str]]:
    """action -> resources allowed for a role."""
    found: dict[str, set[str]] = {}
    for statement in role_statements(template, role):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            found.setdefault(action, set()).update(str(r) for r in as_list(statement["Resource"]))
    return found


def test_each_function_gets_exactly_its_named_resources(template, roles, buckets):
    table = logical_id_with_prefix(template, "AWS::DynamoDB::Table", "StorageIdempotencyTable")
    ledger_table = logical_id_with_prefix(template, "AWS::DynamoDB::Table", "StorageJobLedgerTable")
    secret = logical_id_with_prefix(template, "AWS::SecretsManager::Secret", "NotificationsApiCredentials")
    signing = logical_id_with_prefix(template, "AWS::SecretsManager::Secret", "PipelineLinkSignerCredentials")
    machine = only(template, "AWS::StepFunctions::StateMachine")[0]
    key = only(template, "AWS::KMS::Key")[0]
    topic = logical_id_with_prefix(template, "AWS::SNS::Topic", "NotificationsNotificationsTopic")
    dlq = logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitDeadLetterQueue")
    queue = logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitQueue")
    a = ARN_PREFIX
    publish = {
        "sns:Publish": {f"{a}{topic}"},
        "kms:Decrypt": {f"{a}{key}.Arn"},
        "kms:GenerateDataKey*": {f"{a}{key}.Arn"},
    }
    secret_read = {"secretsmanager:GetSecretValue": {f"{a}{secret}"}, "secretsmanager:DescribeSecret": {f"{a}{secret}"}}
    both_secrets_read = {action: {f"{a}{secret}", f"{a}{signing}"} for action in secret_read}
    idempotency = {action: {f"{a}{table}.Arn"} for action in IDEMPOTENCY_ACTIONS}
    # One upsert per step, on the ledger table only (not its index).
    ledger = {"dynamodb:UpdateItem": {f"{a}{ledger_table}.Arn"}}
    consume = {
        action: {f"{a}{{}}.Arn"}
        for action in (
            "sqs:ReceiveMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueUrl",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        )
    }

    def merged(*grants: dict[str, set[str]]) -> dict[str, set[str]]:
        union: dict[str, set[str]] = {}
        for grant in grants:
            for action, targets in grant.items():
                union.setdefault(action, set()).update(targets)
        return union

    def consume_from(lid: str) -> dict[str, set[str]]:
        return {action: {pattern.format(lid) for pattern in value} for action, value in consume.items()}

    expected = {
        "submit_task": {
            "s3:GetObject": {f"{a}{buckets['input']}.Arn/*"},
            "s3:GetObjectVersion": {f"{a}{buckets['input']}.Arn/*"},
            "s3:ListBucket": {f"{a}{buckets['input']}.Arn"},
            "states:StartExecution": {f"{a}{machine}"},
            **both_secrets_read,
            **publish,
            # ChangeMessageVisibility also sets a failed record's retry delay (declick_pipeline.submit_retry).
            **consume_from(queue),
            **merged(idempotency, ledger),
        },
        "poll_task": {**secret_read},
        "deliver_result": {
            "s3:PutObject": {f"{a}{buckets['output']}.Arn/*"},
            "s3:AbortMultipartUpload": {f"{a}{buckets['output']}.Arn/*"},
            **publish,
            **merged(idempotency, ledger),
        },
        "report_failure": {**publish, **ledger},
        # PutItem: the upload's notification-owner record (declick_pipeline.upload_records).
        "report_dead_letter": {**publish, **consume_from(dlq), **ledger, "dynamodb:PutItem": {f"{a}{table}.Arn"}},
    }
    for handler, role in roles.items():
        grants = _grants(template, role)
        own_logs = {k: v for k, v in grants.items() if k.startswith(("logs:", "xray:"))}
        assert set(own_logs) == {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
        }, handler
        log_group = template["Resources"][functions_by_handler(template)[handler][0]]["Properties"]["LoggingConfig"]
        assert own_logs["logs:PutLogEvents"] == {f"{a}{log_group['LogGroup']['Ref']}.Arn"}, handler
        rest = {k: v for k, v in grants.items() if k not in own_logs}
        assert rest == expected[handler], handler


def test_roles_use_no_managed_policies(template, roles):
    for role in roles.values():
        assert "ManagedPolicyArns" not in template["Resources"][role]["Properties"], role


def test_state_machine_may_invoke_only_its_three_functions(template):
    role = logical_id_with_prefix(template, "AWS::IAM::Role", "PipelineStateMachineRole")
    invokable = _grants(template, role)["lambda:InvokeFunction"]
    functions = functions_by_handler(template)
    expected = set()
    for handler in ("poll_task", "deliver_result", "report_failure"):
        arn = f"{ARN_PREFIX}{functions[handler][0]}.Arn"
        expected |= {arn, f"{arn}:*"}
    assert invokable == expected
