"""The stack with `-c declick:backend=engine`, checked on its synthesized template (nag included).

moto enforces none of IAM, throttling, encryption or alarm actions, so these are asserted here;
docs/operations.md says how ops confirm them on a deployed stack.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from infra.config import ConfigError, load_config
from infra.engine_backend import (
    MEASURED_SECONDS_PER_AUDIO_SECOND,
    PLANNED_SECONDS_PER_AUDIO_SECOND,
    WORKER_TIMEOUT_SECONDS,
    worker_limits,
)
from infra.stack import SKIP_BUNDLING, build_app
from tests.infra.conftest import TEST_CONTEXT
from tests.infra.template_tools import ARN_PREFIX, as_list, placeholder, resources, role_statements
from tests.infra.test_compliance import CFN_LINT_IGNORED, _cfn_lint

ENGINE_CONTEXT = {**TEST_CONTEXT, "declick:backend": "engine"}
BAND_CONCURRENCY = {"high": 20, "normal": 10, "low": 5}


@pytest.fixture(scope="module")
def synthesized_engine(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("cdk.out.engine")
    # With cdk-nag 3 an unacknowledged finding makes synth raise: passing this fixture is the nag gate.
    app, stack = build_app({**SKIP_BUNDLING, **ENGINE_CONTEXT}, outdir=str(outdir), nag=True)
    artifact = app.synth().get_stack_by_name(stack.stack_name)
    path = Path(artifact.template_full_path)
    return json.loads(path.read_text()), path, list(artifact.messages)


@pytest.fixture(scope="module")
def template(synthesized_engine):
    return synthesized_engine[0]


def _function(template, handler: str) -> tuple[str, dict]:
    (found,) = [
        (lid, res)
        for lid, res in resources(template, "AWS::Lambda::Function").items()
        if res["Properties"].get("Handler") == handler
    ]
    return found


def _env(res: dict) -> dict:
    return placeholder(res["Properties"]["Environment"]["Variables"])


def _ref_id(value: str) -> str:
    return value.removeprefix(ARN_PREFIX).split(".")[0]


API = "declick_engine_backend.handlers.api.handler"
WORKER = "declick_engine_backend.handlers.work.handler"


def test_nag_clean_with_explained_acknowledgements_and_no_warnings(synthesized_engine, template):
    _, _, messages = synthesized_engine
    assert not [m for m in messages if m.level.name in ("ERROR", "WARNING")]
    for lid, res in resources(template, "AWS::ApiGatewayV2::Route").items():
        rules = res["Metadata"]["cdk_nag"]["rules_to_suppress"]
        assert [r["id"] for r in rules] == ["AwsSolutions-APIG4"], lid
        assert "constant time" in rules[0]["reason"]


def test_cfn_lint_is_clean(synthesized_engine):
    _, path, _ = synthesized_engine
    result = subprocess.run(
        [*_cfn_lint(), "--ignore-checks", *CFN_LINT_IGNORED, "--", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pipeline_calls_the_backend_with_the_generated_shared_secret(template):
    (api_id,) = resources(template, "AWS::ApiGatewayV2::Api")
    (secret_id, secret) = next(iter(resources(template, "AWS::SecretsManager::Secret").items()))
    generated = secret["Properties"]["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {"appkey": "declick-pipeline"}
    assert generated["GenerateStringKey"] == "appsecret" and generated["PasswordLength"] >= 32
    pipeline = [
        res
        for res in resources(template, "AWS::Lambda::Function").values()
        if res["Properties"].get("Handler", "").startswith("declick_pipeline.handlers.")
    ]
    assert len(pipeline) == 5
    for res in pipeline:
        url = _env(res)["API_BASE_URL"]
        assert url == f"{ARN_PREFIX}{api_id}.ApiEndpoint", url  # GetAtt ApiEndpoint: https://{id}.execute-api...
        assert _ref_id(_env(res)["API_SECRET_ARN"]) == secret_id
    assert _ref_id(_env(_function(template, API)[1])["ENGINE_CREDENTIALS_SECRET_ARN"]) == secret_id
    assert "vendor.example" not in json.dumps(template)  # the placeholder vendor URL is nowhere


def test_api_routes_stage_throttling_and_access_logs(template):
    routes = sorted(res["Properties"]["RouteKey"] for res in resources(template, "AWS::ApiGatewayV2::Route").values())
    assert routes == ["GET /v3/pic/ecr/result/{task_id}", "POST /v3/pic/ecr/batch"]
    ((_, stage),) = resources(template, "AWS::ApiGatewayV2::Stage").items()
    props = stage["Properties"]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50
    assert props["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100
    assert "$context.requestId" in props["AccessLogSettings"]["Format"]
    ((_, integration),) = resources(template, "AWS::ApiGatewayV2::Integration").items()
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"


def test_tasks_results_and_queues_are_encrypted_and_private(template):
    tables = [r for lid, r in resources(template, "AWS::DynamoDB::Table").items() if lid.startswith("EngineBackend")]
    (table,) = tables
    props = table["Properties"]
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    (bucket,) = [r for lid, r in resources(template, "AWS::S3::Bucket").items() if lid.startswith("EngineBackend")]
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "engine-results/"
    queues = {lid: r for lid, r in resources(template, "AWS::SQS::Queue").items() if lid.startswith("EngineBackend")}
    assert len(queues) == 4
    for res in queues.values():
        assert res["Properties"]["SqsManagedSseEnabled"] is True
    policies = [
        placeholder(r["Properties"]["PolicyDocument"]) for r in resources(template, "AWS::SQS::QueuePolicy").values()
    ]
    for lid in queues:
        assert any(
            s["Effect"] == "Deny"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            and any(lid in str(q) for q in as_list(s["Resource"]))
            for p in policies
            for s in p["Statement"]
        ), f"{lid} is not TLS-only"


def test_priority_bands_each_have_a_queue_and_their_own_worker_concurrency(template):
    worker_id, worker = _function(template, WORKER)
    env = _env(worker)
    mappings = [
        placeholder(r["Properties"])
        for r in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if _ref_id(placeholder(r["Properties"]["FunctionName"])) == worker_id
    ]
    by_queue = {_ref_id(m["EventSourceArn"]): m for m in mappings}
    assert len(by_queue) == 3
    for band, concurrency in BAND_CONCURRENCY.items():
        queue_id = _ref_id(env[f"ENGINE_QUEUE_{band.upper()}_URL"])
        mapping = by_queue[queue_id]
        assert mapping["BatchSize"] == 1 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert (
            mapping["ScalingConfig"]["MaximumConcurrency"] == concurrency == int(env[f"ENGINE_WORKERS_{band.upper()}"])
        )
        queue = template["Resources"][queue_id]["Properties"]
        assert queue["VisibilityTimeout"] == 6 * WORKER_TIMEOUT_SECONDS
        assert queue["RedrivePolicy"]["maxReceiveCount"] == 3


def test_worker_sized_from_the_measured_engine_speed(template):
    _, worker = _function(template, WORKER)
    props = worker["Properties"]
    limits = worker_limits(load_config(ENGINE_CONTEXT | {"declick:apiBaseUrl": None}))
    assert props["Timeout"] == WORKER_TIMEOUT_SECONDS and props["MemorySize"] == 2048
    assert props["EphemeralStorage"]["Size"] == limits.ephemeral_mb
    assert int(_env(worker)["ENGINE_MAX_AUDIO_SECONDS"]) == limits.max_audio_seconds
    # The longest accepted audio, at half the measured speed, leaves the download its whole limit.
    assert limits.max_audio_seconds * PLANNED_SECONDS_PER_AUDIO_SECOND + 120 + 120 <= WORKER_TIMEOUT_SECONDS
    assert PLANNED_SECONDS_PER_AUDIO_SECOND >= 2 * MEASURED_SECONDS_PER_AUDIO_SECOND
    assert limits.max_audio_seconds >= 3600  # an hour of stereo MP3 output fits, with the margin
    # Two layers: the API runs without the engine's numpy/scipy; the worker has them.
    _, api = _function(template, API)
    assert len(props["Layers"]) == 1 and len(api["Properties"]["Layers"]) == 1
    assert props["Layers"] != api["Properties"]["Layers"]


def _actions(statements) -> set[str]:
    return {action for s in statements if s["Effect"] == "Allow" for action in as_list(s["Action"])}


def test_least_privilege_roles(template):
    api_id, api = _function(template, API)
    worker_id, worker = _function(template, WORKER)
    api_actions = _actions(role_statements(template, _ref_id(placeholder(api["Properties"]["Role"]))))
    worker_actions = _actions(role_statements(template, _ref_id(placeholder(worker["Properties"]["Role"]))))
    for actions in (api_actions, worker_actions):
        assert not [a for a in actions if a == "*" or a.endswith(":*")], actions
        assert not {"dynamodb:Scan", "dynamodb:Query", "dynamodb:DeleteItem"} & actions
    assert "sqs:SendMessage" in api_actions and "secretsmanager:GetSecretValue" in api_actions
    assert "s3:PutObject" not in api_actions
    assert not {a for a in worker_actions if a.startswith("secretsmanager:")}
    assert "sqs:SendMessage" not in worker_actions and "s3:PutObject" in worker_actions


def test_alarms_on_the_ops_topic(template):
    ops = [lid for lid in resources(template, "AWS::SNS::Topic") if "Ops" in lid]
    (ops_id,) = ops
    alarms = {lid: placeholder(r["Properties"]) for lid, r in resources(template, "AWS::CloudWatch::Alarm").items()}
    engine = {lid: a for lid, a in alarms.items() if lid.startswith("EngineBackend")}
    names = {a["MetricName"] for a in engine.values()}
    assert {"Errors", "ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"} <= names
    assert len([lid for lid in engine if "StuckTasks" in lid]) == 3
    assert any("WorkerErrors" in lid for lid in engine) and any("WorkDeadLetters" in lid for lid in engine)
    for alarm in engine.values():
        assert [_ref_id(a) for a in alarm["AlarmActions"]] == [ops_id]


def test_the_vendor_backend_deploys_no_engine(tmp_path):
    from infra.stack import synth_template

    template = synth_template()
    assert not resources(template, "AWS::ApiGatewayV2::Api")
    assert not [h for h in json.dumps(template).split('"') if h.startswith("declick_engine_backend")]


def test_backend_switch_validation():
    assert load_config({"declick:backend": "engine"}).api_base_url is None
    with pytest.raises(ConfigError, match="context key declick:apiBaseUrl: is required with declick:backend=vendor"):
        load_config({})
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:vendor-AbCdEf"
    with pytest.raises(ConfigError, match="generates and shares its own"):
        load_config({"declick:backend": "engine", "declick:apiSecretArn": arn})
    with pytest.raises(ConfigError, match="declick:backend"):
        load_config({"declick:backend": "vendor-x", "declick:apiBaseUrl": "https://api.example.com"})


def test_a_longer_download_limit_leaves_less_audio():
    default = worker_limits(load_config({"declick:backend": "engine"})).max_audio_seconds
    slower = worker_limits(
        load_config({"declick:backend": "engine", "declick:downloadTimeoutSeconds": 600})
    ).max_audio_seconds
    assert slower < default
    assert slower * PLANNED_SECONDS_PER_AUDIO_SECOND <= WORKER_TIMEOUT_SECONDS - 600 - 120
