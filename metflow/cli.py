"""The `metflow` command line: framework commands plus the physics tools."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Sequence

from metflow import __version__
from metflow.framework import cli as framework_cli
from metflow.framework.jit import CompileMonitor

#: modules whose Algorithm subclasses `metflow list` shows (plugins come from entry points)
BUILTIN_ALGORITHM_MODULES = (
    "metflow.algorithms.demo",
    "metflow.algorithms.met.reco",
    "metflow.algorithms.met.object_associators",
    "metflow.algorithms.met.maker",
    "metflow.algorithms.met.maker_alg",   # METMakerAlg (maker.py re-exports it lazily)
    "metflow.algorithms.met.selection",
    "metflow.algorithms.met.systematics",
    "metflow.algorithms.met.significance",
    "metflow.algorithms.validation.cleaning",
)

#: command -> (module with add_arguments(parser) and run(args), help)
TOOL_COMMANDS = {
    "generate": ("metflow.algorithms.generation.cli", "generate events (Pythia8 + toy detector)"),
    "import-physlite": ("metflow.algorithms.physlite.cli", "convert an ATLAS PHYSLITE file"),
    "inspect": ("metflow.edm.inspect", "containers, counts and bytes/event of a Parquet file"),
    "bench": ("metflow.bench", "throughput table: read-only, reco, rebuild, full chain, threads"),
    "validate": ("metflow.algorithms.validation.cli", "physics validation report (plots + report.md)"),
}


def available_algorithm_modules() -> list[str]:
    """The built-in modules that exist in this installation."""
    modules = []
    for name in BUILTIN_ALGORITHM_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        modules.append(name)
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metflow", description="Athena-like multithreaded event processing and ATLAS "
        "dynamic missing transverse momentum.")
    parser.add_argument("--version", action="version", version=f"metflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a job")
    framework_cli.add_run_arguments(run)
    graph = sub.add_parser("graph", help="print a job's data-flow graph")
    graph.add_argument("job")
    graph.add_argument("--format", choices=["text", "dot", "mermaid"], default="text")
    graph.add_argument("--input", nargs="+", default=[], metavar="SPEC",
                       help="input files, directories, globs, file lists, filesets or URLs (as "
                            "metflow run)")
    graph.add_argument("--set", action="append", default=[], metavar="FLAG=VALUE")
    sub.add_parser("list", help="list algorithms (built-in and plugins) and jobs")
    for command, (module_name, help_text) in TOOL_COMMANDS.items():
        tool = sub.add_parser(command, help=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not module_name.startswith(exc.name or "\0"):
                raise
            tool.set_defaults(tool_missing=module_name)
            continue
        module.add_arguments(tool)
        tool.set_defaults(tool_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Every command ends with its exit code, never a raw traceback (README "Reliability")."""
    try:
        return _dispatch(build_parser().parse_args(argv))
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("metflow: error: interrupted by SIGINT", file=sys.stderr)
        return 128 + signal.SIGINT
    except framework_cli.MetflowError as exc:
        print(f"metflow: error: {exc}", file=sys.stderr)
        return framework_cli.EXIT_CONFIG if isinstance(exc, framework_cli.ConfigurationError) \
            else framework_cli.EXIT_FAILED


#: tools that run numba kernels: their first run announces the compilation
COMPILING_TOOLS = ("generate", "bench", "validate", "import-physlite")
#: tools whose --output is one file, checked as `metflow run` checks its outputs (never a
#: device, FIFO or directory; a symlink writes its target) before the tool starts
FILE_OUTPUT_TOOLS = ("generate",)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return framework_cli.cmd_run(args)
    if args.command == "graph":
        return framework_cli.cmd_graph(args)
    if args.command == "list":
        return framework_cli.cmd_list(args, available_algorithm_modules())
    if getattr(args, "tool_missing", None):
        print(f"metflow: {args.command} is not available in this installation "
              f"({args.tool_missing} missing)", file=sys.stderr)
        return 2
    if args.command in FILE_OUTPUT_TOOLS and getattr(args, "output", None):
        from metflow.framework.output import check_parquet_output
        from metflow.framework.paths import check_output

        given, args.output = args.output, check_output(args.output, "--output")
        check_parquet_output(given, "--output", "it writes whole events (object containers)")
    monitor = CompileMonitor(sys.stderr if args.command in COMPILING_TOOLS else None)
    with monitor if args.command in COMPILING_TOOLS else contextlib.nullcontext():
        try:
            return int(args.tool_run(args))
        except (framework_cli.MetflowError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - never a raw traceback
            return framework_cli.unexpected_error(exc, False)


if __name__ == "__main__":
    sys.exit(main())
