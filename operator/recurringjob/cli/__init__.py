"""The `recurringjob` console command: a thin dispatcher to one module per sub-command.

Each command module exposes `add_arguments(parser)` and `main(args) -> int`. Modules are
imported only when their command runs, so `recurringjob plan` never pays for Kopf's import.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from recurringjob.errors import UserError

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("recurringjob.cli.run", "run the operator (in-cluster config or KUBECONFIG)"),
    "plan": ("recurringjob.cli.plan", "dry-run the planner on a RecurringJob file: what now, and why?"),
    "next": ("recurringjob.cli.next", "print the upcoming fire times of a schedule"),
    "devcluster": ("recurringjob.devcluster.cli", "serve an embedded Kubernetes API server (dev, tests)"),
    "demo": ("recurringjob.cli.demo", "dev cluster + 3 replicas + examples + faults, with a live view"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recurringjob", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        cmd_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:  # only the chosen command's module is imported
            importlib.import_module(module_name).add_arguments(cmd_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    args = build_parser(command).parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.main(args) or 0)
    except UserError as exc:
        print(f"recurringjob {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
