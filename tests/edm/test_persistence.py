import io
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from metflow.edm import keys
from metflow.edm.containers import Container, EventRecord, schema_for
from metflow.edm.errors import (CorruptInputError, LinkError, NonFiniteError,
                                SchemaError, TooManyObjectsError, UnknownKeyError)
from metflow.edm.inspect import inspect_file
from metflow.edm.met import MissingETAssociationHelper, MissingETAssociationMap, MissingETContainer, UsagePolicy
from metflow.edm.persistence import (column_sizes, decode, map_from_arrow, map_to_arrow, read_parquet,
                                     write_parquet)

from _factories import objects_needed, random_container, representative_core, representative_map
from strategies import association_maps, containers, met_containers

SCHEMA_KEYS = [keys.PRIMARY_VERTICES, keys.TRACKS, keys.CLUSTERS, keys.PFOS, "AntiKt4EMPFlowJets",
               "AntiKt4EMTopoJets", keys.ELECTRONS, keys.PHOTONS, keys.MUONS, keys.TAUS]
HYP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])


def _no_tmp_left(directory):
    return [p for p in os.listdir(directory) if p.endswith(".tmp")] == []


# ---------------------------------------------------------------------------------------------
# round trips

@HYP
@given(data=st.data(), key=st.sampled_from(SCHEMA_KEYS))
def test_containers_round_trip_bit_exact(tmp_path, data, key):
    c = data.draw(containers(key))
    via_arrow = Container.from_arrow(c.to_arrow(), schema_for(key), key=key)
    assert via_arrow.equals(c)
    path = tmp_path / "c.parquet"
    write_parquet(path, {key: c})
    back = read_parquet(path)[key]
    assert back.equals(c)
    for name, col in c.columns.items():
        if isinstance(col, np.ndarray):
            assert back[name].dtype == col.dtype   # float32 stays float32


@HYP
@given(m=association_maps())
def test_maps_round_trip_bit_exact(tmp_path, m):
    m.check_keys()
    assert map_from_arrow(map_to_arrow(m), key=m.key).equals(m)
    path = tmp_path / "m.parquet"
    write_parquet(path, {m.key: m})
    back = read_parquet(path)[m.key]
    assert back.equals(m)
    assert back.cal_px.dtype == np.float32 and back.cal_key.dtype == np.uint64


@HYP
@given(c=met_containers())
def test_met_containers_round_trip_bit_exact(tmp_path, c):
    key = keys.met_key("Test")
    assert MissingETContainer.from_arrow(c.to_arrow()).equals(c)
    if c.n_events == 0:
        return
    path = tmp_path / "met.parquet"
    write_parquet(path, {key: c})
    assert read_parquet(path)[key].equals(c)


@HYP
@given(m=association_maps(), data=st.data())
def test_helper_flags_never_change_the_map(m, data):
    before = {n: a.tobytes() for n, a in m.arrays().items()}
    arrow_before = map_to_arrow(m)
    m.freeze()  # a recorded map is read-only: any write attempt would raise
    for _ in range(2):  # two helpers, same map
        h = MissingETAssociationHelper(m)
        for a in range(m.n_associations):
            view = m.association(a)
            for k, (cont, idx, _) in enumerate(view.objects()):
                policy = data.draw(st.sampled_from(list(UsagePolicy)))
                h.select_if_no_overlaps(view.event, cont, idx, policy)
                view.overlap_cal_vec(h), view.overlap_trk_vec(h), view.has_overlaps(h, k, policy)
    assert {n: a.tobytes() for n, a in m.arrays().items()} == before
    assert map_to_arrow(m).equals(arrow_before)


def test_event_records_and_full_block_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    n = 6
    block = {keys.PRIMARY_VERTICES: random_container(keys.PRIMARY_VERTICES, n, rng)}
    counts = lambda k: block[k].counts()
    block[keys.TRACKS] = random_container(keys.TRACKS, n, rng, target_counts={keys.PRIMARY_VERTICES: counts(keys.PRIMARY_VERTICES)})
    block[keys.CLUSTERS] = random_container(keys.CLUSTERS, n, rng)
    block[keys.PFOS] = random_container(keys.PFOS, n, rng, target_counts={keys.TRACKS: counts(keys.TRACKS), keys.CLUSTERS: counts(keys.CLUSTERS)})
    tc = {k: counts(k) for k in (keys.TRACKS, keys.CLUSTERS, keys.PFOS)}
    m = representative_map(n)
    for k in ("AntiKt4EMPFlowJets", keys.ELECTRONS, keys.PHOTONS, keys.MUONS, keys.TAUS):
        need = objects_needed(m, k) if k != "AntiKt4EMPFlowJets" else np.diff(m.assoc_offsets) - 1
        block[k] = random_container(k, n, rng, target_counts=tc, min_counts=need)
    block[keys.EVENT_INFO] = EventRecord(schema_for(keys.EVENT_INFO), {
        "run_number": np.full(n, 410000), "event_number": np.arange(n), "mu": rng.random(n) * 60,
        "weight": np.ones(n)})
    block[keys.TRUTH_MET] = EventRecord(schema_for(keys.TRUTH_MET), {
        "nonint_mpx": rng.normal(size=n), "nonint_mpy": rng.normal(size=n), "nonint_sumet": rng.random(n)})
    block[keys.met_assoc_key("AntiKt4EMPFlow")] = m
    block[keys.met_core_key("AntiKt4EMPFlow")] = representative_core(n)
    path = tmp_path / "block.parquet"
    write_parquet(path, block)
    back = read_parquet(path)
    assert set(back) == set(block)
    for k, obj in block.items():
        assert back[k].equals(obj), k
    subset = read_parquet(path, keys=[keys.ELECTRONS, keys.CLUSTERS])
    assert set(subset) == {keys.ELECTRONS, keys.CLUSTERS}


# ---------------------------------------------------------------------------------------------
# bad input: each error names the file, the key/column and the event

def _electron_arrays(n_events=3):
    rng = np.random.default_rng(1)
    c = random_container(keys.ELECTRONS, n_events, rng, max_objects=2)
    return c


def _write_raw(path, columns: dict):
    pq.write_table(pa.table(columns), path)


def _struct_replace(list_array, name, new_child):
    s = list_array.values
    names = s.type.names
    children = [new_child if f == name else s.field(f) for f in names]
    if name not in names:
        children.append(new_child)
        names = names + [name]
    return pa.ListArray.from_arrays(list_array.offsets, pa.StructArray.from_arrays(children, names=names))


def _struct_drop(list_array, name):
    s = list_array.values
    names = [f for f in s.type.names if f != name]
    return pa.ListArray.from_arrays(list_array.offsets,
                                    pa.StructArray.from_arrays([s.field(f) for f in names], names=names))


def test_missing_required_column(tmp_path):
    el = _electron_arrays()
    path = str(tmp_path / "missing.parquet")
    _write_raw(path, {keys.ELECTRONS: _struct_drop(el.to_arrow(), "pz")})
    with pytest.raises(SchemaError) as info:
        read_parquet(path)
    err = info.value
    assert (err.source, err.key, err.column) == (path, keys.ELECTRONS, "pz")
    assert path in str(err) and "'Electrons'" in str(err) and "'pz'" in str(err)


def test_wrong_dtype(tmp_path):
    el = _electron_arrays()
    path = str(tmp_path / "dtype.parquet")
    _write_raw(path, {keys.ELECTRONS: _struct_replace(el.to_arrow(), "px", pa.array(el["px"].astype(np.float64)))})
    with pytest.raises(SchemaError, match="expected float") as info:
        read_parquet(path)
    assert (info.value.source, info.value.key, info.value.column) == (path, keys.ELECTRONS, "px")


def test_offsets_not_monotonic():
    el = _electron_arrays(4)
    good = el.to_arrow()
    offsets = np.asarray(good.offsets).copy()
    offsets[2], offsets[3] = offsets[3] + 1, offsets[2]
    bad = pa.ListArray.from_buffers(good.type, len(good), [None, pa.py_buffer(offsets.astype(np.int32))],
                                    children=[good.values])
    with pytest.raises(SchemaError, match="not monotonic") as info:
        decode(keys.ELECTRONS, bad, source="in.parquet")
    assert info.value.key == keys.ELECTRONS and info.value.source == "in.parquet" and info.value.event == 2
    with pytest.raises(SchemaError, match="not monotonic"):
        Container(el.schema, offsets, el.columns, key=keys.ELECTRONS)


def test_link_out_of_range_on_read_and_write(tmp_path):
    rng = np.random.default_rng(2)
    clusters = random_container(keys.CLUSTERS, 3, rng, max_objects=2)
    counts = clusters.counts().copy()
    el = random_container(keys.ELECTRONS, 3, rng, target_counts={keys.CLUSTERS: counts + 5})
    bad_event = int(np.flatnonzero(el["clusters"].values >= counts[el.event_of_object()[
        np.repeat(np.arange(len(el)), el["clusters"].counts())]])[0])  # noqa: F841 (exists by construction)
    path = str(tmp_path / "links.parquet")
    with pytest.raises(LinkError) as info:
        write_parquet(path, {keys.CLUSTERS: clusters, keys.ELECTRONS: el})
    assert info.value.source == path and info.value.key == keys.ELECTRONS and info.value.event is not None
    assert not os.path.exists(path) and _no_tmp_left(tmp_path)
    _write_raw(path, {keys.CLUSTERS: clusters.to_arrow(), keys.ELECTRONS: el.to_arrow()})
    with pytest.raises(LinkError) as info:
        read_parquet(path)
    err = info.value
    assert err.source == path and err.key == keys.ELECTRONS and err.column in ("clusters",)
    assert f"event {err.event}" in str(err) and "TopoClusters" in str(err)


def test_map_link_out_of_range(tmp_path):
    m = representative_map(4)
    rng = np.random.default_rng(0)
    small = random_container(keys.MUONS, 4, rng, max_objects=0)  # no muons at all
    path = str(tmp_path / "maplinks.parquet")
    with pytest.raises(LinkError) as info:
        write_parquet(path, {m.key: m, keys.MUONS: small})
    assert info.value.key == m.key and "Muons" in str(info.value) and info.value.event is not None


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_momenta(tmp_path, value):
    el = _electron_arrays(3)
    px = el["px"].copy()
    px[-1] = value
    bad = el.with_columns(px=px)
    path = str(tmp_path / "nan.parquet")
    with pytest.raises(NonFiniteError) as info:
        write_parquet(path, {keys.ELECTRONS: bad})
    assert info.value.column == "px" and info.value.event == 2 and info.value.source == path
    assert not os.path.exists(path) and _no_tmp_left(tmp_path)
    _write_raw(path, {keys.ELECTRONS: bad.to_arrow()})
    with pytest.raises(NonFiniteError) as info:
        read_parquet(path)
    assert (info.value.source, info.value.key, info.value.column, info.value.event) == (path, keys.ELECTRONS, "px", 2)


def test_non_finite_in_map(tmp_path):
    m = representative_map(3)
    arrays = m.arrays()
    arrays["jettrk_e"] = arrays["jettrk_e"].copy()
    arrays["jettrk_e"][int(m.assoc_offsets[2])] = np.nan
    bad = MissingETAssociationMap(m.container_keys, jet_key=m.jet_key, key=m.key, **arrays)
    path = str(tmp_path / "mapnan.parquet")
    _write_raw(path, {m.key: map_to_arrow(bad)})
    with pytest.raises(NonFiniteError) as info:
        read_parquet(path)
    assert (info.value.source, info.value.key, info.value.column, info.value.event) == (path, m.key, "jettrk_e", 2)


def test_too_many_objects_in_file(tmp_path):
    m = representative_map(2)
    rows = map_to_arrow(m).to_pylist()
    ev = rows[1]   # give the first association (jet 0) of event 1 70 more objects
    extra = 70 - ev["n_obj"][0]
    ev["n_obj"][0] = 70
    for name, value in (("obj_container", 0), ("obj_index", 0), ("obj_type", 6), ("n_ovl", 0)):
        ev[name] = [value] * extra + ev[name]
    arr = pa.array(rows, type=map_to_arrow(m).type)
    path = str(tmp_path / "big.parquet")
    _write_raw(path, {m.key: arr})
    with pytest.raises(TooManyObjectsError) as info:
        read_parquet(path)
    err = info.value
    assert (err.source, err.key, err.event, err.jet_index, err.n_objects) == (path, m.key, 1, 0, 70)
    assert path in str(err) and "event 1" in str(err) and "jet 0" in str(err)


def test_map_lists_with_inconsistent_lengths(tmp_path):
    m = representative_map(3)
    rows = map_to_arrow(m).to_pylist()
    rows[2]["cal_px"] = rows[2]["cal_px"] + [1.0]
    path = str(tmp_path / "len.parquet")
    _write_raw(path, {m.key: pa.array(rows, type=map_to_arrow(m).type)})
    with pytest.raises(SchemaError) as info:
        read_parquet(path)
    assert (info.value.source, info.value.key, info.value.column, info.value.event) == (path, m.key, "cal_px", 2)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_truncated_or_corrupt_file(tmp_path, damage):
    path = str(tmp_path / "x.parquet")
    write_parquet(path, {keys.ELECTRONS: _electron_arrays()})
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write({"truncate": data[: len(data) // 2], "garbage": b"not parquet at all" * 10, "empty": b""}[damage])
    with pytest.raises(CorruptInputError) as info:
        read_parquet(path)
    assert info.value.source == path and path in str(info.value)


def test_corrupt_page_inside_valid_footer(tmp_path):
    path = str(tmp_path / "pages.parquet")
    write_parquet(path, {keys.ELECTRONS: random_container(keys.ELECTRONS, 200, np.random.default_rng(1))},
                  compression="zstd")
    data = bytearray(open(path, "rb").read())
    for i in range(8, len(data) // 2):
        data[i] ^= 0x5A
    open(path, "wb").write(bytes(data))
    with pytest.raises((CorruptInputError, SchemaError)) as info:
        read_parquet(path)
    assert info.value.source == path


def test_unknown_key_and_missing_file(tmp_path):
    with pytest.raises(UnknownKeyError, match="did you mean"):
        decode("Elektrons", _electron_arrays().to_arrow(), source="f.parquet")
    path = str(tmp_path / "ok.parquet")
    write_parquet(path, {keys.ELECTRONS: _electron_arrays()})
    with pytest.raises(UnknownKeyError) as info:
        read_parquet(path, keys=["Muons"])
    assert info.value.source == path and "Muons" in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_parquet(str(tmp_path / "nope.parquet"))


def test_map_missing_metadata_or_field(tmp_path):
    m = representative_map(2)
    arr = map_to_arrow(m)
    plain = pa.StructArray.from_arrays(arr.flatten(), fields=[f.remove_metadata() for f in arr.type])
    with pytest.raises(SchemaError, match="container_keys") as info:
        decode(m.key, plain, source="f.parquet")
    assert info.value.key == m.key and info.value.source == "f.parquet"
    names = [n for n in arr.type.names if n != "jettrk_e"]
    no_e = pa.StructArray.from_arrays([arr.field(n) for n in names], fields=[arr.type.field(n) for n in names])
    with pytest.raises(SchemaError) as info:
        decode(m.key, no_e)
    assert info.value.column == "jettrk_e"


def test_block_with_inconsistent_event_counts_writes_nothing(tmp_path):
    path = str(tmp_path / "n.parquet")
    with pytest.raises(SchemaError, match="events") as info:
        write_parquet(path, {keys.ELECTRONS: _electron_arrays(3), keys.MUONS: random_container(
            keys.MUONS, 4, np.random.default_rng(0))})
    assert info.value.source == path and not os.path.exists(path) and _no_tmp_left(tmp_path)


def test_existing_file_untouched_when_write_fails(tmp_path):
    path = str(tmp_path / "keep.parquet")
    write_parquet(path, {keys.ELECTRONS: _electron_arrays(3)})
    before = open(path, "rb").read()
    el = _electron_arrays(3)
    px = el["px"].copy()
    px[0] = np.nan
    with pytest.raises(NonFiniteError):
        write_parquet(path, {keys.ELECTRONS: el.with_columns(px=px)})
    assert open(path, "rb").read() == before and _no_tmp_left(tmp_path)


# ---------------------------------------------------------------------------------------------
# size and inspect

def test_map_layout_is_compact(tmp_path):
    """The chosen layout beats plain Arrow->Parquet defaults; prints bytes/event."""
    n = 1000
    m, core = representative_map(n, seed=11), representative_core(n)
    path = tmp_path / "size.parquet"
    write_parquet(path, {m.key: m, core.key: core})
    sizes = column_sizes(path)
    naive = tmp_path / "naive.parquet"
    pq.write_table(pa.table({m.key: m.to_arrow(), core.key: core.to_arrow()}), naive)
    naive_sizes = column_sizes(naive)
    ours = {k: v["compressed"] / n for k, v in sizes.items()}
    theirs = {k: v["compressed"] / n for k, v in naive_sizes.items()}
    print(f"\nbytes/event ours={ours} default-parquet={theirs} "
          f"({m.n_associations / n:.2f} assoc, {m.n_objects / n:.2f} objects, "
          f"{len(m.cal_key) / n:.2f} cal, {len(m.trk_key) / n:.2f} trk entries per event)")
    assert ours[m.key] < theirs[m.key]
    # lower bound: the float payload itself (32-bit random mantissas do not compress)
    floats = sum(getattr(m, n_).nbytes for n_ in m.arrays() if getattr(m, n_).dtype == np.float32) / n
    assert ours[m.key] < 1.6 * floats


def test_inspect_prints_keys_counts_and_sizes(tmp_path):
    n = 20
    m = representative_map(n)
    el = random_container(keys.ELECTRONS, n, np.random.default_rng(0), max_objects=2)
    path = str(tmp_path / "i.parquet")
    write_parquet(path, {m.key: m, keys.ELECTRONS: el}, validate=False)
    out = io.StringIO()
    assert inspect_file(path, out) == 0
    text = out.getvalue()
    assert f"{n} events" in text and m.key in text and keys.ELECTRONS in text
    assert f"{len(el) / n:.2f} objects/event" in text
    assert f"{m.n_associations / n:.2f} associations/event" in text
    per_event = column_sizes(path)[keys.ELECTRONS]["compressed"] / n
    assert f"{per_event:.1f}" in text


def test_inspect_run_reports_corrupt_file(tmp_path, capsys):
    import argparse
    from metflow.edm import inspect
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"xx")
    parser = argparse.ArgumentParser()
    inspect.add_arguments(parser)
    assert inspect.run(parser.parse_args([str(path)])) == 2
    assert str(path) in capsys.readouterr().err


RUN2_PHYSLITE = "/work/shared/data/physlite/PHYSLITE_Run2_Zee_example.root"
ATLAS_BYTES_PER_EVENT = 472 + 54   # METAssoc_AnalysisMET + MET_Core_AnalysisMET on that file


@pytest.mark.skipif(not os.path.exists(RUN2_PHYSLITE), reason="Run-2 PHYSLITE example not available")
def test_real_physlite_map_round_trip_and_size(tmp_path):
    """The ATLAS map of the Run-2 PHYSLITE example: bit-exact round trip, <= half ATLAS's bytes."""
    pytest.importorskip("uproot")
    source_mod = pytest.importorskip("metflow.algorithms.physlite.source")
    src = source_mod.PhysliteSource(RUN2_PHYSLITE)
    src.select(["METAssoc_AnalysisMET", "MET_Core_AnalysisMET"])
    block = src.read(0, src.n_events())
    block["METAssoc_AnalysisMET"].check_keys()
    path = tmp_path / "physlite_met.parquet"
    write_parquet(path, block)
    back = read_parquet(path)
    for k, obj in block.items():
        assert back[k].equals(obj), k
    n = src.n_events()
    per_event = sum(v["compressed"] for v in column_sizes(path).values()) / n
    print(f"\nRun-2 PHYSLITE map+core: {per_event:.1f} B/event (ATLAS {ATLAS_BYTES_PER_EVENT})")
    assert per_event <= ATLAS_BYTES_PER_EVENT / 2


def test_stream_writer_row_groups_do_not_depend_on_write_blocks_and_abort_leaves_nothing(tmp_path):
    import pyarrow.parquet as pq

    from metflow.edm.persistence import ParquetStreamWriter
    rng = np.random.default_rng(5)
    clusters = random_container(keys.CLUSTERS, 10, rng, max_objects=3)
    paths = []
    for cuts in ((0, 10), (0, 3, 7, 10), (0, 1, 2, 9, 10)):
        path = tmp_path / f"s{len(cuts)}.parquet"
        with ParquetStreamWriter(path, row_group_size=4) as writer:
            for a, b in zip(cuts, cuts[1:]):
                writer.write({keys.CLUSTERS: clusters.slice(a, b)})
        meta = pq.ParquetFile(path).metadata
        assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [4, 4, 2]
        paths.append(path.read_bytes())
    assert paths[0] == paths[1] == paths[2]
    failed = tmp_path / "failed.parquet"
    with pytest.raises(RuntimeError):
        with ParquetStreamWriter(failed, row_group_size=4) as writer:
            writer.write({keys.CLUSTERS: clusters})
            raise RuntimeError("interrupted")
    assert list(tmp_path.glob("failed.parquet*")) == []
