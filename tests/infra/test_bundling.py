"""Docker-free layer bundling, exercised offline against a local wheel directory.

The real layer (functions/requirements.txt: numpy, soundfile, Powertools...) needs PyPI, and tests
talk to loopback only; `python app.py` does the real thing (docs/operations.md). Here pip gets
the same command line with `PIP_NO_INDEX` / `PIP_FIND_LINKS` pointing at wheels built on the spot.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from infra.bundling import PLATFORMS, PYTHON_VERSION, RUNTIME_PROVIDED, PipLayerBundling, pip_command


def _wheel(directory: Path, name: str, files: dict[str, str], tag: str = "py3-none-any") -> Path:
    """A minimal valid wheel (PEP 427) with the given module files."""
    version = "1.0"
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{dist_info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n"
    record_lines = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(text.encode())}")
    record_lines.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = "\n".join(record_lines) + "\n"
    path = directory / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in contents.items():
            archive.writestr(member, text)
    return path


@pytest.fixture
def wheelhouse(tmp_path, monkeypatch) -> Path:
    house = tmp_path / "wheels"
    house.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(house))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    return house


def test_pip_targets_the_lambda_platform_and_refuses_sdists():
    command = pip_command(Path("req.txt"), Path("out/python"))
    assert command[command.index("--python-version") + 1] == PYTHON_VERSION == "3.12"
    assert command[command.index("--implementation") + 1] == "cp"
    assert "--only-binary=:all:" in command
    assert [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"] == list(PLATFORMS)
    assert "manylinux2014_x86_64" in PLATFORMS
    assert command[command.index("--target") + 1] == os.path.join("out", "python")


def test_bundles_into_the_layer_layout_and_prunes(tmp_path, wheelhouse):
    _wheel(wheelhouse, "tinydep", {"tinydep/__init__.py": "VALUE = 42\n", "tinydep/tests/test_x.py": "x = 1\n"})
    _wheel(wheelhouse, "botocore", {"botocore/__init__.py": "shadow = True\n"})
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tinydep==1.0\nbotocore==1.0\n")
    output = tmp_path / "asset"
    output.mkdir()

    assert PipLayerBundling(requirements).try_bundle(str(output), image=None) is True

    layer = output / "python"
    assert (layer / "tinydep" / "__init__.py").read_text() == "VALUE = 42\n"
    assert not (layer / "tinydep" / "tests").exists()
    assert "botocore" in RUNTIME_PROVIDED
    assert not (layer / "botocore").exists()
    assert not list(layer.glob("botocore-*.dist-info"))


def test_a_requirement_without_a_wheel_fails_loudly_instead_of_falling_back_to_docker(tmp_path, wheelhouse):
    # Only a wheel for another platform exists: --platform/--only-binary must refuse it.
    _wheel(wheelhouse, "nativeonly", {"nativeonly/__init__.py": ""}, tag="cp312-cp312-macosx_11_0_arm64")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("nativeonly==1.0\n")
    with pytest.raises(RuntimeError, match="bundling the Lambda layer .* failed"):
        PipLayerBundling(requirements).try_bundle(str(tmp_path), image=None)


def test_function_code_asset_ships_the_contract_package(synthesized):
    """The handlers import declick_contract: the staged function asset must carry every module of it."""
    import ast

    staged = [p.parent.parent for p in synthesized.outdir.glob("asset.*/declick_pipeline/handlers")]
    assert len(staged) == 1, f"expected one staged function asset, found {staged}"
    asset = staged[0]
    imported = set()
    for source in (asset / "declick_pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("declick_contract"):
                imported.add(node.module)
    assert "declick_contract.api" in imported
    def shipped(module: str) -> bool:
        path = asset / module.replace(".", "/")
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    missing = [m for m in sorted(imported) if not shipped(m)]
    assert not missing, f"imported by the handlers but absent from the asset: {missing}"
    assert not list(asset.rglob("tests")), "tests must not be shipped"
