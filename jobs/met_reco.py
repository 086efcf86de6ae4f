"""MET reconstruction: association maps METAssoc_* and core soft terms MET_Core_* per jet collection."""

from metflow.algorithms.met.config import met_reco_cfg
from metflow.algorithms.met.reco import METObjectAssociator, METRecoSummary
from metflow.edm import keys as K
from metflow.edm.persistence import parquet_writer_options
from metflow.algorithms.inputs import declare_input_flags, open_input
from metflow.algorithms.outputs import met_output_sink, with_event_info
from metflow.framework import Job
from metflow.framework.errors import ConfigurationError
from metflow.framework.registry import find_algorithm

#: large per-event constituent containers, read but not written back with the objects
CONSTITUENT_KEYS = (K.TRACKS, K.CLUSTERS, K.PFOS)
DEFAULT_OUTPUT = "met_reco.parquet"


def declare_flags(flags):
    flags.declare("met.jet_collections", list, list(K.JET_COLLECTIONS),
                  "jet collections to build maps for (AntiKt4EMPFlow: PFOs, AntiKt4EMTopo: clusters)")
    flags.declare("met.extra_associators", list, [],
                  "extra associator classes by name, e.g. plugins from the metflow.algorithms entry "
                  "points (['METLRTMuonAssociator']); appended after muons, electrons, photons, taus")
    flags.declare("met.write_objects", bool, True,
                  "also write the input objects (EventInfo, jets, leptons, ...) but not tracks/clusters/PFOs")
    declare_input_flags(flags)


def _extra_associators(names):
    from metflow.cli import available_algorithm_modules

    classes = []
    for name in names:
        cls = find_algorithm(name, available_algorithm_modules())
        if not issubclass(cls, METObjectAssociator):
            raise ConfigurationError(f"met.extra_associators: {name!r} ({cls.__module__}) is not a MET "
                                     f"object associator (a METObjectAssociator subclass)")
        classes.append(cls)
    return classes


def configure(flags):
    jets = list(flags["met.jet_collections"])
    unknown = [j for j in jets if j not in K.JET_COLLECTIONS]
    if unknown:
        raise ConfigurationError(f"met.jet_collections: unknown {unknown}; known: {list(K.JET_COLLECTIONS)}")
    extra = _extra_associators(flags["met.extra_associators"])
    source = open_input(flags)
    algorithms = [alg for jet in jets for alg in met_reco_cfg(jet, extra_associators=extra)]
    outputs = [k for jet in jets for k in (K.met_assoc_key(jet), K.met_core_key(jet))]
    if flags["met.write_objects"]:
        outputs = [k for k in source.keys() if k not in CONSTITUENT_KEYS] + outputs
    sinks = [METRecoSummary(jets), met_output_sink(flags["output.file"] or DEFAULT_OUTPUT,
                                                   with_event_info(outputs, source.keys()),
                                                   writer_options=parquet_writer_options)]
    return Job(source=source, algorithms=algorithms, sinks=sinks, name="met_reco")


if __name__ == "__main__":
    from metflow.framework.cli import run_standalone

    run_standalone(__file__)
