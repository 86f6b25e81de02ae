"""cdk-nag (AWS Solutions) and cfn-lint on the synthesized template."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from infra.checks import add_nag_checks
from infra.nag import acknowledge

# cfn-lint W3005 ("dependency already enforced by a GetAtt/Ref") only flags the DependsOn that
# CDK itself adds between a function and its role policy / a bucket notification and its queue;
# they are harmless and not ours to remove.
CFN_LINT_IGNORED = ["W3005"]


def test_cdk_nag_has_no_unacknowledged_findings(synthesized):
    """The session fixture's synth would have raised on any finding; the report confirms it."""
    report = synthesized.outdir / "validation-report.json"
    if report.exists():
        plugins = json.loads(report.read_text())["pluginReports"]
        assert [p["conclusion"] for p in plugins if p["pluginName"] == "AwsSolutions"] in ([], ["success"])
        assert not [v for p in plugins for v in p.get("violations", [])]


def test_no_synthesis_errors_or_warnings(synthesized):
    levels = [(m.level.name, m.entry.data) for m in synthesized.messages]
    assert not [entry for entry in levels if entry[0] in ("ERROR", "WARNING")], levels


def test_every_acknowledgement_has_a_reason_and_is_granular_for_iam5(template):
    acknowledged = [
        rule
        for res in template["Resources"].values()
        for rule in res.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]
    assert acknowledged, "acknowledgements are written to the template for audit"
    for rule in acknowledged:
        assert rule["id"].startswith("AwsSolutions-")
        assert len(rule["reason"].split()) >= 8, rule
        if rule["id"].startswith(("AwsSolutions-IAM5", "AwsSolutions-IAM4")):
            assert "[" in rule["id"], f"blanket IAM acknowledgement: {rule}"
    ids = {rule["id"].split("[")[0] for rule in acknowledged}
    assert ids == {
        "AwsSolutions-S1",
        "AwsSolutions-SQS3",
        "AwsSolutions-SMG4",
        "AwsSolutions-L1",
        "AwsSolutions-IAM4",
        "AwsSolutions-IAM5",
    }


def test_cdk_nag_gate_fails_on_an_unacknowledged_finding(tmp_path):
    """The same checks refuse a plain bucket, so a passing synth above means something."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bare")
    s3.Bucket(stack, "Plain")
    add_nag_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_acknowledging_without_a_reason_is_refused():
    stack = cdk.Stack(cdk.App(), "Tiny")
    with pytest.raises(ValueError, match="reason"):
        acknowledge(stack, "AwsSolutions-S1", "  ")


def _cfn_lint() -> list[str]:
    beside_python = Path(sys.executable).with_name("cfn-lint")
    found = str(beside_python) if beside_python.exists() else shutil.which("cfn-lint")
    assert found, "cfn-lint is pinned in requirements-dev.txt"
    return [found]


def test_cfn_lint_is_clean(synthesized):
    command = [*_cfn_lint(), "--ignore-checks", *CFN_LINT_IGNORED, "--", str(synthesized.template_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_catches_a_broken_template(synthesized, tmp_path):
    broken = json.loads(synthesized.template_path.read_text())
    queue = next(res for res in broken["Resources"].values() if res["Type"] == "AWS::SQS::Queue")
    queue["Properties"]["VisibilityTimeout"] = 1
    path = tmp_path / "broken.template.json"
    path.write_text(json.dumps(broken))
    result = subprocess.run(
        [*_cfn_lint(), "--ignore-checks", *CFN_LINT_IGNORED, "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode != 0
    assert "E3505" in result.stdout


def test_synthesis_messages_do_surface_warnings(tmp_path):
    """The messages checked above are where CDK puts warnings, so an empty list means none."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Warned")
    cdk.Annotations.of(stack).add_warning_v2("test:warning", "a warning")
    artifact = app.synth().get_stack_by_name("Warned")
    assert [m.level.name for m in artifact.messages] == ["WARNING"]
