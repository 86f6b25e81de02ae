"""Lambda functions, their environment contract, event sources and alarms."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from declick_pipeline.settings import load_settings
from tests.infra.template_tools import (
    ARN_PREFIX,
    functions_by_handler,
    logical_id_with_prefix,
    only,
    placeholder,
    resources,
)

HANDLERS = {"submit_task", "poll_task", "deliver_result", "report_failure", "report_dead_letter"}
ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
# What each handler checks with `settings.require(...)` (functions/declick_pipeline).
REQUIRED = {
    "submit_task": (
        "API_BASE_URL",
        "API_SECRET_ARN",
        "TOPIC_ARN",
        "STATE_MACHINE_ARN",
        "IDEMPOTENCY_TABLE",
        "SIGNING_SECRET_ARN",
    ),
    "poll_task": ("API_BASE_URL", "API_SECRET_ARN"),
    "deliver_result": ("OUTPUT_BUCKET", "TOPIC_ARN", "IDEMPOTENCY_TABLE"),
    "report_failure": ("TOPIC_ARN",),
    "report_dead_letter": ("TOPIC_ARN",),
}


@pytest.fixture(scope="module")
def functions(template):
    return functions_by_handler(template)


def _environment(res) -> dict[str, str]:
    return {k: str(v) for k, v in placeholder(res["Properties"]["Environment"]["Variables"]).items()}


def test_the_five_contract_handlers_exist(functions):
    assert set(functions) == HANDLERS
    for name, (_, res) in functions.items():
        assert res["Properties"]["Handler"] == f"declick_pipeline.handlers.{name}.handler"


def test_runtime_architecture_tracing_layer_and_logs(template, functions, synthesized):
    (layer_id, layer) = only(template, "AWS::Lambda::LayerVersion")
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]
    retention = synthesized.stack.config.log_retention_days
    for name, (_, res) in functions.items():
        props = res["Properties"]
        assert props["Runtime"] == "python3.12", name
        assert props["Architectures"] == ["x86_64"], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert props["Layers"] == [{"Ref": layer_id}], name
        log_group = template["Resources"][props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["RetentionInDays"] == retention, name


def test_sizing_fits_50_mb_inputs_and_200_mb_results(functions, synthesized):
    config = synthesized.stack.config
    submit = functions["submit_task"][1]["Properties"]
    deliver = functions["deliver_result"][1]["Properties"]
    # submit streams the upload to /tmp; deliver may spool the result.
    assert submit["EphemeralStorage"]["Size"] * 1024 * 1024 >= 2 * config.max_input_bytes
    assert deliver["EphemeralStorage"]["Size"] * 1024 * 1024 >= config.download_max_bytes
    assert submit["MemorySize"] >= 1024 and deliver["MemorySize"] >= 1024
    assert deliver["Timeout"] > config.download_timeout_seconds
    poll = functions["poll_task"][1]["Properties"]
    assert poll["Timeout"] >= (config.api_connect_timeout_seconds + config.api_read_timeout_seconds) * (
        config.api_max_retries + 1
    )
    for _, res in functions.values():
        assert res["Properties"]["Timeout"] <= 900


def test_environment_matches_the_architecture_contract(functions):
    documented = set(re.findall(r"^\| `([A-Z_]+)`", ARCHITECTURE.read_text(), flags=re.MULTILINE))
    documented |= {
        name
        for row in re.findall(r"^\| (`[A-Z_]+`(?: / `[A-Z_]+`)+)", ARCHITECTURE.read_text(), flags=re.MULTILINE)
        for name in re.findall(r"`([A-Z_]+)`", row)
    }
    documented |= {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
    for name, (_, res) in functions.items():
        env = _environment(res)
        # IDEMPOTENCY_TTL_SECONDS is a handler setting (settings.py) kept equal to the table TTL policy.
        unknown = set(env) - documented - {"IDEMPOTENCY_TTL_SECONDS"}
        assert not unknown, (name, unknown)
        assert "DOWNLOAD_ALLOWED_HOSTS" not in env  # local runs only
        assert ("STATE_MACHINE_ARN" in env) == (name == "submit_task")
        assert ("SIGNING_SECRET_ARN" in env) == (name == "submit_task")
        assert env["POWERTOOLS_SERVICE_NAME"] == "declick"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Declick"


def test_handler_settings_accept_the_synthesized_environment(functions):
    """The stack's values pass the handlers' own parser (functions/declick_pipeline/settings.py)."""
    for name, (_, res) in functions.items():
        env = _environment(res)
        settings = load_settings(env)
        settings.require(*REQUIRED[name])
        assert settings.default_output_format == "mp3"
        assert settings.default_priority == 5
        assert settings.default_detection_mult == 8.0
        assert (settings.wait_min_seconds, settings.wait_default_seconds, settings.wait_max_seconds) == (5, 15, 300)
        assert settings.max_input_bytes == 52_428_800


def test_functions_agree_on_shared_variables(functions):
    """One value per variable across functions (the local emulator shares one process environment)."""
    seen: dict[str, str] = {}
    for _, res in functions.values():
        for key, value in _environment(res).items():
            assert seen.setdefault(key, value) == value, key


def test_credentials_are_referenced_never_embedded(template, functions):
    secret = logical_id_with_prefix(template, "AWS::SecretsManager::Secret", "NotificationsApiCredentials")
    for _, res in functions.values():
        env = _environment(res)
        assert env["API_SECRET_ARN"] == f"{ARN_PREFIX}{secret}"
        assert not any("appsecret" in value.lower() or "appkey" in key.lower() for key, value in env.items())


def test_sqs_event_sources(template, functions):
    mappings = {
        placeholder(res["Properties"]["FunctionName"]): res["Properties"]
        for res in resources(template, "AWS::Lambda::EventSourceMapping").values()
    }
    submit = mappings[f"{ARN_PREFIX}{functions['submit_task'][0]}"]
    queue = logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitQueue")
    assert placeholder(submit["EventSourceArn"]) == f"{ARN_PREFIX}{queue}.Arn"
    assert submit["BatchSize"] == 5
    assert submit["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert submit["ScalingConfig"] == {"MaximumConcurrency": 10}
    dead = mappings[f"{ARN_PREFIX}{functions['report_dead_letter'][0]}"]
    dlq = logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitDeadLetterQueue")
    assert placeholder(dead["EventSourceArn"]) == f"{ARN_PREFIX}{dlq}.Arn"
    assert dead["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert len(mappings) == 2


def test_alarms_reach_the_ops_topic(template, functions):
    ops = logical_id_with_prefix(template, "AWS::SNS::Topic", "NotificationsOpsTopic")
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    watched = set()
    for alarm in alarms:
        props = placeholder(alarm["Properties"])
        assert props["AlarmActions"] == [f"{ARN_PREFIX}{ops}"]
        assert props["TreatMissingData"] == "notBreaching"
        dimensions = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        watched.add((props["Namespace"], props["MetricName"], next(iter(dimensions.values()), None)))
    machine = f"{ARN_PREFIX}{only(template, 'AWS::StepFunctions::StateMachine')[0]}"
    dlq = logical_id_with_prefix(template, "AWS::SQS::Queue", "StorageSubmitDeadLetterQueue")
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
        assert ("AWS/States", metric, machine) in watched
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", f"{ARN_PREFIX}{dlq}.QueueName") in watched
    for lid, _ in functions.values():
        assert ("AWS/Lambda", "Errors", f"{ARN_PREFIX}{lid}") in watched
        assert ("AWS/Lambda", "Throttles", f"{ARN_PREFIX}{lid}") in watched
