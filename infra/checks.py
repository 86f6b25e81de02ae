"""Compliance checks attached to the app: cdk-nag's AWS Solutions pack (v3, policy-validation plugin).

With cdk-nag 3 a finding that is not acknowledged (see ``infra.nag.acknowledge``) makes synthesis
fail, so ``python app.py`` / ``cdk synth`` is the gate; acknowledged findings are written into the
template metadata (``cdk_nag.rules_to_suppress``) as an audit trail.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks


def add_nag_checks(app: cdk.App) -> None:
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )
