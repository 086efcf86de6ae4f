"""A MET output says which map it was rebuilt from: `met_rebuild --set
met.jet_collection=AntiKt4EMTopo` writes MET_AntiKt4EMTopo, never MET_AntiKt4EMPFlow."""

from __future__ import annotations

import pyarrow.parquet as pq

from reliability_helpers import metflow


def test_met_key_follows_the_jet_collection(tmp_path):
    out = tmp_path / "topo.parquet"
    run = metflow("run", "met_rebuild", "-n", "40", "-q", "--output", str(out),
                  "--set", "met.jet_collection=AntiKt4EMTopo", "--set", "met.significance=False")
    assert run.returncode == 0, run.stderr
    assert pq.read_table(out).column_names == ["EventInfo", "MET_AntiKt4EMTopo"]
