"""The emulated AWS account of `declick local run`: `EmulatedAws` and what it reports.

One module per part: `sandbox` (process state an emulator changes and restores), `moto_patches`
(moto's private APIs, version-guarded), `lambda_runtime` (handlers in process), `deployer`
(CloudFormation resources on moto), `event_sources` (SQS pollers), `inbox` (notifications), and
`emulated_aws`, which puts them together.
"""

from declick.local.emulator.emulated_aws import EmulatedAws
from declick.local.emulator.event_sources import Batch, EventSourceMapping
from declick.local.emulator.inbox import Notification
from declick.local.emulator.lambda_runtime import FunctionSpec, Invocation, LambdaRuntime
from declick.local.emulator.moto_patches import UnsupportedMotoError

__all__ = [
    "Batch",
    "EmulatedAws",
    "EventSourceMapping",
    "FunctionSpec",
    "Invocation",
    "LambdaRuntime",
    "Notification",
    "UnsupportedMotoError",
]
