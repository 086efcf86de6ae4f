"""Outputs of the three MET jobs equal reference digests recorded before a refactoring.

Each job runs on a fixed input; every output column is digested from its decoded values (Arrow
IPC of the table, so the digest does not depend on Parquet encoding details). A change of any
value, name, type or order changes the digest. After a deliberate physics change, regenerate
with `python tests/test_reference_outputs.py --update` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = HERE / "reference_outputs.json"
PHYSLITE = HERE.parents[0].parent / "shared" / "data" / "physlite"
N_EVENTS = 400

CASES = {
    "met_reco": dict(sets=["synthetic.process='mix'"], inputs=[]),
    "met_rebuild": dict(sets=["synthetic.process='ttbar'",
                              "met.systematics=['MET_SoftTrk_ResoPara','JET_JES__1up','MET_JetTrk_ScaleUp']"],
                        inputs=[]),
    "met_rebuild_topo": dict(job="met_rebuild", sets=["synthetic.process='zmumu'",
                                                       "met.jet_collection='AntiKt4EMTopo'",
                                                       "met.invisible='muons'"], inputs=[]),
    "physlite_met": dict(sets=["physlite.sizes=False"], inputs=[
        PHYSLITE / "PHYSLITE_Run2_Zee_example.root", PHYSLITE / "PHYSLITE_Run3_ttbar_rntuple.root"]),
}


def digest_table(table: pa.Table) -> dict[str, str]:
    """sha256 of each column's values (Arrow IPC stream of a one-column table)."""
    out = {}
    for name in table.column_names:
        sink = pa.BufferOutputStream()
        one = pa.table({name: table.column(name).combine_chunks()})
        with pa.ipc.new_stream(sink, one.schema) as writer:
            writer.write_table(one)
        out[name] = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()
    return out


def run_case(name: str, tmp: pathlib.Path) -> dict[str, str]:
    from metflow.framework.runner import RunOptions, configure_job, run_job

    case = CASES[name]
    output = tmp / f"{name}.parquet"
    events = None if name == "physlite_met" else N_EVENTS
    job, _ = configure_job(case.get("job", name), sets=case["sets"],
                           inputs=[str(p) for p in case["inputs"]], output=str(output), events=events)
    run_job(job, RunOptions(quiet=True, progress=False, events=events, threads=2, batch_size=64))
    return digest_table(pq.read_table(output))


@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_equal_the_reference(name, tmp_path):
    if name == "physlite_met":
        pytest.importorskip("uproot")
        if not all(p.exists() for p in CASES[name]["inputs"]):
            pytest.skip("PHYSLITE example files not present")
    want = json.loads(REFERENCE.read_text())[name]
    got = run_case(name, tmp_path)
    assert list(got) == list(want), f"{name}: output columns changed"
    changed = [c for c in want if got[c] != want[c]]
    assert not changed, f"{name}: values changed in {changed}"


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_reference_outputs.py --update")
    with tempfile.TemporaryDirectory() as tmp:
        digests = {name: run_case(name, pathlib.Path(tmp)) for name in sorted(CASES)}
    REFERENCE.write_text(json.dumps(digests, indent=1) + "\n")
    print(f"wrote {REFERENCE}")
