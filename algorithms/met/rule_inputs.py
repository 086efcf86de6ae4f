"""Configure-time check that the input carries what the configured METMaker rules read.

A METMaker rule (DoRemoveMuonJets, DoSetMuonJetEMScale, the NNJvt range) reads jet and muon
columns that older files or other producers may lack. Dropping the rule silently would give a
different MET; the job stops before the first event instead, naming rule, container and column.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from metflow.framework.errors import ConfigurationError

from .maker import METMaker
from .rule_columns import (NNJVT, REMOVE_MUON_JETS, RULE_COLUMNS, SET_MUON_JET_EM_SCALE,
                           missing_column_message)


def container_fields(source: Any, key: str) -> set[str] | None:
    """Column names the source gives container `key`, or None when it cannot tell."""
    fields = getattr(source, "container_fields", None)
    if fields is not None:
        return fields(key)
    paths = getattr(source, "paths", None)
    if paths:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(paths[0])
        except (OSError, pa.ArrowException):
            return None
        if key not in schema.names:
            return None
        typ = schema.field(key).type
        while pa.types.is_list(typ) or pa.types.is_large_list(typ):
            typ = typ.value_type
        if pa.types.is_struct(typ):
            return {typ.field(i).name for i in range(typ.num_fields)}
    return None


def check_rule_inputs(maker: METMaker, source: Any, jets_key: str, muons_key: str | None,
                      owner: str) -> None:
    """Raise ConfigurationError when the source lacks a column a configured rule reads (the
    columns of each rule come from `RULE_COLUMNS`, the table METMaker reads them by)."""
    known = {"jets": (jets_key, container_fields(source, jets_key)),
             "muons": (muons_key, container_fields(source, muons_key) if muons_key else None)}
    for rule in maker.column_rules():
        for column in RULE_COLUMNS[rule]:
            key, fields = known[column.container]
            if key is None or fields is None:
                continue
            if not any(name in fields for name in column.names):
                raise ConfigurationError(
                    f"{owner}: {missing_column_message(rule, column, key)}, which the input "
                    f"{getattr(source, 'name', source)!r} does not have; regenerate the input "
                    f"with this metflow version, or turn the rule off ({_RULE_OFF[rule]})")


def check_makers_rule_inputs(makers: Iterable[Any], source: Any, muons_key: str | None,
                             owner: str) -> None:
    """check_rule_inputs for every METMakerAlg of ``makers`` that reads the input's own jets
    (not a varied copy), once per jets key and rule set."""
    input_keys = set(source.keys())
    seen = set()
    for alg in makers:
        maker, jets_key = alg.make_maker(), alg.key("jets")
        if jets_key in input_keys and (jets_key, maker.column_rules()) not in seen:
            seen.add((jets_key, maker.column_rules()))
            check_rule_inputs(maker, source, jets_key, muons_key, owner)


#: how to turn each column-reading rule off
_RULE_OFF = {REMOVE_MUON_JETS: "--set met.remove_muon_jets=False",
             SET_MUON_JET_EM_SCALE: "--set met.set_muon_jet_em_scale=False",
             NNJVT: "METMakerAlg use_r21_jvt_fallback=True"}
