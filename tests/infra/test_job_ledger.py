"""The job ledger table, who may write it, and the alarms on what the handlers report (issue: DLQ alarm)."""

from __future__ import annotations

from tests.infra.template_tools import (
    ARN_PREFIX,
    functions_by_handler,
    logical_id_with_prefix,
    placeholder,
    resources,
    role_statements,
)

WRITERS = ("submit_task", "deliver_result", "report_failure", "report_dead_letter")


def _ledger(template):
    lid = logical_id_with_prefix(template, "AWS::DynamoDB::Table", "StorageJobLedgerTable")
    return lid, template["Resources"][lid]["Properties"]


def test_ledger_is_keyed_by_object_version_encrypted_and_recoverable(template):
    _, props = _ledger(template)
    assert props["KeySchema"] == [
        {"AttributeName": "object", "KeyType": "HASH"},
        {"AttributeName": "version", "KeyType": "RANGE"},
    ]
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["BillingMode"] == "PAY_PER_REQUEST"


def test_ledger_has_an_index_by_status_and_time(template):
    _, props = _ledger(template)
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-status"
    assert index["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "status_at", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_every_writer_may_update_only_the_ledger_table_and_poll_may_not(template):
    lid, _ = _ledger(template)
    functions = functions_by_handler(template)
    for handler, (_, function) in functions.items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        on_ledger = [
            statement
            for statement in role_statements(template, role)
            if lid in str(statement["Resource"])
        ]
        env = placeholder(function["Properties"]["Environment"]["Variables"])
        if handler in WRITERS:
            assert [(s["Action"], s["Resource"]) for s in on_ledger] == [
                ("dynamodb:UpdateItem", f"{ARN_PREFIX}{lid}.Arn")
            ], handler
            assert env["LEDGER_TABLE"] == f"{ARN_PREFIX}{lid}", handler
        else:
            assert not on_ledger, handler


def test_stack_outputs_name_the_ledger_and_the_submit_queue(template):
    outputs = {name: placeholder(output["Value"]) for name, output in template["Outputs"].items()}
    lid, _ = _ledger(template)
    queue = logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitQueue")
    assert outputs["JobLedgerTableName"] == f"{ARN_PREFIX}{lid}"
    assert outputs["SubmitQueueUrl"] == f"{ARN_PREFIX}{queue}"


def _alarms_on(template, metric_name):
    found = {}
    for lid, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if props.get("MetricName") == metric_name:
            found[lid] = props
    return found


def _ops_topic(template):
    return logical_id_with_prefix(template, "AWS::SNS::Topic", "NotificationsOpsTopic")


def test_dead_letters_and_failures_are_alarmed_from_reported_metrics(template):
    ops = _ops_topic(template)
    for metric in ("DeadLetters", "Failed", "LedgerWriteErrors"):
        (props,) = _alarms_on(template, metric).values()
        assert props["Namespace"] == "Declick" and props["Statistic"] == "Sum"
        assert props["Dimensions"] == [{"Name": "service", "Value": "declick"}]
        assert props["ComparisonOperator"] == "GreaterThanThreshold" and props["Threshold"] == 0
        assert placeholder(props["AlarmActions"]) == [f"{ARN_PREFIX}{ops}"]


def test_ops_failure_causes_each_have_an_alarm(template):
    ops = _ops_topic(template)
    by_code = {}
    for props in _alarms_on(template, "FailedByCode").values():
        dimensions = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        assert dimensions["service"] == "declick"
        assert placeholder(props["AlarmActions"]) == [f"{ARN_PREFIX}{ops}"]
        by_code[dimensions["code"]] = props
    assert {"REMOTE_API_UNAVAILABLE", "REMOTE_API_AUTH_FAILED", "SUBMIT_FAILED", "INTERNAL_ERROR"} <= set(by_code)


def test_the_namespace_and_service_alarmed_are_the_ones_the_functions_emit(template):
    for _, function in functions_by_handler(template).values():
        env = function["Properties"]["Environment"]["Variables"]
        assert (env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"]) == ("Declick", "declick")
