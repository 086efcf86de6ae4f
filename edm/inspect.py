"""``metflow inspect FILE.parquet``: containers, events, objects per event, bytes per event."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

import numpy as np

from metflow.edm.errors import EDMError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Parquet file written by metflow")
    parser.add_argument("--columns", action="store_true",
                        help="also list every leaf column with its compressed bytes/event")


def _count_summary(pf, key: str) -> tuple[str, str]:
    """(kind, objects-per-event text) of one top-level column, from its list offsets."""
    import pyarrow as pa
    from metflow.edm.persistence import kind_of_key
    try:
        kind = kind_of_key(key)
    except EDMError:
        kind = "?"
    column = pf.read(columns=[key]).column(key)
    n = max(1, len(column))
    if kind == "map":
        from metflow.edm.persistence import map_from_arrow
        m = map_from_arrow(column, key=key, validate=False)
        return kind, (f"{m.n_associations / n:.2f} associations/event, {m.n_objects / n:.2f} objects, "
                      f"{len(m.cal_key) / n:.2f} cal + {len(m.trk_key) / n:.2f} trk entries")
    typ = column.type
    if pa.types.is_list(typ) or pa.types.is_large_list(typ):
        counts = np.concatenate([np.diff(np.asarray(c.offsets)) for c in column.chunks]) \
            if column.num_chunks else np.zeros(0)
        mean = counts.mean() if counts.size else 0.0
        return kind, f"{mean:.2f} objects/event (max {int(counts.max(initial=0))})"
    if pa.types.is_struct(typ):
        return kind, (f"{typ.num_fields} terms" if kind == "met" else "1 record/event")
    return kind, "1 value/event"


def inspect_file(path: str, out: TextIO = sys.stdout, columns: bool = False) -> int:
    from metflow.edm.persistence import column_sizes, open_parquet
    pf = open_parquet(path)
    meta = pf.metadata
    n = meta.num_rows
    sizes = column_sizes(path)
    print(f"{path}: {n} events, {meta.num_row_groups} row groups, "
          f"{meta.num_columns} leaf columns", file=out)
    header = f"{'key':34s} {'kind':9s} {'content':72s} {'B/event':>9s} {'raw B/ev':>9s}"
    print(header, file=out)
    print("-" * len(header), file=out)
    total_c = total_u = 0
    for key in pf.schema_arrow.names:
        kind, text = _count_summary(pf, key)
        s = sizes.get(key, {"compressed": 0, "uncompressed": 0})
        total_c += s["compressed"]
        total_u += s["uncompressed"]
        per = lambda b: b / n if n else 0.0
        print(f"{key:34s} {kind:9s} {text:72s} {per(s['compressed']):9.1f} {per(s['uncompressed']):9.1f}",
              file=out)
    print("-" * len(header), file=out)
    print(f"{'total (column data)':34s} {'':9s} {'':72s} {total_c / max(n, 1):9.1f} {total_u / max(n, 1):9.1f}",
          file=out)
    if columns:
        print(file=out)
        leaf: dict[str, int] = {}
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            for c in range(group.num_columns):
                col = group.column(c)
                leaf[col.path_in_schema] = leaf.get(col.path_in_schema, 0) + col.total_compressed_size
        for p, b in leaf.items():
            print(f"  {p:90s} {b / max(n, 1):9.2f}", file=out)
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return inspect_file(args.file, columns=getattr(args, "columns", False))
    except FileNotFoundError as exc:
        print(f"metflow inspect: {exc}", file=sys.stderr)
        return 2
    except EDMError as exc:
        print(f"metflow inspect: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metflow inspect", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
