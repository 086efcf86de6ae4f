"""Association maps read from a file are validated (issue 15, "silent wrong results"): a real
met_reco output is corrupted with pyarrow in one way per test, then read by the EDM reader and
by a met_rebuild run; both must refuse it, naming file, key, column and event, and the run must
end with a `metflow: error:` line and exit code 1 instead of a changed MET. The untouched file
passes, and so do the maps of the example PHYSLITE files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from metflow.cli import main
from metflow.edm import keys as K
from metflow.edm.errors import LinkError, MapConsistencyError
from metflow.edm.persistence import read_parquet

# not `from conftest import ...`: in a run over several test folders that name can resolve to
# another folder's conftest
PHYSLITE_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "physlite"
N_EVENTS = 120
MAP = K.met_assoc_key("AntiKt4EMPFlow")
JETS = K.jet_container_key("AntiKt4EMPFlow")


@pytest.fixture(scope="module")
def reco_file(tmp_path_factory):
    """A small met_reco output (maps and the objects they link to), written once."""
    path = tmp_path_factory.mktemp("map_validation") / "met_reco.parquet"
    assert main(["run", "met_reco", "-n", str(N_EVENTS), "--output", str(path), "-q"]) == 0
    return path


@pytest.fixture(scope="module")
def reco(reco_file):
    """The file's content (the reader's view before any corruption)."""
    return read_parquet(reco_file)


def _map_children(table, key=MAP):
    col = table.column(key).combine_chunks()
    return col, dict(zip([f.name for f in col.type], col.flatten()))


def _replace_column(table, key, array):
    index = table.schema.get_field_index(key)
    return table.set_column(index, pa.field(key, array.type, nullable=table.schema.field(key).nullable),
                            array)


def corrupt_map(src, dst, *, field=None, edit=None, metadata=None):
    """Copy ``src`` to ``dst`` with the flat values of one list field of the PFlow map edited in
    place by ``edit(values)``, or the ``obj_container`` field metadata replaced by
    ``metadata(dict)``; every other byte of information is kept."""
    table = pq.read_table(src)
    col, children = _map_children(table)
    fields = list(col.type)
    if field is not None:
        lst = children[field]
        values = lst.values.to_numpy(zero_copy_only=False).copy()
        edit(values)
        children[field] = pa.ListArray.from_arrays(lst.offsets, pa.array(values, lst.type.value_type),
                                                   type=lst.type)
    if metadata is not None:
        i = [f.name for f in fields].index("obj_container")
        fields[i] = fields[i].with_metadata(metadata(dict(fields[i].metadata)))
    new = pa.StructArray.from_arrays([children[f.name] for f in fields], fields=fields)
    pq.write_table(_replace_column(table, MAP, new), dst)
    return dst


def drop_last_jet(src, dst, event):
    """Copy ``src`` to ``dst`` with the last PFlow jet of ``event`` removed from the jets
    (the map still has its association: a jet link past the end of the jets)."""
    table = pq.read_table(src)
    jets = table.column(JETS).combine_chunks()
    off = jets.offsets.to_numpy().astype(np.int64)
    drop = off[event + 1] - 1
    keep = np.delete(np.arange(off[-1]), drop)
    new_off = off.copy()
    new_off[event + 1:] -= 1
    new = pa.ListArray.from_arrays(pa.array(new_off.astype(np.int32)), jets.values.take(pa.array(keep)),
                                   type=jets.type)
    pq.write_table(_replace_column(table, JETS, new), dst)
    return dst


def assert_clean_error(err: str, *needles: str) -> None:
    """A `metflow: error:` line naming what went wrong, and no raw traceback."""
    assert "metflow: error:" in err, err
    assert "Traceback (most recent call last)" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)


def _expect(path, capsys, tmp_path, cls, column, event, *needles):
    """The EDM reader raises ``cls`` naming column and event; a met_rebuild run on the file exits
    1 with a clean error naming file, key, column and event, and writes no output."""
    with pytest.raises(cls) as info:
        read_parquet(path)
    err = info.value
    assert (err.source, err.key, err.column, err.event) == (str(path), MAP, column, event), str(err)
    for needle in needles:
        assert needle in str(err), (needle, str(err))
    out = tmp_path / "rebuilt.parquet"
    code = main(["run", "met_rebuild", "--input", str(path), "--output", str(out), "-q"])
    assert code == 1
    assert_clean_error(capsys.readouterr().err, str(path), MAP, f"column '{column}'", f"event {event}",
                       *needles)
    assert not out.exists() and not os.path.exists(str(out) + ".partial")


def _event_of_object(m, obj):
    return int(m.assoc_event()[m.obj_assoc()[obj]])


def test_uncorrupted_file_passes(reco_file, reco, tmp_path):
    out = tmp_path / "rebuilt.parquet"
    assert main(["run", "met_rebuild", "--input", str(reco_file), "--output", str(out), "-q"]) == 0
    assert out.exists()
    m = reco[MAP]
    # the file exercises every checked field (else a corruption test below could pass vacuously)
    assert m.n_objects and m.ovl_index.size and m.cal_key.size and m.trk_key.size
    assert K.MUONS in m.container_keys and K.ELECTRONS in m.container_keys


def test_object_links_past_the_end_of_muons(reco_file, reco, tmp_path, capsys):
    """The issue's case: 20 Muons links moved past the end changed FinalTrk with exit code 0."""
    m = reco[MAP]
    muons = np.flatnonzero(m.obj_container == m.container_keys.index(K.MUONS))[:20]
    assert muons.size == 20
    n_muons = reco[K.MUONS].counts()

    def edit(values):
        for o in muons:
            values[o] = n_muons[_event_of_object(m, o)] + values[o]   # >= the event's muon count

    bad = corrupt_map(reco_file, tmp_path / "bad.parquet", field="obj_index", edit=edit)
    _expect(bad, capsys, tmp_path, LinkError, "obj_index[Muons]", _event_of_object(m, muons[0]),
            "points past the end of 'Muons'")


def test_key_with_a_bit_beyond_the_object_count(reco_file, reco, tmp_path, capsys):
    m = reco[MAP]
    k = int(np.flatnonzero(np.diff(m.trk_offsets))[0])        # first association with trk entries
    entry = int(m.trk_offsets[k])
    n_obj = int(m.obj_offsets[k + 1] - m.obj_offsets[k])

    def edit(values):
        values[entry] |= np.uint64(1) << np.uint64(n_obj)       # the first bit not allowed

    bad = corrupt_map(reco_file, tmp_path / "bad.parquet", field="trk_key", edit=edit)
    _expect(bad, capsys, tmp_path, MapConsistencyError, "trk_key", int(m.assoc_event()[k]),
            f"has a bit >= its {n_obj} objects")


def test_zero_key(reco_file, reco, tmp_path, capsys):
    m = reco[MAP]
    k = int(np.flatnonzero(np.diff(m.cal_offsets))[0])
    entry = int(m.cal_offsets[k])

    def edit(values):
        values[entry] = 0

    bad = corrupt_map(reco_file, tmp_path / "bad.parquet", field="cal_key", edit=edit)
    _expect(bad, capsys, tmp_path, MapConsistencyError, "cal_key", int(m.assoc_event()[k]), "is zero")


def test_swapped_container_metadata(reco_file, reco, tmp_path, capsys):
    """Muons <-> Electrons in the map's container list: every link now points into the other
    container; the objects' recorded types give it away."""
    m = reco[MAP]

    def swap(meta):
        names = json.loads(meta[b"container_keys"])
        i, j = names.index(K.MUONS), names.index(K.ELECTRONS)
        names[i], names[j] = names[j], names[i]
        return {**meta, b"container_keys": json.dumps(names).encode()}

    first = int(np.flatnonzero(np.isin(m.obj_container, [m.container_keys.index(K.MUONS),
                                                         m.container_keys.index(K.ELECTRONS)]))[0])
    bad = corrupt_map(reco_file, tmp_path / "bad.parquet", metadata=swap)
    _expect(bad, capsys, tmp_path, MapConsistencyError, "obj_type", _event_of_object(m, first),
            "does not match the links")


def test_overlap_index_out_of_range(reco_file, reco, tmp_path, capsys):
    m = reco[MAP]
    p = 0
    owner = int(np.searchsorted(m.ovl_offsets, p, side="right") - 1)
    n_obj = int(np.diff(m.obj_offsets)[m.obj_assoc()[owner]])

    def edit(values):
        values[p] = n_obj

    bad = corrupt_map(reco_file, tmp_path / "bad.parquet", field="ovl_index", edit=edit)
    _expect(bad, capsys, tmp_path, MapConsistencyError, "ovl_index", _event_of_object(m, owner),
            f"overlap index {n_obj}", "out of range")


def test_jet_link_out_of_range(reco_file, reco, tmp_path, capsys):
    """An event loses its last jet while the map keeps that jet's association."""
    event = int(np.flatnonzero(reco[JETS].counts() >= 2)[0])
    n_jets = int(reco[JETS].counts()[event])
    bad = drop_last_jet(reco_file, tmp_path / "bad.parquet", event)
    _expect(bad, capsys, tmp_path, LinkError, "jet_index", event,
            f"{n_jets + 1} associations but '{JETS}' has {n_jets - 1} jets")


def test_jet_link_not_its_position(reco_file, reco, tmp_path, capsys):
    """A jet association pointing at another jet (jet_index_rel != 0) breaks 'one per jet, in
    jet order'."""
    m = reco[MAP]
    a = int(np.flatnonzero(~m.is_misc)[0])
    while not m.is_misc[a + 1]:   # the event's last jet association: jet order still increases
        a += 1

    def edit(values):
        values[a] = 7

    bad = corrupt_map(reco_file, tmp_path / "bad.parquet", field="jet_index_rel", edit=edit)
    _expect(bad, capsys, tmp_path, MapConsistencyError, "jet_index", int(m.assoc_event()[a]),
            "one association per jet in jet order")


@pytest.mark.parametrize("name", ["PHYSLITE_Run2_Zee_example.root", "PHYSLITE_Run3_ttbar_rntuple.root"])
def test_physlite_maps_pass_validation(name):
    """The maps of both example files pass every check, links included (all containers read)."""
    path = PHYSLITE_DATA / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    pytest.importorskip("uproot")
    from metflow.algorithms.physlite.source import PhysliteSource
    from metflow.edm.map_checks import OK, block_offsets, run_kernel

    source = PhysliteSource(str(path), naming="atlas")
    block = source.read(0, source.n_events())   # raises on any violation
    m = block["METAssoc_AnalysisMET"]
    offsets = block_offsets(block)
    assert set(m.container_keys) | {m.jet_key} <= set(offsets)   # every link was range-checked
    assert run_kernel(m, offsets)[0] == OK
    assert m.n_objects > 0 and m.cal_key.size > 0


def test_physlite_link_past_the_end_names_file_branch_and_event(tmp_path):
    """A PHYSLITE map whose link points past its container is refused naming file, the
    objectLinks branch, the event and its run/event number (container sizes shrunk instead of
    editing the ROOT file)."""
    path = PHYSLITE_DATA / "PHYSLITE_Run2_Zee_example.root"
    if not path.exists():
        pytest.skip(f"{path} not available")
    pytest.importorskip("uproot")
    from metflow.algorithms.physlite import PhysliteFile, convert
    from metflow.algorithms.physlite.errors import CorruptFileError
    from metflow.algorithms.physlite.naming import naming_for
    from metflow.algorithms.physlite.source import PhysliteSource

    naming = naming_for("atlas")
    block = PhysliteSource(str(path), naming="atlas").read(0, 100)
    m = block[naming.met_map]
    first = int(np.flatnonzero(m.obj_container == m.container_keys.index(naming.electrons))[0])
    event = _event_of_object(m, first)
    counts = {k: block[k].counts().copy() for k in (naming.electrons, naming.photons, naming.muons,
                                                     naming.taus, naming.jets)}
    counts[naming.electrons][event] = m.obj_index[first]
    with pytest.raises(CorruptFileError,
                       match=rf"{path.name}: branch '[^']*objectLinks', event {event} \(run \d+, "
                             rf"event number \d+\): .*points past the end of '{naming.electrons}'"):
        convert.read_map_columns(PhysliteFile(str(path)), 0, 100, naming, counts)
