"""One synthesis of the real app (with cdk-nag) for the whole infra suite: CDK synth takes ~10-20 s."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import pytest

from infra.stack import PLACEHOLDER_ALLOWED, SKIP_BUNDLING, DeclickStack, build_app

# Subscriptions are optional; give some so that their resources are synthesized and checked too.
TEST_CONTEXT = {
    "declick:notificationEmails": ["listener@example.com"],
    "declick:opsEmails": ["ops-one@example.com", "ops-two@example.com"],
}


@dataclass(frozen=True)
class Synthesized:
    stack: DeclickStack
    template: dict[str, Any]
    template_path: Path
    outdir: Path
    messages: list[Any]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app({**SKIP_BUNDLING, **PLACEHOLDER_ALLOWED, **TEST_CONTEXT}, outdir=str(outdir), nag=True)
    # With cdk-nag 3 an unacknowledged finding makes this raise ("ValidationFailed").
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    template_path = Path(artifact.template_full_path)
    return Synthesized(
        stack=stack,
        template=json.loads(template_path.read_text()),
        template_path=template_path,
        outdir=outdir,
        messages=list(artifact.messages),
    )


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.template
