"""End-to-end fixtures: the CDK app synthesized once, then deployed on the emulator per test module.

Every pipeline fixture checks, when the module is done, that each upload got exactly one
notification and that nothing was left in the dead-letter queue.
"""

from __future__ import annotations

import pytest

from declick.local.fake_vendor import FakeVendor
from declick.local.runner import LocalPipeline, synthesized_template
from tests.e2e.helpers import assert_every_upload_notified_once


@pytest.fixture(scope="session")
def template():
    return synthesized_template()


@pytest.fixture(scope="module")
def vendor():
    with FakeVendor() as fake:
        yield fake


@pytest.fixture(scope="module")
def vendor_pipeline(template, vendor, request):
    """The stack talking to the scripted fake vendor. A module may set `PIPELINE_ENV` (handler env)."""
    env = dict(getattr(request.module, "PIPELINE_ENV", {}))
    with LocalPipeline(
        template=template, api_url=vendor.url, appkey=vendor.appkey, appsecret=vendor.appsecret, env=env
    ) as pipeline:
        yield pipeline
        assert_every_upload_notified_once(pipeline)


@pytest.fixture(scope="module")
def service_pipeline(template):
    """The stack talking to our own service (`declick engine serve`), as `make demo` runs it."""
    with LocalPipeline(template=template) as pipeline:
        yield pipeline
        assert_every_upload_notified_once(pipeline)
