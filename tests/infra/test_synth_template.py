"""`infra.stack.synth_template`, the in-process synthesis the local runner and e2e tests use."""

from __future__ import annotations

from infra.stack import synth_template
from tests.infra.template_tools import functions_by_handler, resources, role_statements

EXISTING = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:declick/vendor-AbC123"


def test_existing_secret_by_arn_and_context_overrides():
    template = synth_template(
        {
            "declick:apiSecretArn": EXISTING,
            "declick:apiBaseUrl": "https://other.vendor.example/",
            "declick:waitMaxSeconds": 60,
            "declick:stateMachineLogLevel": "ERROR",
        }
    )
    # The operator's API secret is used; the stack's only secret is the file_link signing key.
    (only_secret,) = resources(template, "AWS::SecretsManager::Secret")
    assert only_secret.startswith("PipelineLinkSignerCredentials")
    functions = functions_by_handler(template)
    for _, res in functions.values():
        env = res["Properties"]["Environment"]["Variables"]
        assert env["API_SECRET_ARN"] == EXISTING
        assert env["API_BASE_URL"] == "https://other.vendor.example"
        assert env["WAIT_MAX_SECONDS"] == "60"
    poll_role = functions["poll_task"][1]["Properties"]["Role"]["Fn::GetAtt"][0]
    secret_statements = [
        s for s in role_statements(template, poll_role) if "secretsmanager:GetSecretValue" in s["Action"]
    ]
    assert [s["Resource"] for s in secret_statements] == [EXISTING]
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))
    assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ERROR"
    # No e-mail list in cdk.json: no subscriptions.
    assert not resources(template, "AWS::SNS::Subscription")
    # The layer was not bundled: its asset is staged from source (requirements.txt only).
    assert len(resources(template, "AWS::Lambda::LayerVersion")) == 1
