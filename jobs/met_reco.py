"""MET reconstruction: association maps METAssoc_* and core soft terms MET_Core_* per jet collection."""

from metflow.algorithms.met.config import declare_met_reco_flags, met_reco_cfg
from metflow.edm import keys as K
from metflow.edm.persistence import parquet_writer_options
from metflow.algorithms.inputs import declare_input_flags, open_input
from metflow.algorithms.outputs import met_output_sink, with_event_info
from metflow.framework import Job

#: large per-event constituent containers, read but not written back with the objects
CONSTITUENT_KEYS = (K.TRACKS, K.CLUSTERS, K.PFOS)
DEFAULT_OUTPUT = "met_reco.parquet"


def declare_flags(flags):
    declare_met_reco_flags(flags)
    flags.declare("met.write_objects", bool, True,
                  "also write the input objects (EventInfo, jets, leptons, ...) but not tracks/clusters/PFOs")
    declare_input_flags(flags)


def configure(flags):
    cfg = met_reco_cfg(flags)
    source = open_input(flags)
    outputs = cfg.outputs
    if flags["met.write_objects"]:
        outputs = [k for k in source.keys() if k not in CONSTITUENT_KEYS] + outputs
    sinks = [*cfg.summaries, met_output_sink(flags["output.file"] or DEFAULT_OUTPUT,
                                                   with_event_info(outputs, source.keys()),
                                                   writer_options=parquet_writer_options)]
    return Job(source=source, algorithms=cfg.algorithms, sinks=sinks, name="met_reco")


if __name__ == "__main__":
    from metflow.framework.cli import run_standalone

    run_standalone(__file__)
