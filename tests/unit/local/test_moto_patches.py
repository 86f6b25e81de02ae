"""The emulator's hold on moto's private APIs: these tests fail first when a moto upgrade moves them."""

from __future__ import annotations

import inspect

import moto
import pytest

from declick.local.emulator import UnsupportedMotoError
from declick.local.emulator.moto_patches import (
    SUPPORTED,
    _complete_s3_event,
    check_moto,
    check_version,
    patched_functions,
)
from declick.local.emulator.sandbox import ProcessSandbox


def test_the_installed_moto_is_one_the_patches_were_written_for():
    check_moto()


@pytest.mark.parametrize("version", ["5.1.9", "5.3.0", "6.0.0", "4.2.14"])
def test_another_moto_is_refused_with_what_to_do(version):
    with pytest.raises(UnsupportedMotoError, match=rf"moto {version} is installed.*requirements\.txt"):
        check_version(version)


def test_the_supported_range_holds_the_pinned_version():
    low, high = SUPPORTED
    pinned = next(
        line.split("==")[1].strip()
        for line in open("requirements.txt", encoding="utf-8")
        if line.startswith("moto[") or line.startswith("moto==")
    )
    check_version(pinned)
    assert pinned == moto.__version__, "the installed moto is not the pinned one: run `make venv`"
    assert low < high


@pytest.mark.parametrize("name", sorted(patched_functions()))
def test_each_wrapped_private_function_keeps_the_signature_the_wrapper_calls(name):
    function, expected = patched_functions()[name]
    assert tuple(inspect.signature(function).parameters) == expected, name


def test_the_config_switches_the_emulator_sets_are_still_moto_settings():
    from moto.core.config import default_user_config

    assert "use_docker" in default_user_config["lambda"]
    assert "execute_state_machine" in default_user_config["stepfunctions"]


def test_configure_is_undone_by_the_sandbox():
    from moto.core.config import default_user_config

    from declick.local.emulator.moto_patches import configure

    before = {k: dict(v) for k, v in default_user_config.items()}
    sandbox = ProcessSandbox(())
    configure(sandbox)
    assert default_user_config["stepfunctions"]["execute_state_machine"] is True
    assert default_user_config["lambda"]["use_docker"] is False
    sandbox.restore()
    assert default_user_config == before


def test_the_reset_entry_point_still_exists():
    from moto.moto_api._internal.models import moto_api_backend

    assert callable(moto_api_backend.reset)


def test_the_s3_event_gains_version_and_sequencer_from_moto_s3_objects():
    from moto.s3 import notifications
    from moto.s3.models import FakeBucket, FakeKey

    bucket = FakeBucket("in", account_id="123456789012", region_name="us-east-1")
    key = FakeKey("a.wav", b"x", "123456789012", "us-east-1", is_versioned=True, version_id="v1")
    event = _complete_s3_event(notifications._get_s3_event)("ObjectCreated:Put", bucket, key, "n1")
    obj = event["Records"][0]["s3"]["object"]
    assert obj["versionId"] == "v1" and obj["key"] == "a.wav"
    assert int(obj["sequencer"], 16) > 0

    unversioned = FakeKey("b.wav", b"x", "123456789012", "us-east-1")
    event = _complete_s3_event(notifications._get_s3_event)("ObjectCreated:Put", bucket, unversioned, "n1")
    assert "versionId" not in event["Records"][0]["s3"]["object"]
