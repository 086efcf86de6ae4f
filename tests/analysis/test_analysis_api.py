"""metflow.analysis as a user meets it: the README snippet (run verbatim), the objects' shape and
columns, chunks (open_physlite ranges, iterate_physlite, from_coffea metadata) that equal the
whole file per event, concurrent calls, the soft-term and significance options, the errors
that name what is wrong, and the public surface."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

from metflow.edm import keys as mk

from analysis_files import FILES, REPO_ROOT, require, terms_of


def snippet() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    found = re.search(r"<!-- analysis-snippet -->\n```python\n(.*?)```\n<!-- /analysis-snippet -->",
                      text, re.S)
    assert found, "README.md has no analysis snippet between the markers"
    return found.group(1)


def test_readme_snippet_runs_verbatim_and_gives_finaltrk(monkeypatch, capsys):
    import awkward as ak

    from metflow.analysis import open_physlite, rebuild_met

    code = snippet()
    assert len(code.strip().splitlines()) <= 5
    path = re.search(r'open_physlite\("([^"]+)"', code).group(1)
    require(REPO_ROOT / path)
    monkeypatch.chdir(REPO_ROOT)
    namespace: dict = {}
    exec(compile(code, "README.md:analysis-snippet", "exec"), namespace)
    met = namespace["met"]
    assert isinstance(met, ak.Array) and len(met) == 100
    assert capsys.readouterr().out.strip() == str(met.FinalTrk.met)
    # the user's selection was applied: the same masks by hand give the same MET, none differ
    ev = open_physlite(REPO_ROOT / path)
    e = ev.electrons
    same = rebuild_met(ev, electrons=(e.pt > 25e3) & (abs(e.eta) < 2.47) & ((e.id & 2) > 0),
                       muons=(ev.muons.pt > 25e3) & (abs(ev.muons.eta) < 2.5))
    assert np.asarray(met.FinalTrk.met).tobytes() == np.asarray(same.FinalTrk.met).tobytes()
    assert not np.array_equal(np.asarray(met.FinalTrk.met), np.asarray(rebuild_met(ev).FinalTrk.met))


def test_objects_are_every_object_of_the_containers(events):
    import awkward as ak

    for kind in ("electrons", "photons", "taus", "muons", "jets"):
        array, container = getattr(events, kind), events.container(kind)
        assert len(array) == events.n_events
        assert np.array_equal(ak.to_numpy(ak.num(array)), container.counts())
        for field in ("pt", "eta", "phi", "m", "px", "py", "pz", "e"):
            assert field in array.fields
        assert np.array_equal(ak.to_numpy(ak.flatten(array.px)), container["px"])
        pt = ak.to_numpy(ak.flatten(array.pt))
        assert np.allclose(pt, np.hypot(container["px"], container["py"]))
    assert {"jvt", "detector_eta", "constit_px", "sumpt_trk_pt500"} <= set(events.jets.fields)
    assert {"energy_loss", "id_track_pt", "type"} <= set(events.muons.fields)
    assert set(events.core_terms.fields) == {mk.SOFT_CLUS_CORE, mk.PV_SOFT_TRK_CORE}
    assert len(events.event_info) == events.n_events and events.truth_met is not None


def test_chunks_equal_the_whole_file(events):
    """Per-event independence: ranges, iterate_physlite steps and coffea-style metadata chunks
    give the whole file's MET, bit for bit."""
    import awkward as ak

    from metflow.analysis import (default_selection, from_coffea, iterate_physlite,
                                  open_physlite, rebuild_met)
    from metflow.algorithms.physlite import PhysliteFile

    whole = rebuild_met(events, **default_selection(events))

    def rebuilt(chunks):
        parts = [rebuild_met(c, **default_selection(c)) for c in chunks]
        return ak.concatenate(parts)

    class CoffeaChunk:   # what a coffea processor hands over: rows + metadata
        def __init__(self, start, stop):
            self.metadata = {"filename": events.path, "entrystart": start, "entrystop": stop}
            self.n = stop - start

        def __len__(self):
            return self.n

    with PhysliteFile(events.path) as pfile:
        ranges = [open_physlite(pfile, a, b) for a, b in ((0, 33), (33, 34), (34, None))]
        coffea = [from_coffea(CoffeaChunk(a, b), file=pfile) for a, b in ((0, 60), (60, 100))]
    for chunks in (ranges, list(iterate_physlite([events.path], step_size=45)), coffea):
        assert [c.entry_start for c in chunks][0] == 0 and chunks[-1].entry_stop == 100
        got = rebuilt(chunks)
        for term in terms_of(whole):
            for field in ("mpx", "mpy", "sumet"):
                assert (np.asarray(got[term][field]).tobytes()
                        == np.asarray(whole[term][field]).tobytes()), (term, field)


def test_uproot_iterate_chunks_pair_with_open_physlite(events):
    """Masks on arrays a user read with uproot.iterate(report=True) line up with
    open_physlite(report.file_path, report.tree_entry_start, report.tree_entry_stop)."""
    import awkward as ak
    import uproot

    from metflow.analysis import open_physlite, rebuild_met
    from metflow.algorithms.physlite import PhysliteFile

    with PhysliteFile(events.path) as pfile:
        branch, tree = pfile.branch_name("AnalysisElectrons", "pt"), pfile.format
    if tree != "TTree":
        pytest.skip("uproot.iterate reads TTrees")
    parts, masks = [], []
    for arrays, report in uproot.iterate(f"{events.path}:CollectionTree", [branch], step_size=40,
                                         report=True):
        chunk = open_physlite(report.file_path, report.tree_entry_start, report.tree_entry_stop)
        mask = arrays[branch] > 20e3
        parts.append(rebuild_met(chunk, electrons=mask))
        masks.append(mask)
    assert len(parts) == 3
    whole = rebuild_met(events, electrons=ak.concatenate(masks))
    got = ak.concatenate(parts)
    assert np.asarray(got.FinalTrk.mpx).tobytes() == np.asarray(whole.FinalTrk.mpx).tobytes()
    assert np.any(np.asarray(whole.RefEle.sumet) > 0)


def test_from_coffea_refuses_a_filtered_or_foreign_chunk(events):
    from metflow.analysis import from_coffea
    from metflow.algorithms.physlite import PhysliteFile

    class Chunk:
        def __init__(self, n, **metadata):
            self.metadata, self.n = metadata, n

        def __len__(self):
            return self.n

    with pytest.raises(ValueError, match="unfiltered chunk"):
        from_coffea(Chunk(7, filename=events.path, entrystart=0, entrystop=10))
    with pytest.raises(ValueError, match="entrystart"):
        from_coffea(Chunk(10, filename=events.path))
    other = next(p for p in FILES.values() if str(p) != str(events.path))
    with PhysliteFile(require(other)) as pfile:
        with pytest.raises(ValueError, match="is not the chunk's"):
            from_coffea(Chunk(10, filename=events.path, entrystart=0, entrystop=10), file=pfile)
    with pytest.raises(ValueError, match="PHYSLITE events in"):
        from_coffea(Chunk(10, filename=events.path, entrystart=0, entrystop=10, treename="Events"))


def test_threads_rebuild_concurrently_from_one_chunk(events):
    """Eight threads, four selections, one shared chunk: each result equals the serial one."""
    from metflow.analysis import default_selection, rebuild_met

    base = default_selection(events)
    options = [dict(base), dict(base, jet_selection="Loose"), dict(base, soft_term="cluster"),
               dict(electrons=events.electrons.pt > 20e3, muons=events.muons.pt > 5e3)]
    serial = [rebuild_met(events, **o) for o in options]
    results: dict = {}
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        for _ in range(5):
            results[i] = rebuild_met(events, **options[i % 4])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        expected = serial[i % 4]
        assert results[i].fields == expected.fields
        for term in terms_of(expected):
            assert (np.asarray(results[i][term].mpx).tobytes()
                    == np.asarray(expected[term].mpx).tobytes()), (i, term)


def test_soft_terms_and_significance(events):
    from metflow.analysis import default_selection, rebuild_met

    masks = default_selection(events)
    tst = rebuild_met(events, **masks, significance=True)
    cst = rebuild_met(events, **masks, soft_term="cluster")
    both = rebuild_met(events, **masks, soft_term="both")
    assert mk.PV_SOFT_TRK in tst.fields and mk.SOFT_CLUS not in tst.fields
    assert mk.FINAL_CLUS in cst.fields and mk.FINAL_TRK not in cst.fields
    assert {mk.FINAL_TRK, mk.FINAL_CLUS} <= set(both.fields)
    for total in (mk.FINAL_TRK, mk.FINAL_CLUS):
        ref = tst if total == mk.FINAL_TRK else cst
        assert np.asarray(both[total].mpx).tobytes() == np.asarray(ref[total].mpx).tobytes()
    sig = tst.significance
    assert set(sig.fields) >= {"s", "sqrt_s", "var_l", "var_t", "rho"}
    s = np.asarray(sig.s)
    assert np.all(np.isfinite(s)) and np.all(s >= 0) and s.max() > 0
    assert np.allclose(np.asarray(sig.met), np.asarray(tst.FinalTrk.met), rtol=1e-6)
    assert "significance" not in rebuild_met(events, **masks).fields


def test_errors_name_the_problem(events):
    import awkward as ak

    from metflow.analysis import rebuild_met

    e = events.electrons
    selected = e[e.pt > 20e3]
    if ak.sum(ak.num(selected)) == ak.sum(ak.num(e)):
        pytest.skip("no electron below 20 GeV in this file")
    with pytest.raises(ValueError, match="unfiltered objects"):
        rebuild_met(events, electrons=selected.pt > 25e3)
    with pytest.raises(ValueError, match="must be boolean"):
        rebuild_met(events, electrons=ak.values_astype(e.pt > 25e3, np.int8))
    with pytest.raises(ValueError, match="both of"):
        rebuild_met(events, kinematics={"jets": events.jets})
    with pytest.raises(ValueError, match="neither"):
        rebuild_met(events, kinematics={"jets": {"pt": events.jets.pt}})
    with pytest.raises(ValueError, match="one object kind"):
        rebuild_met(events, invisible={"electrons": e.pt > 0, "muons": events.muons.pt > 0})
    with pytest.raises(ValueError, match="unknown object kind"):
        rebuild_met(events, kinematics={"electron": e})
    with pytest.raises(ValueError, match="soft_term"):
        rebuild_met(events, soft_term="tst")
    with pytest.raises(ValueError, match="did you mean 'Tight'"):
        rebuild_met(events, jet_selection="Tigth")
    with pytest.raises(ValueError, match="entry range"):
        from metflow.analysis import open_physlite
        open_physlite(events.path, 50, 10)


def test_public_surface():
    import metflow.analysis as api

    public = {n for n in dir(api) if not n.startswith("_")}
    assert set(api.__all__) == public
    for name in api.__all__:
        assert getattr(api, name).__doc__ or name.isupper(), name
