"""What moto does not enforce, asserted on the synthesized template (issue: faults on real AWS).

Topic and key policies for alarm actions, the file_link signer's credentials and lifetime checks,
reserved and maximum concurrency, the state machine's log content, stage names and tags, and the
dashboard. docs/operations.md says how ops confirm each after a deploy.
"""

from __future__ import annotations

import json
import re

import pytest

from infra.config import ConfigError, load_config
from infra.stack import PLACEHOLDER_ALLOWED, default_context, synth_template
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


@pytest.fixture(scope="module")
def functions(template):
    return functions_by_handler(template)


# ------------------------------------------------------------------ 1. alarms reach the ops topic


def _topic_policy(template, topic_lid):
    (policy,) = [
        res
        for res in resources(template, "AWS::SNS::TopicPolicy").values()
        if {"Ref": topic_lid} in res["Properties"]["Topics"]
    ]
    return placeholder(policy["Properties"]["PolicyDocument"]["Statement"])


def test_the_ops_topic_lets_this_stacks_alarms_publish_and_nothing_else(template):
    ops = logical_id_with_prefix(template, "AWS::SNS::Topic", "NotificationsOpsTopic")
    allows = [s for s in _topic_policy(template, ops) if s["Effect"] == "Allow"]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == f"{ARN_PREFIX}{ops}"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": f"{ARN_PREFIX}AWS::AccountId"}
    source = allow["Condition"]["ArnLike"]["aws:SourceArn"]
    assert source == (
        f"arn:{ARN_PREFIX}AWS::Partition:cloudwatch:{ARN_PREFIX}AWS::Region:{ARN_PREFIX}AWS::AccountId:alarm:Declick-dev-*"
    )
    # The user topic has no such grant: alarms must not reach subscribers.
    notifications = logical_id_with_prefix(template, "AWS::SNS::Topic", "NotificationsNotificationsTopic")
    assert not [s for s in _topic_policy(template, notifications) if s["Effect"] == "Allow"]


def test_every_alarm_matches_the_topic_policy_and_publishes_to_the_ops_topic(template):
    ops = logical_id_with_prefix(template, "AWS::SNS::Topic", "NotificationsOpsTopic")
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 15
    for lid, alarm in alarms.items():
        props = placeholder(alarm["Properties"])
        assert props["AlarmName"].startswith("Declick-dev-"), lid
        assert props["AlarmActions"] == [f"{ARN_PREFIX}{ops}"], lid


def test_the_topic_key_lets_cloudwatch_encrypt_for_the_ops_topic(template):
    _, key = only(template, "AWS::KMS::Key")
    statements = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    (statement,) = statements
    assert statement["Effect"] == "Allow"
    assert set(as_list(statement["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}


# ------------------------------------------------------------------ 5. file_link signing


def test_links_are_signed_by_a_user_that_can_only_read_uploads_through_fresh_presigned_urls(template, synthesized):
    user = logical_id_with_prefix(template, "AWS::IAM::User", "PipelineLinkSignerUser")
    group = logical_id_with_prefix(template, "AWS::IAM::Group", "PipelineLinkSignerGroup")
    input_bucket = logical_id_with_prefix(template, "AWS::S3::Bucket", "StorageInputBucket")
    assert template["Resources"][user]["Properties"]["Groups"] == [{"Ref": group}]
    # Nothing is attached to the user itself; its one permission comes from its group.
    assert not [res for res in resources(template, "AWS::IAM::Policy").values() if res["Properties"].get("Users")]
    policies = [
        placeholder(res["Properties"]["PolicyDocument"]["Statement"])
        for res in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": group} in res["Properties"].get("Groups", [])
    ]
    (statements,) = policies
    (statement,) = statements
    assert statement["Effect"] == "Allow"
    assert set(as_list(statement["Action"])) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert statement["Resource"] == f"{ARN_PREFIX}{input_bucket}.Arn/*"
    assert statement["Condition"]["StringEquals"] == {"s3:authType": "REST-QUERY-STRING"}
    lifetime_ms = synthesized.stack.config.presign_expiry_seconds * 1000
    assert statement["Condition"]["NumericLessThanEquals"] == {"s3:signatureAge": str(lifetime_ms)}
    assert "ManagedPolicyArns" not in template["Resources"][user]["Properties"]
    assert "LoginProfile" not in template["Resources"][user]["Properties"]  # no console password


def test_the_signing_key_reaches_only_submit_task_through_its_secret(template, functions):
    key = logical_id_with_prefix(template, "AWS::IAM::AccessKey", "PipelineLinkSignerAccessKey")
    secret = logical_id_with_prefix(template, "AWS::SecretsManager::Secret", "PipelineLinkSignerCredentials")
    assert template["Resources"][key]["Properties"]["Serial"] == 1
    # The value is assembled by CloudFormation from the key resource: nothing literal in the template.
    value = json.loads(placeholder(template["Resources"][secret]["Properties"]["SecretString"]))
    assert value == {
        "access_key_id": f"{ARN_PREFIX}{key}",
        "secret_access_key": f"{ARN_PREFIX}{key}.SecretAccessKey",
    }
    readers = set()
    for name, (_, res) in functions.items():
        role = res["Properties"]["Role"]["Fn::GetAtt"][0]
        for statement in role_statements(template, role):
            if f"{ARN_PREFIX}{secret}" in as_list(statement["Resource"]):
                readers.add(name)
        env = res["Properties"]["Environment"]["Variables"]
        assert ("SIGNING_SECRET_ARN" in env) == (name == "submit_task")
    assert readers == {"submit_task"}


def test_key_rotation_is_a_serial_bump():
    template = synth_template({"declick:signingKeySerial": 2})
    (key,) = resources(template, "AWS::IAM::AccessKey").values()
    assert key["Properties"]["Serial"] == 2


BASE = {**default_context(), **PLACEHOLDER_ALLOWED}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # The vendor may start the task (and fetch the file) until the pipeline gives up.
        (
            {"declick:presignExpirySeconds": 21_600},
            "presignExpirySeconds=21600 must be at least declick:maxProcessingSeconds",
        ),
        # The pinned input version must exist for the queue's retention plus the link lifetime.
        ({"declick:inputExpirationDays": 1, "declick:noncurrentVersionExpirationDays": 1}, "keep an upload for less"),
        ({"declick:vendorMaxConcurrency": 11}, "must exceed declick:submitMaxConcurrency=10 by at least 2"),
        ({"declick:stage": "prod", "declick:retainData": False}, "refused on stage prod"),
        ({"declick:stage": "Prod"}, "short lower-case name"),
    ],
)
def test_settings_that_disagree_are_refused_at_synth(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config({**BASE, **overrides})


def test_a_shorter_deadline_allows_a_shorter_link():
    config = load_config({**BASE, "declick:presignExpirySeconds": 21_600, "declick:maxProcessingSeconds": 21_600})
    assert config.presign_expiry_seconds == config.max_processing_seconds == 21_600


# ------------------------------------------------------------------ 6. concurrency


def test_reporters_have_reserved_concurrency_and_the_vendor_has_a_cap(template, functions, synthesized):
    config = synthesized.stack.config
    reserved = {name: res["Properties"].get("ReservedConcurrentExecutions") for name, (_, res) in functions.items()}
    assert reserved == {
        "submit_task": None,  # bounded by its event source's maximum concurrency instead
        "poll_task": config.vendor_max_concurrency - config.submit_max_concurrency,
        "deliver_result": config.deliver_reserved_concurrency,
        "report_failure": config.report_reserved_concurrency,
        "report_dead_letter": 2,
    }
    mappings = {
        placeholder(res["Properties"]["FunctionName"]): res["Properties"]
        for res in resources(template, "AWS::Lambda::EventSourceMapping").values()
    }
    submit = mappings[f"{ARN_PREFIX}{functions['submit_task'][0]}"]
    dead = mappings[f"{ARN_PREFIX}{functions['report_dead_letter'][0]}"]
    # Concurrent vendor calls: submit's mapping plus poll's reservation, never more than the cap.
    assert submit["ScalingConfig"]["MaximumConcurrency"] + reserved["poll_task"] == config.vendor_max_concurrency
    # A mapping that may run more invocations than the function's reservation would throttle itself.
    assert dead["ScalingConfig"]["MaximumConcurrency"] <= reserved["report_dead_letter"]


def test_vendor_concurrency_comes_from_context():
    template = synth_template(
        {
            "declick:stage": "prod",
            "declick:vendorMaxConcurrency": 24,
            "declick:submitMaxConcurrency": 4,
            "declick:deliverReservedConcurrency": 80,
            "declick:reportReservedConcurrency": 20,
        }
    )
    functions = functions_by_handler(template)
    reserved = {name: res["Properties"].get("ReservedConcurrentExecutions") for name, (_, res) in functions.items()}
    assert (reserved["poll_task"], reserved["deliver_result"], reserved["report_failure"]) == (20, 80, 20)
    (submit_mapping,) = [
        res["Properties"]
        for res in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if res["Properties"]["FunctionName"] == {"Ref": functions["submit_task"][0]}
    ]
    assert submit_mapping["ScalingConfig"] == {"MaximumConcurrency": 4}
    # ...and the stage names everything (8. stages).
    assert {res["Properties"]["FunctionName"] for _, res in functions.values()} == {
        "Declick-prod-submit-task",
        "Declick-prod-poll-task",
        "Declick-prod-deliver-result",
        "Declick-prod-report-failure",
        "Declick-prod-report-dead-letter",
    }
    (machine,) = resources(template, "AWS::StepFunctions::StateMachine").values()
    assert machine["Properties"]["StateMachineName"] == "Declick-prod-pipeline"
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "Declick-prod"
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmName"].startswith("Declick-prod-")


# ------------------------------------------------------------------ 7. no signed URLs in logs


def test_state_machine_logs_leave_out_execution_data(template):
    _, machine = only(template, "AWS::StepFunctions::StateMachine")
    logging = machine["Properties"]["LoggingConfiguration"]
    assert logging["IncludeExecutionData"] is False
    assert logging["Level"] in ("ALL", "ERROR")


# ------------------------------------------------------------------ 8. stages, tags, dashboard


def test_stage_names_the_stack_and_tags_every_taggable_resource(template, synthesized):
    assert synthesized.stack.stack_name == "Declick-dev"
    tagged = [res for res in template["Resources"].values() if "Tags" in res.get("Properties", {})]
    assert len(tagged) > 10
    for res in tagged:
        tags = res["Properties"]["Tags"]
        if isinstance(tags, list):
            tags = {tag["Key"]: tag["Value"] for tag in tags}
        assert tags.get("Project") == "Declick" and tags.get("Stage") == "dev", res["Type"]
    names = {
        logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitQueue"): "Declick-dev-submit",
        logical_id_with_prefix(template, "AWS::SNS::Topic", "NotificationsOpsTopic"): "Declick-dev-ops",
    }
    for lid, name in names.items():
        props = template["Resources"][lid]["Properties"]
        assert name in (props.get("QueueName"), props.get("TopicName"))


def test_dashboard_shows_uploads_outcomes_vendor_queues_and_executions(template):
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    body = json.loads(placeholder(dashboard["Properties"]["DashboardBody"]))
    titles = {widget["properties"].get("title") for widget in body["widgets"]}
    assert {
        "Uploads",
        "Outcomes by status",
        "Outcomes by reason (FAILED, REJECTED)",
        "Vendor API latency (ms per request)",
        "Vendor API requests and errors",
        "Queue depth",
        "Executions",
    } <= titles
    text = json.dumps(body)
    # The handlers' metric names (functions/declick_pipeline): a renamed metric would empty a graph.
    for metric in ("Submitted", "Rejected", "VendorLatency", "VendorErrors", "VendorRequests", "Notifications"):
        assert metric in text, metric
    for metric in ("ExecutionsStarted", "ExecutionsFailed", "ApproximateNumberOfMessagesVisible"):
        assert metric in text, metric
    # Notifications carries (service, status, reason): each status line sums that status's reasons.
    expressions = {
        item.get("label"): item["expression"]
        for widget in body["widgets"]
        for line in widget["properties"].get("metrics", [])
        for item in line
        if isinstance(item, dict) and "expression" in item
    }
    schema = "{Declick,service,status,reason}"
    for status in ("SUCCEEDED", "FAILED", "REJECTED"):
        assert (
            expressions[status]
            == f"SUM(SEARCH('{schema} MetricName=\"Notifications\" status=\"{status}\"', 'Sum', 300))"
        )
