"""Run RebuiltMETProcessor over PHYSLITE files with coffea's Runner and print the MET.

    python examples/coffea_met/run.py ../shared/data/physlite/*.root --chunksize 50

A Run-2 TTree (CollectionTree) is read with PHYSLITESchema, a Run-3 RNTuple (EventData) with
BaseSchema: coffea 2026.9's PHYSLITESchema splits branch names at '.', which RNTuple field names
(``AnalysisMuonsAuxDyn:pt``) do not have, and stops with KeyError: 'pt'.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from met_processor import GeV, RebuiltMETProcessor  # noqa: E402


def tree_and_schema(path: str):
    """(tree name, coffea schema) for a PHYSLITE file."""
    import uproot
    from coffea.nanoevents import BaseSchema, PHYSLITESchema

    with uproot.open(path) as f:
        classes = {k.split(";")[0]: v for k, v in f.classnames(recursive=False).items()}
    if classes.get("CollectionTree") == "TTree":
        return "CollectionTree", PHYSLITESchema
    if classes.get("EventData") == "ROOT::RNTuple":
        return "EventData", BaseSchema
    raise SystemExit(f"{path}: not a PHYSLITE file (no CollectionTree TTree or EventData RNTuple)")


def run(paths, chunksize: int = 50, jes_scale: float = 1.05) -> dict:
    """The processor's accumulated output over `paths` (one Runner per schema)."""
    from coffea import processor

    groups: dict = {}
    for path in paths:
        tree, schema = tree_and_schema(path)
        groups.setdefault((tree, schema), []).append(os.path.abspath(path))
    out = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # coffea warns about every PHYSLITE branch it skips
        for (tree, schema), files in groups.items():
            runner = processor.Runner(executor=processor.IterativeExecutor(), schema=schema,
                                      chunksize=chunksize)
            part = runner({"physlite": {"files": {f: tree for f in files}}},
                          processor_instance=RebuiltMETProcessor(jes_scale), treename=tree)
            out = part if out is None else processor.accumulate([out, part])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--chunksize", type=int, default=50)
    parser.add_argument("--jes-scale", type=float, default=1.05)
    args = parser.parse_args(argv)
    out = run(args.files, args.chunksize, args.jes_scale)
    h = out["met"]
    print(f"{out['events']} events in {len(out['chunks'])} chunks")
    for variation in ("nominal", "jes_up"):
        values = [c[variation] for c in out["chunks"].values()]
        import numpy as np
        met = np.concatenate(values)
        print(f"  {variation:8s} mean FinalTrk MET {met.mean() / GeV:6.1f} GeV "
              f"(histogram entries {h[variation, :].sum(flow=True):.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
