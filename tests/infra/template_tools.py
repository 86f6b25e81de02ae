"""Reading a synthesized CloudFormation template the way the tests need it.

CDK intrinsics are replaced by readable placeholders (``arn:placeholder:<LogicalId>``) so that
the state machine definition and the Lambda environments become plain JSON and strings.
"""

from __future__ import annotations

import json
from typing import Any

ARN_PREFIX = "arn:placeholder:"


def placeholder(node: Any) -> Any:
    """Resolve Ref / Fn::GetAtt / Fn::Join / Fn::Select / Fn::Split into placeholder strings."""
    if isinstance(node, list):
        return [placeholder(item) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return f"{ARN_PREFIX}{node['Ref']}"
    if set(node) == {"Fn::GetAtt"}:
        logical_id, attribute = node["Fn::GetAtt"]
        return f"{ARN_PREFIX}{logical_id}.{attribute}"
    if set(node) == {"Fn::Join"}:
        separator, parts = node["Fn::Join"]
        return separator.join(str(placeholder(part)) for part in parts)
    if set(node) == {"Fn::Select"}:
        index, items = node["Fn::Select"]
        resolved = placeholder(items)
        return resolved[int(index)] if int(index) < len(resolved) else f"{ARN_PREFIX}select-{index}"
    if set(node) == {"Fn::Split"}:
        separator, text = node["Fn::Split"]
        return str(placeholder(text)).split(separator)
    return {key: placeholder(value) for key, value in node.items()}


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template["Resources"].items() if res["Type"] == resource_type}


def only(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def state_machine_definition(template: dict[str, Any]) -> dict[str, Any]:
    _, machine = only(template, "AWS::StepFunctions::StateMachine")
    return json.loads(placeholder(machine["Properties"]["DefinitionString"]))


def functions_by_handler(template: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Our Lambdas keyed by handler module (``submit_task``...), with their logical ids."""
    found = {}
    for lid, res in resources(template, "AWS::Lambda::Function").items():
        handler = res["Properties"].get("Handler", "")
        if handler.startswith("declick_pipeline.handlers."):
            found[handler.split(".")[2]] = (lid, res)
    return found


def logical_id_with_prefix(template: dict[str, Any], resource_type: str, prefix: str) -> str:
    matches = [lid for lid in resources(template, resource_type) if lid.startswith(prefix)]
    assert len(matches) == 1, f"{resource_type} {prefix}*: {matches}"
    return matches[0]


def role_statements(template: dict[str, Any], role_logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to a role, intrinsics as placeholders."""
    statements = []
    for res in resources(template, "AWS::IAM::Policy").values():
        roles = res["Properties"].get("Roles", [])
        if {"Ref": role_logical_id} in roles:
            statements += placeholder(res["Properties"]["PolicyDocument"]["Statement"])
    role = template["Resources"][role_logical_id]["Properties"]
    for policy in role.get("Policies", []):
        statements += placeholder(policy["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
