"""``metflow import-physlite FILE.root [FILE2.root ...] [--output out.parquet]``.

Converts PHYSLITE files (Run-2 TTree or Run-3 RNTuple) into metflow's Parquet event format:
objects, the MET association map and the core soft terms, plus EventInfo and TruthMET.
"""

from __future__ import annotations

import argparse
import os
import sys

from .naming import NAMINGS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``metflow import-physlite``."""
    parser.add_argument("files", nargs="+", metavar="FILE.root",
                        help="PHYSLITE files (TTree CollectionTree or RNTuple EventData), or what "
                             "--input takes: directories, globs, .txt/.list file lists, coffea "
                             "filesets (NAME.json[#DATASET]), file:// and fsspec URLs")
    parser.add_argument("--output", "-o", default=None,
                        help="output Parquet file (default: the first input's name with .parquet, "
                             "in the current directory)")
    parser.add_argument("--naming", choices=sorted(NAMINGS), default="atlas",
                        help="store keys: 'atlas' (AnalysisElectrons, METAssoc_AnalysisMET, ...) "
                             "or 'metflow' (Electrons, METAssoc_AntiKt4EMPFlow, ...)")
    parser.add_argument("--events", "-n", type=int, default=None, help="convert at most N events")
    parser.add_argument("--batch-size", type=int, default=1000,
                        help="events per block (one Parquet row group each)")
    parser.add_argument("--sizes", action="store_true",
                        help="also print the MET map + core bytes/event: ATLAS branches vs Parquet")


def _default_output(path: str) -> str:
    """In the working directory, not beside the input (input folders are often read-only)."""
    root, _ = os.path.splitext(os.path.basename(path))
    return root + ".parquet"


def convert_files(files, output: str, *, naming: str = "atlas", events: int | None = None,
                  batch_size: int = 1000, stop=None) -> int:
    """Convert ``files`` into one Parquet file (atomically); returns the number of events.
    ``stop`` (a StopRequest set by SIGTERM/SIGINT) ends the conversion between blocks, leaving
    no file behind."""
    from metflow.edm import persistence
    from metflow.framework.output import check_parquet_output
    from metflow.framework.paths import check_output

    from .source import PhysliteSource

    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    if events is not None and events < 1:
        raise ValueError(f"--events must be >= 1, got {events}")
    # a symlink: its target is written; the format is the given name's
    given, output = output, check_output(output, "--output", files)
    check_parquet_output(given, "--output", "it writes whole events (object containers)")
    source = PhysliteSource(files, naming=naming)
    total = source.n_events() if events is None else min(events, source.n_events())
    try:
        if total == 0:
            raise ValueError(f"{source.name}: no events to convert")
        with persistence.ParquetStreamWriter(output, row_group_size=batch_size) as writer:
            for first in range(0, total, batch_size):
                if stop is not None and stop.signum is not None:
                    from metflow.framework.signals import Interrupted

                    raise Interrupted(stop.signum, first, f"; {output} not written")
                writer.write(source.read(first, min(batch_size, total - first)), source=source.name)
    finally:
        source.close()
    return total


def run(args: argparse.Namespace) -> int:
    """Entry point of ``metflow import-physlite``; returns the exit code."""
    from metflow.framework.errors import ConfigurationError, MetflowError
    from metflow.framework.signals import Interrupted, StopRequest, stop_on_signals

    from metflow.framework.input_specs import expand_inputs

    stop = StopRequest()
    try:
        args.files = expand_inputs(args.files)
        output = args.output or _default_output(args.files[0])
        with stop_on_signals(stop):
            n = convert_files(args.files, output, naming=args.naming, events=args.events,
                              batch_size=args.batch_size, stop=stop)
    except Interrupted as exc:
        print(f"metflow: error: import-physlite {exc}", file=sys.stderr)
        return exc.exit_code
    except (ConfigurationError, ValueError) as exc:
        print(f"metflow: error: import-physlite: {exc}", file=sys.stderr)
        return 2
    except (MetflowError, OSError, ImportError) as exc:
        print(f"metflow: error: import-physlite: {exc}", file=sys.stderr)
        return 1
    print(f"converted {n} events from {len(args.files)} file(s) into {output} "
          f"({os.path.getsize(output)} bytes)")
    if args.sizes:
        from .sizes import atlas_met_bytes, metflow_met_bytes
        for path in args.files:
            atlas, ours = atlas_met_bytes(path), metflow_met_bytes(path, naming=args.naming)
            print(f"{path}: MET map+core {atlas.bytes_per_event:.0f} B/event in ATLAS "
                  f"{atlas.format}, {ours.bytes_per_event:.0f} B/event in metflow Parquet")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="metflow import-physlite", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
