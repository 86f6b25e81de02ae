"""Template reading: intrinsic functions, and refusing what cannot be emulated faithfully."""

from __future__ import annotations

import pytest

from declick.local.emulator import EmulatedAws
from declick.local.template import Resolver, Template, TemplateError
from tests.unit.local.toy_template import PACKAGE, toy_template


def test_conflicting_function_environments_are_refused():
    template = toy_template()
    template["Resources"]["StepFn"]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] = "other"
    with pytest.raises(TemplateError, match="disagree on POWERTOOLS_SERVICE_NAME"):
        EmulatedAws(template, handler_packages=(PACKAGE,)).start()


def test_resolver_handles_sub_select_split_and_refuses_conditions():
    template = Template.from_dict({"Resources": {"A": {"Type": "X", "Properties": {}}}})
    resolver = Resolver(template, ref=lambda lid: f"ref-{lid}", get_att=lambda lid, attr: f"{lid}.{attr}")
    assert (
        resolver.resolve({"Fn::Sub": "${A}/${A.Arn}/${AWS::Region}/${!Literal}"}) == "ref-A/A.Arn/us-east-1/${Literal}"
    )
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y"]}]}) == "y"
    assert resolver.resolve({"Fn::Sub": ["${v}!", {"v": {"Ref": "A"}}]}) == "ref-A!"
    with pytest.raises(TemplateError):
        resolver.resolve({"Fn::If": ["C", 1, 2]})
    with pytest.raises(TemplateError):
        resolver.resolve({"Ref": "Missing"})
