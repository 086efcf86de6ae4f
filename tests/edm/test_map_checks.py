"""edm.map_checks: every invariant of a map read from a file, one small hand-built map per
violation; the kernel agrees with the NumPy key/overlap checks (check_keys) on random maps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metflow.edm.errors import LinkError, MapConsistencyError
from metflow.edm.map_checks import BAD_OFFSETS, OK, check_block, check_map, run_kernel
from metflow.edm.met import MissingETAssociationMap, ObjectType

from _factories import random_container
from strategies import association_maps

CONTAINERS = ("Muons", "Electrons")
JETS = "AntiKt4EMPFlowJets"
MU, EL = ObjectType.Muon, ObjectType.Electron
V = (1.0, 2.0, 3.0, 4.0, 5.0)


def _events():
    """Two events: (jet 0, jet 1, misc) with a muon/electron overlap in jet 1, and (misc)."""
    jet0 = {"jet_index": 0, "objects": [("Muons", 0, MU)], "cal": [(1, *V)], "trk": [(1, *V)]}
    jet1 = {"jet_index": 1, "objects": [("Muons", 1, MU), ("Electrons", 0, EL)],
            "overlaps": [[(1, 2)], [(0, 2)]], "cal": [(1, *V), (3, *V)], "trk": [(2, *V)]}
    misc = {"jet_index": -1, "objects": [("Electrons", 1, EL)], "cal": [(1, *V)]}
    return [[jet0, jet1, misc], [{"jet_index": -1, "objects": [("Muons", 0, MU)], "trk": [(1, *V)]}]]


def _map(**replace) -> MissingETAssociationMap:
    """The map of :func:`_events` with some arrays replaced (values as given)."""
    m = MissingETAssociationMap.from_events(_events(), CONTAINERS, jet_key=JETS, key="METAssoc_X")
    arrays = m.arrays()
    for name, edit in replace.items():
        arrays[name] = edit(arrays[name].copy())
    return MissingETAssociationMap(m.container_keys, jet_key=JETS, key="METAssoc_X", **arrays)


def _set(i, value):
    def edit(a):
        a[i] = value
        return a
    return edit


def _offsets(*counts):
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


SIZES = {"Muons": _offsets(2, 1), "Electrons": _offsets(2, 0), JETS: _offsets(2, 0)}


def test_valid_map_passes_with_and_without_containers():
    m = _map()
    assert check_map(m) is m
    assert check_map(m, SIZES) is m
    assert run_kernel(m, SIZES)[0] == OK


@pytest.mark.parametrize("replace, column, event, message", [
    (dict(obj_type=_set(0, int(EL))), "obj_type", 0, "has obj_type Electron but 'Muons' holds Muon"),
    (dict(obj_container=_set(0, 2)), "obj_container", 0, "obj_container 2 but the map names 2"),
    (dict(obj_index=_set(3, -1)), "obj_index", 0, "negative object index"),
    (dict(ovl_index=_set(0, 2)), "ovl_index", 0, "overlap index 2 of object 0 out of range"),
    (dict(ovl_index=_set(0, 0)), "ovl_index", 0, "object 0 lists itself"),
    (dict(ovl_type=_set(1, 4)), "ovl_index", 0, "has no mirror"),
    (dict(cal_key=_set(2, 0)), "cal_key", 0, "cal_key entry 1 is zero"),
    (dict(cal_key=_set(2, 4)), "cal_key", 0, "has a bit >= its 2 objects"),
    (dict(cal_key=_set(2, 1)), "cal_key", 0, "cal_key 0x1 appears twice"),
    (dict(trk_key=_set(2, 2)), "trk_key", 1, "trk_key 0x2 has a bit >= its 1 objects"),
    (dict(jet_index=_set(1, 2)), "jet_index", 0, "association 1 links jet 2"),
    (dict(jet_index=_set(2, 0)), "jet_index", 0, "misc association links jet 0"),
    (dict(is_misc=_set(1, True), jet_index=_set(1, -1)), "is_misc", 0, "exactly one misc association"),
])
def test_each_violation_is_named(replace, column, event, message):
    with pytest.raises(MapConsistencyError) as info:
        check_map(_map(**replace), source="f.parquet", first=100)
    err = info.value
    assert (err.source, err.key, err.column, err.event) == ("f.parquet", "METAssoc_X", column, 100 + event)
    assert message in str(err)


def test_unsorted_unique_keys_pass():
    """identifyOverlaps writes keys in increasing order, but unique unsorted keys are valid."""
    def swap(a):
        a[1], a[2] = a[2], a[1]
        return a
    m = _map(cal_key=swap)
    assert list(m.cal_key[1:3]) == [3, 1]
    assert check_map(m, SIZES) is m


def test_links_against_container_sizes():
    m = _map()
    sizes = dict(SIZES, Muons=_offsets(2, 0))               # event 1 links Muons[0]
    with pytest.raises(LinkError, match=r"object 0 \(Muons\[0\]\) points past the end of 'Muons', which "
                                        r"has 0 objects") as info:
        check_map(m, sizes, first=10)
    assert (info.value.column, info.value.event) == ("obj_index[Muons]", 11)
    with pytest.raises(LinkError, match=r"3 associations but 'AntiKt4EMPFlowJets' has 3 jets") as info:
        check_map(m, dict(SIZES, **{JETS: _offsets(3, 0)}))
    assert (info.value.column, info.value.event) == ("jet_index", 0)
    assert check_map(m, {"Muons": SIZES["Muons"]})            # containers not given: not checked


def test_unknown_container_must_hold_one_type():
    events = [[{"jet_index": -1, "objects": [("Gizmos", 0, MU), ("Gizmos", 1, EL)]}]]
    m = MissingETAssociationMap.from_events(events, ("Gizmos",), key="METAssoc_X")
    with pytest.raises(MapConsistencyError, match="other objects of 'Gizmos' have Muon"):
        check_map(m)


def test_bad_offsets_are_refused():
    m = _map()
    arrays = {n: getattr(m, n) for n in ("assoc_offsets", "jet_index", "is_misc", "obj_offsets",
                                          "obj_container", "obj_index", "obj_type", "ovl_offsets",
                                          "ovl_index", "ovl_type", "cal_offsets", "cal_key",
                                          "trk_offsets", "trk_key")}

    class Raw:   # the kernel takes any object with the map's arrays (the constructor refuses these)
        container_keys, jet_key, key, n_events = CONTAINERS, JETS, "METAssoc_X", 2

    raw = Raw()
    raw.__dict__.update(arrays)
    assert run_kernel(raw)[0] == OK
    raw.cal_offsets = np.array([0, 1, 3, 2, 4], np.int64)   # decreasing
    assert run_kernel(raw)[0] == BAD_OFFSETS


def test_check_block_uses_the_block_containers():
    m = _map()
    check_block({"METAssoc_X": m})                            # no containers: intra-map only
    electrons = random_container("Electrons", 2, np.random.default_rng(1), min_counts=np.array([2, 0]))
    check_block({"METAssoc_X": m, "Electrons": electrons})
    with pytest.raises(LinkError, match=r"Electrons\[1\]\) points past the end of 'Electrons'") as info:
        check_block({"METAssoc_X": m, "Electrons": _Sized(_offsets(1, 0))}, source="f", first=5)
    assert (info.value.source, info.value.key, info.value.event) == ("f", "METAssoc_X", 5)


class _Sized:
    """Anything with per-event offsets stands for a container."""

    def __init__(self, offsets):
        self.offsets = offsets


def _mutate(m: MissingETAssociationMap, how: int) -> MissingETAssociationMap | None:
    """One key/overlap corruption of a random map (None if the map has nothing to corrupt)."""
    arrays = {k: v.copy() for k, v in m.arrays().items()}
    n_obj = np.diff(m.obj_offsets)
    if how == 0 and m.cal_key.size:
        arrays["cal_key"][0] = 0
    elif how == 1 and m.trk_key.size:
        a = int(np.searchsorted(m.trk_offsets, 0, side="right") - 1)
        arrays["trk_key"][0] |= np.uint64(1) << np.uint64(n_obj[a])
    elif how == 2 and m.ovl_index.size:
        owner = int(np.searchsorted(m.ovl_offsets, 0, side="right") - 1)
        arrays["ovl_index"][0] = n_obj[m.obj_assoc()[owner]]
    else:
        return None
    return MissingETAssociationMap(m.container_keys, jet_key=m.jet_key, key=m.key, **arrays)


@settings(max_examples=60, deadline=None)
@given(m=association_maps(), how=st.integers(0, 2))
def test_kernel_agrees_with_numpy_checks(m, how):
    m.check_keys()
    assert run_kernel(m)[0] == OK
    bad = _mutate(m, how)
    if bad is None:
        return
    with pytest.raises(MapConsistencyError):
        bad.check_keys()
    with pytest.raises(MapConsistencyError):
        check_map(bad)
