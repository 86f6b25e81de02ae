"""cdk-nag (v3) acknowledgements, always with a reason.

cdk-nag 3 runs as a CDK policy-validation plugin; a finding is acknowledged on the construct that
causes it (and so on its children) with ``Validations.of(construct).acknowledge``. Granular IAM
findings use the ``RuleId[FindingId]`` form, e.g. ``AwsSolutions-IAM5[Resource::<Bucket.Arn>/*]``,
so that an acknowledged wildcard never hides a new, different one.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str, findings: list[str] | None = None) -> None:
    """Acknowledge ``rule_id`` (or only the listed granular findings of it) on ``construct``."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule_id} needs a written reason")
    ids = [f"{rule_id}[{finding}]" for finding in findings] if findings else [rule_id]
    Validations.of(construct).acknowledge(*(Acknowledgment(id=item, reason=reason) for item in ids))
