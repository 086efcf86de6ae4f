"""met_reco_cfg(flags) and met_rebuild_cfg(flags) return JobConfigs that merge: merged, they are
one job that reconstructs and rebuilds in one pass, with the MET of met_reco -> file ->
met_rebuild; merging the same configuration twice changes nothing; a conflicting configuration
under the same name is a ConfigurationError naming it and what differs."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from metflow.algorithms.inputs import declare_input_flags, open_input
from metflow.algorithms.met.config import (declare_met_rebuild_flags, declare_met_reco_flags,
                                           met_assoc_cfg, met_rebuild_cfg, met_reco_cfg)
from metflow.edm import keys as K
from metflow.framework import Job, ParquetSink, RunOptions, configure_job, run_job
from metflow.framework.errors import ConfigurationError
from metflow.framework.flags import standard_flags
from metflow.framework.job_config import JobConfig

N_EVENTS = 150
SETS = {"synthetic.process": "ttbar",
        "met.systematics": ["MET_SoftTrk_ResoPara", "JET_JES__1up", "MET_JetTrk_ScaleUp"]}
OPTIONS = dict(quiet=True, progress=False, events=N_EVENTS, threads=2, batch_size=64)


def _flags(**values):
    """Flags of both MET configurations (as a job declaring both would have), locked."""
    flags = standard_flags()
    declare_met_reco_flags(flags)
    declare_met_rebuild_flags(flags)
    declare_input_flags(flags)
    flags.set("input.events", N_EVENTS)
    for name, value in {**SETS, **values}.items():
        flags.set(name, value)
    flags.lock()
    return flags


def _sets():
    return [f"{name}={value!r}" for name, value in SETS.items()]


def test_merged_reco_and_rebuild_equal_reco_to_a_file_then_rebuild(tmp_path):
    flags = _flags()
    source = open_input(flags)
    cfg = met_reco_cfg(flags).merge(met_rebuild_cfg(flags, input_keys=source.keys()))
    one_pass = tmp_path / "one_pass.parquet"
    job = Job(source=source, algorithms=cfg.algorithms,
              sinks=[*cfg.summaries, ParquetSink(str(one_pass), cfg.outputs)], name="reco_rebuild")
    run_job(job, RunOptions(**OPTIONS))

    reco_file, rebuilt = tmp_path / "reco.parquet", tmp_path / "rebuilt.parquet"
    reco_job, _ = configure_job("met_reco", sets=_sets()[:1], output=str(reco_file), events=N_EVENTS)
    run_job(reco_job, RunOptions(**OPTIONS))
    rebuild_job, _ = configure_job("met_rebuild", sets=_sets()[1:], inputs=[str(reco_file)],
                                   output=str(rebuilt), events=N_EVENTS)
    run_job(rebuild_job, RunOptions(**OPTIONS))

    merged, two_step = pq.read_table(one_pass), pq.read_table(rebuilt)
    met_keys = met_rebuild_cfg(flags).outputs   # nominal, significance, track MET, variations
    assert len(met_keys) == 6 and set(met_keys) <= set(two_step.column_names)
    for key in met_keys:
        assert merged.column(key).equals(two_step.column(key)), key
    # the maps and cores written by the one-pass job equal met_reco's
    reco = pq.read_table(reco_file)
    for jet in K.JET_COLLECTIONS:
        for key in (K.met_assoc_key(jet), K.met_core_key(jet)):
            assert merged.column(key).equals(reco.column(key)), key
    # one job: the reconstruction of both collections and the rebuild, each algorithm once
    names = [alg.name for alg in cfg.algorithms]
    assert len(names) == len(set(names))
    assert {"METAssocMapBuilder_AntiKt4EMTopo", "METAssocMapBuilder_AntiKt4EMPFlow",
            "METMakerAlg_AntiKt4EMPFlow"} <= set(names)
    assert [s.name for s in cfg.summaries] == ["METRecoSummary", "METRebuildSummary"]


def _signature(cfg: JobConfig):
    return ([(type(a), a.name, a.options()) for a in cfg.algorithms], cfg.outputs,
            [s.name for s in cfg.summaries])


def test_merging_the_same_configuration_twice_is_deduplicated():
    flags = _flags()
    once = met_reco_cfg(flags).merge(met_rebuild_cfg(flags))
    twice = (met_reco_cfg(flags).merge(met_rebuild_cfg(flags)).merge(met_rebuild_cfg(flags))
             .merge(met_reco_cfg(flags)).merge(met_assoc_cfg("AntiKt4EMPFlow")))
    assert _signature(twice) == _signature(once)
    # the algorithm kept is the first one added
    first = met_reco_cfg(flags)
    kept = first.algorithm("METAssocMapBuilder_AntiKt4EMPFlow")
    first.merge(met_reco_cfg(flags))
    assert first.algorithm("METAssocMapBuilder_AntiKt4EMPFlow") is kept


def test_a_conflicting_configuration_of_the_same_name_is_an_error():
    tight = met_rebuild_cfg(_flags())
    with pytest.raises(ConfigurationError, match=r"two configurations of algorithm "
                                                 r"'METMakerAlg_AntiKt4EMPFlow' differ in options "
                                                 r"jet_selection: 'Tight' != 'Loose'"):
        tight.merge(met_rebuild_cfg(_flags(**{"met.jet_selection": "Loose"})))
    with pytest.raises(ConfigurationError, match=r"'METObjectSelection_muons' differ in options "
                                                 r"min_pt: 10000\.0 != 25000\.0"):
        met_rebuild_cfg(_flags()).merge(met_rebuild_cfg(_flags(**{"met.muons.min_pt": 25e3})))
    with pytest.raises(ConfigurationError, match=r"two summary sinks named 'METRecoSummary' differ"):
        met_reco_cfg(_flags()).merge(met_reco_cfg(_flags(**{"met.jet_collections": ["AntiKt4EMTopo"]})))


def test_two_algorithms_writing_one_key_is_an_error():
    cfg = met_rebuild_cfg(_flags())
    nominal = cfg.algorithm("METMakerAlg_AntiKt4EMPFlow")
    clone = type(nominal)(name="Clone", **nominal.options())
    with pytest.raises(ConfigurationError, match=r"'MET_AntiKt4EMPFlow' is written by both "
                                                 r"'METMakerAlg_AntiKt4EMPFlow' and 'Clone'"):
        cfg.add_algorithm(clone)


def test_input_keys_decide_event_info_and_refuse_soft_systematics_without_truth():
    flags = _flags()
    nominal = "METMakerAlg_AntiKt4EMPFlow"
    assert met_rebuild_cfg(flags).algorithm(nominal).key("event_info") == K.EVENT_INFO
    no_event_info = met_rebuild_cfg(flags, input_keys=[K.TRUTH_MET])
    assert no_event_info.algorithm(nominal).key("event_info") is None
    with pytest.raises(ConfigurationError, match=r"need simulation: the input has no 'TruthMET'"):
        met_rebuild_cfg(flags, input_keys=[K.EVENT_INFO])
