"""METMaker rule -> columns: one table (`RULE_COLUMNS`) drives the configure-time check
(`check_rule_inputs`) and the run-time read (`rebuild_jet_met`). For every column of every rule,
an input without it fails both ways with the same message; with every column both pass."""

from __future__ import annotations

import re

import numpy as np
import pytest

from metflow.algorithms.met.maker import METMaker, RebuildError
from metflow.algorithms.met.rule_columns import (NNJVT, REMOVE_MUON_JETS, RULE_COLUMNS,
                                                 SET_MUON_JET_EM_SCALE, missing_column_message)
from metflow.algorithms.met.rule_inputs import check_rule_inputs
from metflow.edm import keys as mk
from metflow.edm.containers import Container
from metflow.edm.errors import SchemaError
from metflow.edm.met import ObjectType
from metflow.framework.errors import ConfigurationError

from test_maker_ops import SOFT_BOTH, _fsr_jet_block, new

#: a maker whose only column-reading rule is the key
MAKERS = {NNJVT: dict(use_r21_jvt_fallback=False, do_remove_muon_jets=False),
          REMOVE_MUON_JETS: dict(),
          SET_MUON_JET_EM_SCALE: dict(do_remove_muon_jets=False, do_set_muon_jet_em_scale=True)}
CASES = [(rule, column) for rule, columns in RULE_COLUMNS.items() for column in columns]


class _Fields:
    """A source that reports the columns of its jets and muons (as SyntheticSource does)."""

    name = "fields-source"

    def __init__(self, containers):
        self._fields = {c.key: set(c.columns) for c in containers.values()}

    def container_fields(self, key):
        return self._fields.get(key)


def _block():
    _, conts, assoc_map, core = _fsr_jet_block()
    jets = conts["jets"]
    conts["jets"] = jets.with_columns(detector_eta=np.zeros(len(jets), np.float32))
    return {"jets": conts["jets"], "muons": conts["m"]}, assoc_map, core


def _without(container, names):
    cols = {k: v for k, v in container.columns.items() if k not in names}
    return Container(container.schema, container.offsets, cols, key=container.key)


def _rebuild(maker, containers, assoc_map, core):
    helper, met = new(assoc_map)
    maker.rebuild_met(mk.MUONS_TERM, ObjectType.Muon, containers["muons"], helper, met)
    return maker.rebuild_jet_met(mk.REF_JET, SOFT_BOTH, met, containers["jets"], core, helper,
                                 muons=containers["muons"])


def _check(maker, containers):
    check_rule_inputs(maker, _Fields(containers), containers["jets"].key,
                      containers["muons"].key, "test_job")


def test_every_rule_has_a_maker_that_runs_only_it():
    assert set(MAKERS) == set(RULE_COLUMNS)
    for rule, options in MAKERS.items():
        assert METMaker(**options).column_rules() == (rule,)


@pytest.mark.parametrize("rule", sorted(RULE_COLUMNS))
def test_with_every_column_both_pass(rule):
    containers, assoc_map, core = _block()
    maker = METMaker(do_pflow=True, **MAKERS[rule])
    _check(maker, containers)
    assert len(_rebuild(maker, containers, assoc_map, core).status) == len(containers["jets"])


@pytest.mark.parametrize("rule, column", CASES, ids=[f"{r.split()[0]}-{c.role}" for r, c in CASES])
def test_a_missing_column_fails_at_configure_and_run_time_alike(rule, column):
    containers, assoc_map, core = _block()
    if set(column.names) <= set(containers[column.container].schema.required):
        with pytest.raises(SchemaError, match=column.names[0]):   # no valid input lacks it
            _without(containers[column.container], column.names)
        return
    containers[column.container] = _without(containers[column.container], column.names)
    key = containers[column.container].key
    message = re.escape(missing_column_message(rule, column, key))
    maker = METMaker(do_pflow=True, **MAKERS[rule])
    with pytest.raises(ConfigurationError, match=r"test_job: " + message + r".*fields-source"):
        _check(maker, containers)
    with pytest.raises(RebuildError, match=message + ", which the input does not have"):
        _rebuild(maker, containers, assoc_map, core)


def test_a_column_with_alternatives_reads_the_first_present():
    """DoSetMuonJetEMScale reads ps_frac when stored, else presampler_e: either one passes."""
    containers, assoc_map, core = _block()
    maker = METMaker(do_pflow=True, **MAKERS[SET_MUON_JET_EM_SCALE])
    jets = containers["jets"]
    with_both = jets.with_columns(ps_frac=np.zeros(len(jets), np.float32))
    base = _rebuild(maker, containers, assoc_map, core).status
    # ps_frac (read first) 0: the jet fails the presampler condition, no longer a muon FSR jet
    changed = _rebuild(maker, dict(containers, jets=with_both), assoc_map, core).status
    assert base.tolist() != changed.tolist()
    _check(maker, dict(containers, jets=_without(with_both, ("presampler_e",))))
