"""Docker-free bundling of the Lambda dependencies layer.

CDK bundles assets in a container unless a local bundler succeeds first. Our dependencies are
all published as manylinux wheels, so ``pip download``-style installation for the Lambda
platform (python3.12, x86_64) on the build machine gives the same layer without Docker, which CI
and most laptops in this project do not have. The Docker image named in the bundling options is
a required placeholder that is never pulled: :class:`PipLayerBundling` either succeeds or raises.

Bundling is skipped (the asset is staged as plain source) when the CDK context
``aws:cdk:bundling-stacks`` is ``[]`` — what the tests and ``infra.stack.synth_template`` use so
that synthesizing stays fast and offline.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PYTHON_VERSION = "3.12"
# Lambda python3.12 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels load there, and some
# of our dependencies (soundfile with its bundled libsndfile) only ship the native library in those.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
PLACEHOLDER_IMAGE = "public.ecr.aws/sam/build-python3.12:latest"
# Pulled in transitively (aws-xray-sdk needs botocore) but shipped by the Lambda runtime as a
# matched set with boto3: a layer copy would shadow the runtime's botocore under its boto3.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


def pip_command(requirements: Path, target: Path) -> list[str]:
    """The pip invocation that installs Lambda-platform wheels (never sdists) into ``target``."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += [
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    return command


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Installs ``requirements`` into ``<output>/python`` (the layer layout Lambda adds to sys.path)."""

    def __init__(self, requirements: Path) -> None:
        self.requirements = requirements

    def try_bundle(self, output_dir: str, *, image: DockerImage, **_options: object) -> bool:  # noqa: ARG002
        target = Path(output_dir) / "python"
        target.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(pip_command(self.requirements, target), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            # Returning False would make CDK fall back to Docker, which is exactly what we avoid:
            # fail with pip's own explanation instead.
            raise RuntimeError(
                f"bundling the Lambda layer from {self.requirements} failed (exit {result.returncode}):\n"
                f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
            )
        prune_layer(target)
        return True


def prune_layer(target: Path) -> None:
    """Drop runtime-provided SDK packages, caches and the dependencies' own test suites."""
    junk = [target / name for name in RUNTIME_PROVIDED]
    junk += [p for name in RUNTIME_PROVIDED for p in target.glob(f"{name}-*.dist-info")]
    junk += list(target.rglob("__pycache__")) + [p for p in target.glob("*/tests") if p.is_dir()]
    for path in junk:
        shutil.rmtree(path, ignore_errors=True)


def dependencies_layer_code(functions_dir: Path, requirements_file: str = "requirements.txt") -> lambda_.Code:
    """Layer code: only the requirements files are the source, so edits to handlers do not rebuild it."""
    requirements = functions_dir / requirements_file
    return lambda_.Code.from_asset(
        str(functions_dir),
        exclude=["*", *sorted({"!requirements.txt", f"!{requirements_file}"})],
        asset_hash_type=AssetHashType.SOURCE,
        bundling=BundlingOptions(
            image=DockerImage.from_registry(PLACEHOLDER_IMAGE),
            local=PipLayerBundling(requirements),
        ),
    )


FUNCTION_CODE_EXCLUDES = [
    "requirements.txt",
    "*-requirements.txt",
    "**/__pycache__",
    "**/*.pyc",
    "tests",
    "**/tests",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.egg-info",
]


def function_code(functions_dir: Path) -> lambda_.Code:
    """Handler code: the ``functions/`` asset root without caches or tests."""
    return lambda_.Code.from_asset(str(functions_dir), exclude=FUNCTION_CODE_EXCLUDES)
