"""met_rebuild's JVT rule (flag met.jvt): 'auto' applies ATLAS's NNJvt rule to PHYSLITE imports
(jets with detector_eta, whose jvt is the stored NNJvtPass) and the R21 fallback to metflow
events. On the Run-2 Z->ee file the two rules differ (event 93: a jet outside the NNJvt range),
so 'auto' is seen to pick NNJvt there."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

RUN2 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "physlite" / \
    "PHYSLITE_Run2_Zee_example.root"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    pytest.importorskip("uproot")
    if not RUN2.exists():
        pytest.skip(f"{RUN2} not present")
    from metflow.cli import main
    out = tmp_path_factory.mktemp("jvt") / "run2.parquet"
    assert main(["import-physlite", str(RUN2), "--naming", "metflow", "-o", str(out)]) == 0
    return out


def _rebuild(tmp_path, source, rule):
    from metflow.cli import main
    out = tmp_path / f"{rule}.parquet"
    assert main(["run", "met_rebuild", "--input", str(source), "--quiet", "--output", str(out),
                 "--set", f"met.jvt={rule}", "--set", "met.significance=False"]) == 0
    return pq.read_table(out).column("MET_AntiKt4EMPFlow").combine_chunks()


def test_auto_is_nnjvt_on_a_physlite_import(tmp_path, imported):
    auto, nnjvt, r21 = (_rebuild(tmp_path, imported, rule) for rule in ("auto", "nnjvt", "r21"))
    assert auto.equals(nnjvt)
    assert not auto.equals(r21)


def test_auto_is_r21_on_metflow_events(tmp_path):
    from metflow.cli import main
    events = tmp_path / "reco.parquet"
    assert main(["run", "met_reco", "-n", "200", "--quiet", "--output", str(events)]) == 0
    auto, r21 = (_rebuild(tmp_path, events, rule) for rule in ("auto", "r21"))
    assert auto.equals(r21)


def test_unknown_rule_is_a_configuration_error(tmp_path, capsys):
    from metflow.cli import main
    assert main(["run", "met_rebuild", "-n", "10", "--quiet", "--set", "met.jvt=r22"]) == 2
    assert "met.jvt" in capsys.readouterr().err
