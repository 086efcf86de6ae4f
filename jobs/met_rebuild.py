"""MET rebuilding (METMaker): MET_<name> from METAssoc_<Jet> + MET_Core_<Jet> for the selected objects.

Input: the output of `met_reco` (--input); input without association maps (raw events, or the
embedded synthetic source when no --input is given) gets the reconstruction chained in the job
(`met_assoc_cfg` merged before `met_rebuild_cfg`, both in algorithms/met/config.py).
Adds the object selections (flags met.<kind>.*), METMakerAlg, the significance and the requested
systematic variations, and prints a MET summary. The jet-track variations (MET_JetTrk_*) vary a
track MET (rebuildTrackMET), rebuilt as MET_<met.track_met> (default '<met.name>Track').

    metflow run jobs/met_rebuild.py --input met_reco.parquet --threads 2
    metflow run jobs/met_rebuild.py -n 1000 --set met.systematics="['MET_SoftTrk_ResoPara','JET_JES__1up']"
    metflow run jobs/met_rebuild.py -n 1000 --set met.systematics="['MET_JetTrk_ScaleUp']"
"""

from metflow.algorithms.met.config import (declare_met_rebuild_flags, met_assoc_cfg, met_makers,
                                           met_rebuild_cfg, rebuild_jet_collection)
from metflow.algorithms.met.rule_inputs import check_makers_rule_inputs, container_fields
from metflow.edm import keys as K
from metflow.algorithms.inputs import declare_input_flags, open_input
from metflow.algorithms.outputs import met_output_sink, with_event_info
from metflow.framework import Job
from metflow.framework.errors import ConfigurationError
from metflow.framework.job_config import JobConfig


def declare_flags(flags):
    declare_met_rebuild_flags(flags)
    declare_input_flags(flags)


def _refuse_atlas_named_import(available, flags):
    """`metflow import-physlite` writes ATLAS names by default (AnalysisJets,
    METAssoc_AnalysisMET); this job reads metflow's: say which command gives them, instead of
    chaining a reconstruction the input cannot feed (a graph error naming PFOs and tracks)."""
    from metflow.algorithms.physlite.naming import ATLAS_JETS, ATLAS_MAP

    found = [k for k in (ATLAS_MAP, ATLAS_JETS) if k in available]
    if found and K.met_assoc_key(flags["met.jet_collection"]) not in available:
        inputs = " ".join(flags["input.files"])
        raise ConfigurationError(
            f"met_rebuild: {inputs} is a PHYSLITE import with ATLAS names ({', '.join(found)}); "
            f"met_rebuild reads metflow names: re-import with `metflow import-physlite FILE "
            f"--naming metflow -o out.parquet` and run met_rebuild --input out.parquet (or run "
            f"physlite_met on the PHYSLITE FILE itself)")


def configure(flags):
    source = open_input(flags)
    available = set(source.keys())
    _refuse_atlas_named_import(available, flags)
    cfg = JobConfig()
    jet_coll = rebuild_jet_collection(flags).name
    if K.met_assoc_key(jet_coll) not in available:   # raw events: chain the reconstruction
        cfg.merge(met_assoc_cfg(jet_coll))
        available |= set(cfg.produced_keys())
    jet_fields = container_fields(source, K.jet_container_key(jet_coll))
    cfg.merge(met_rebuild_cfg(flags, input_keys=available, jet_fields=jet_fields))
    check_makers_rule_inputs(met_makers(cfg), source, K.MUONS, "met_rebuild")
    outputs = cfg.outputs
    sinks = cfg.summaries
    if flags["output.file"]:
        sinks.append(met_output_sink(flags["output.file"], with_event_info(outputs, available)))
    return Job(source=source, algorithms=cfg.algorithms, sinks=sinks, name="met_rebuild")


if __name__ == "__main__":
    from metflow.framework.cli import run_standalone

    run_standalone(__file__)
