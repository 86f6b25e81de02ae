"""What an emulator changes in this process, recorded so that `restore()` puts it all back.

The emulated functions run in this process, so their deployment is process state: the
environment variables they read, the handler modules they were imported as, the patches on
moto. An emulator is a new deployment: handler packages are imported afresh (module-level
caches such as `declick_pipeline.runtime`'s see this stack, not a previous one), and on the
way out the previous module objects come back so other code in the process is unaffected.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any


def in_packages(dotted: str, packages: tuple[str, ...]) -> bool:
    """True for a module (or handler path) inside one of `packages`."""
    return any(dotted == p or dotted.startswith(p + ".") for p in packages)


def forget_sdk_caches() -> None:
    """SDK objects cached at process level would keep talking to a previous emulator."""
    import boto3
    from aws_lambda_powertools.utilities import parameters

    boto3.DEFAULT_SESSION = None
    parameters.clear_caches()


class ProcessSandbox:
    """Environment, handler modules and monkey patches of one emulator, undone by `restore()`."""

    def __init__(self, packages: tuple[str, ...]):
        self.packages = packages
        self._saved_env: dict[str, str | None] = {}
        self._saved_modules: dict[str, Any] = {}
        self._patches: list[tuple[Any, str, Any]] = []
        self._on_restore: list[Callable[[], None]] = []

    def owns(self, module: str) -> bool:
        return in_packages(module, self.packages)

    def set_env(self, values: Mapping[str, str | None]) -> None:
        """Set (or, for None, unset) variables, remembering the first value seen of each."""
        for name, value in values.items():
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def fresh_modules(self) -> None:
        """Forget the handler packages' modules so the next import builds them for this stack."""
        for name in list(sys.modules):
            if self.owns(name):
                self._saved_modules[name] = sys.modules.pop(name)
        forget_sdk_caches()

    def patch(self, target: Any, attr: str, wrapper: Callable[[Any], Any]) -> None:
        """Replace `target.attr` by `wrapper(original)`."""
        original = getattr(target, attr)
        self._patches.append((target, attr, original))
        setattr(target, attr, wrapper(original))

    def on_restore(self, callback: Callable[[], None]) -> None:
        """Run `callback` at the end of `restore()` (state this class does not know how to save)."""
        self._on_restore.append(callback)

    def restore(self) -> None:
        for target, attr, original in reversed(self._patches):
            setattr(target, attr, original)
        self._patches.clear()
        for name in list(sys.modules):
            if self.owns(name):
                del sys.modules[name]
        sys.modules.update(self._saved_modules)
        self._saved_modules.clear()
        forget_sdk_caches()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()
        for callback in reversed(self._on_restore):
            callback()
        self._on_restore.clear()
