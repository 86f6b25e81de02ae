"""The `declick` command.

Each area (engine, service, local pipeline) owns its own sub-commands in its own module;
this file only wires them together so that importing one area never pays for another.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (command path, module providing `add_arguments(parser)` and `run(args) -> int`, help)
_COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("clean",), "declick.engine.cli", "remove clicks from an audio file"),
    (("engine", "serve"), "declick.service.cli", "serve the click-removal API with our engine"),
    (("local", "run"), "declick.local.cli", "run the whole pipeline on an emulated AWS"),
    (("local", "up"), "declick.local.up", "serve the pipeline on an emulated AWS for your own AWS clients"),
    (("status",), "declick.ops.status", "where an upload is in a deployed pipeline (job ledger)"),
    (("replay",), "declick.ops.replay", "re-submit FAILED uploads, each with one new notification"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="declick", description="Click-noise removal.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for path, module_name, help_text in _COMMANDS:
        target = subparsers
        for word in path[:-1]:
            if word not in groups:
                group = subparsers.add_parser(word, help=f"{word} commands")
                groups[word] = group.add_subparsers(dest=f"{word}_command", required=True)
            target = groups[word]
        sub = target.add_parser(path[-1], help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        module = importlib.import_module(module_name)
        module.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(args._module)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
