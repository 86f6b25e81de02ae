"""Read a synthesized CloudFormation template well enough to stand its resources up on moto.

We deploy the template ourselves instead of through moto's CloudFormation because we need to
change a few things on the way (function code runs in process, queues get short local timeouts)
and because moto's CloudFormation does not cover every resource type CDK emits. What matters
is that the *values* the handlers and the state machine see (environment variables, the ASL
definition, queue and notification wiring) come from the template exactly as synthesized, with
only the references resolved — so this module resolves the intrinsic functions CDK uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"


class TemplateError(ValueError):
    """The template uses something the local emulation cannot reproduce faithfully."""


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    properties: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()


@dataclass
class Template:
    resources: dict[str, Resource]
    parameters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Template:
        resources = {}
        for logical_id, body in (document.get("Resources") or {}).items():
            depends = body.get("DependsOn") or ()
            if isinstance(depends, str):
                depends = (depends,)
            resources[logical_id] = Resource(
                logical_id=logical_id,
                type=body["Type"],
                properties=body.get("Properties") or {},
                depends_on=tuple(depends),
            )
        parameters = {name: spec.get("Default") for name, spec in (document.get("Parameters") or {}).items()}
        return cls(resources=resources, parameters=parameters)

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type in types]


RefFn = Callable[[str], Any]
GetAttFn = Callable[[str, str], Any]

_PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "DeclickLocal",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/DeclickLocal/local",
    "AWS::NoValue": None,
}

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Evaluates `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split`.

    `ref` and `get_att` are supplied by the deployer, which knows the physical names it chose.
    Anything else (conditions, imports) is refused loudly rather than guessed.
    """

    def __init__(self, template: Template, ref: RefFn, get_att: GetAttFn):
        self._template = template
        self._ref = ref
        self._get_att = get_att

    def ref(self, name: str) -> Any:
        if name in _PSEUDO:
            return _PSEUDO[name]
        if name in self._template.parameters:
            return self._template.parameters[name]
        if name not in self._template.resources:
            raise TemplateError(f"Ref to unknown resource {name!r}")
        return self._ref(name)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attr = arg.split(".", 1) if isinstance(arg, str) else arg
                if logical_id not in self._template.resources:
                    raise TemplateError(f"Fn::GetAtt on unknown resource {logical_id!r}")
                return self._get_att(logical_id, self.resolve(attr))
            if key == "Fn::Join":
                sep, items = arg
                return str(sep).join(str(self.resolve(item)) for item in self.resolve(items))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
            if key.startswith("Fn::") or key == "Condition":
                raise TemplateError(f"intrinsic {key} is not supported by the local emulation")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        else:
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] in self._template.resources:
                logical_id, attr = name.split(".", 1)
                return str(self._get_att(logical_id, attr))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")


def state_machine_definition(resolver: Resolver, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The ASL document of an `AWS::StepFunctions::StateMachine`, references resolved."""
    if "DefinitionString" in properties:
        text = resolver.resolve(properties["DefinitionString"])
    elif "Definition" in properties:
        text = json.dumps(resolver.resolve(properties["Definition"]))
    else:
        raise TemplateError("state machine without DefinitionString or Definition")
    substitutions = resolver.resolve(properties.get("DefinitionSubstitutions") or {})
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", str(value))
    return json.loads(text)
