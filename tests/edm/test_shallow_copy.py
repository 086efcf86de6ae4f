import numpy as np
from hypothesis import given, settings, strategies as st

from metflow.edm import keys, resolve_original
from metflow.edm.containers import ORIGINAL_INDEX
from metflow.edm.persistence import decode

from _factories import random_container


def _base(n_events=4, seed=0):
    return random_container(keys.MUONS, n_events, np.random.default_rng(seed), max_objects=5)


def test_shallow_copy_overrides_and_shares_other_columns():
    mu = _base()
    calib = mu.shallow_copy({"px": mu["px"] * 1.01}, key="CalibMuons")
    assert calib.original is mu and calib.original_key == keys.MUONS
    assert np.shares_memory(calib["py"], mu["py"])
    assert not np.shares_memory(calib["px"], mu["px"])
    assert calib[ORIGINAL_INDEX].tolist() == mu.local_index().tolist()
    assert calib.schema.field(ORIGINAL_INDEX).target == keys.MUONS


def test_selected_copy_keeps_links_to_originals():
    mu = _base()
    mask = mu["px"] > 0
    sel = mu.shallow_copy(select=mask, key="GoodMuons")
    assert len(sel) == int(mask.sum())
    assert sel.counts().tolist() == [int(mask[mu.offsets[i]:mu.offsets[i + 1]].sum()) for i in range(mu.n_events)]
    np.testing.assert_array_equal(mu["px"][sel.original_global_index()], sel["px"])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), depth=st.integers(1, 4), data=st.data())
def test_chains_of_copies_resolve_to_the_original(seed, depth, data):
    root = _base(n_events=5, seed=seed)
    c = root
    for level in range(depth):
        mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(c), max_size=len(c))), dtype=bool)
        scale = np.float32(1 + level)
        c = c.shallow_copy({"pt_scale_test": np.full(len(c), scale, np.float32)}, select=mask, key=f"copy{level}")
    root_obj, local = resolve_original(c)
    assert root_obj is root
    assert c.original_key == keys.MUONS
    glob = c.original_global_index()
    # every unmodified column equals the original object's value
    np.testing.assert_array_equal(root["py"][glob], c["py"])
    np.testing.assert_array_equal(root["clusters"].take(glob).values, c["clusters"].values)
    # event-local index stays inside the original's event
    assert (local < root.counts()[c.event_of_object()]).all()


def test_copy_persists_with_its_link_target():
    mu = _base()
    calib = mu.shallow_copy({"e": mu["e"] * 2}, key="CalibMuons")
    back = decode("CalibMuons", calib.to_arrow())
    assert back.original is None  # only the link survives persistence
    assert back.original_key == keys.MUONS
    np.testing.assert_array_equal(back[ORIGINAL_INDEX], calib[ORIGINAL_INDEX])
    assert back.equals(calib)
