"""Stack configuration from CDK context: defaults, validation errors naming the key."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, StackConfig, load_config
from infra.stack import PLACEHOLDER_ALLOWED, SKIP_BUNDLING, build_app, default_context

BASE = {"declick:apiBaseUrl": "https://api.vendor.test"}


def test_cdk_json_context_gives_the_documented_defaults():
    config = load_config({**default_context(), **PLACEHOLDER_ALLOWED})
    assert config.api_base_url == "https://api.vendor.example"
    assert config.api_secret_arn is None
    assert (config.default_detection_mult, config.default_click_len) == (8.0, 10)
    assert (config.default_output_format, config.default_priority) == ("mp3", 5)
    assert config.max_input_bytes == 50 * 1024 * 1024
    assert (config.wait_min_seconds, config.wait_max_seconds, config.wait_default_seconds) == (5, 300, 15)
    assert (config.max_polls, config.max_processing_seconds) == (720, 43_200)
    assert config.vendor_outage_tolerance_seconds == 7_200
    assert (config.download_max_bytes, config.download_timeout_seconds) == (209_715_200, 120)
    assert config.presign_expiry_seconds == 43_200
    assert (config.stage, config.stack_name) == ("dev", "Declick-dev")
    assert (config.vendor_max_concurrency, config.submit_max_concurrency, config.poll_reserved_concurrency) == (
        40,
        10,
        30,
    )
    # cdk.json repeats the model defaults; a drift between the two would be confusing.
    assert config == StackConfig(api_base_url="https://api.vendor.example", allow_placeholder_api_url=True)


def test_the_placeholder_api_url_is_refused_unless_opted_in():
    with pytest.raises(ConfigError, match="placeholder https://api.vendor.example") as caught:
        load_config(default_context())
    assert "declick:allowPlaceholderApiUrl=true" in str(caught.value)
    with pytest.raises(ConfigError, match="placeholder"):
        build_app({**SKIP_BUNDLING, "declick:apiBaseUrl": "https://API.vendor.example/"}, nag=False)
    assert load_config({**default_context(), "declick:allowPlaceholderApiUrl": "true"}).allow_placeholder_api_url
    assert load_config({**default_context(), **BASE}).api_base_url == "https://api.vendor.test"


def test_environment_names_follow_the_contract():
    env = load_config(BASE).lambda_environment
    assert env["DEFAULT_DETECTION_MULT"] == "8.0"
    assert env["API_CONNECT_TIMEOUT_SECONDS"] == "3.05"
    assert env["DEFAULT_OUTPUT_FORMAT"] == "mp3"
    assert env["MAX_POLLS"] == "720"
    assert env["VENDOR_OUTAGE_TOLERANCE_SECONDS"] == "7200"
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_camel_case_keys_and_comma_separated_emails():
    config = load_config({**BASE, "declick:opsEmails": "a@example.com, b@example.com", "declick:maxPolls": 100})
    assert config.ops_emails == ("a@example.com", "b@example.com")
    assert config.max_polls == 100


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ({"declick:apiBaseUrl": "http://api.vendor.example"}, "declick:apiBaseUrl", "https://"),
        ({"declick:apiBaseUrl": "https://user:pw@api.vendor.example"}, "declick:apiBaseUrl", "credentials"),
        ({"declick:apiSecretArn": "my-secret"}, "declick:apiSecretArn", "not a Secrets Manager secret ARN"),
        ({"declick:defaultOutputFormat": "flac"}, "declick:defaultOutputFormat", "mp3"),
        ({"declick:defaultPriority": 10}, "declick:defaultPriority", "less than or equal to 9"),
        ({"declick:defaultDetectionMult": 2}, "declick:defaultDetectionMult", "greater than or equal to 6"),
        ({"declick:logRetentionDays": 10}, "declick:logRetentionDays", "retention period"),
        ({"declick:opsEmails": ["not-an-address"]}, "declick:opsEmails", "not e-mail addresses"),
        ({"declick:maxPolls": "many"}, "declick:maxPolls", "integer"),
        ({"declick:maxPoll": 5}, "declick:maxPoll", "unknown setting"),
        ({"declick:vendorOutageToleranceSeconds": -1}, "declick:vendorOutageToleranceSeconds", "greater than or equal"),
    ],
)
def test_invalid_values_name_the_context_key(override, key, fragment):
    with pytest.raises(ConfigError) as caught:
        load_config({**BASE, **override})
    message = str(caught.value)
    assert f"context key {key}:" in message
    assert fragment in message


def test_missing_api_base_url_is_named():
    with pytest.raises(ConfigError, match="context key declick:apiBaseUrl: is required"):
        load_config({})


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"declick:waitMinSeconds": 20}, "declick:waitMinSeconds <= declick:waitDefaultSeconds"),
        ({"declick:waitDefaultSeconds": 400}, "declick:waitDefaultSeconds <= declick:waitMaxSeconds"),
        ({"declick:maxPolls": 5000}, "declick:maxPolls=5000 would exceed the 25,000-event history"),
        ({"declick:stateMachineTimeoutSeconds": 43_200}, "declick:stateMachineTimeoutSeconds=43200 must be at least"),
        # The vendor outage can add one failing poll (all client retries) on top of the deadline.
        ({"declick:stateMachineTimeoutSeconds": 45_300}, "one API call with its retries (116 s)"),
    ],
)
def test_inconsistent_combinations_are_refused(override, fragment):
    with pytest.raises(ConfigError, match="invalid Declick stack configuration") as caught:
        load_config({**BASE, **override})
    assert fragment in str(caught.value)


def test_a_bad_context_value_fails_synthesis_with_the_key():
    with pytest.raises(ConfigError, match="declick:apiBaseUrl"):
        build_app({**SKIP_BUNDLING, "declick:apiBaseUrl": "ftp://vendor.example"}, nag=False)
