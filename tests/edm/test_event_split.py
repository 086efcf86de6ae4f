"""A one-event slice of a frozen container (batch size 1) takes views of a per-container event
split; it equals the general slice in every column, offset, dtype and read-only flag."""

import numpy as np
import pytest

from metflow.algorithms.generation.synthetic import SyntheticSource
from metflow.edm.containers import Container, ListColumn


@pytest.fixture(scope="module")
def block():
    return SyntheticSource(seed=3, process="ttbar", mu=20, n_events=6).read(0, 6)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape and a.flags.c_contiguous == b.flags.c_contiguous
    assert a.flags.writeable == b.flags.writeable
    np.testing.assert_array_equal(a, b)


def test_one_event_slices_equal_the_general_slice(block):
    checked = 0
    for key, c in block.items():
        if not isinstance(c, Container):
            continue
        c.freeze()
        lists = [n for n, col in c.columns.items() if isinstance(col, ListColumn)]
        for i in range(c.n_events):
            fast, general = c.slice(i, i + 1), c._slice(i, i + 1)
            assert fast is not general and "_split" in c.__dict__
            assert (fast.key, fast.schema, fast.original, fast.frozen) == \
                (general.key, general.schema, general.original, True)
            _same(fast.offsets, general.offsets)
            assert list(fast.columns) == list(general.columns)
            for name, col in general.columns.items():
                if isinstance(col, ListColumn):
                    _same(fast.columns[name].offsets, col.offsets)
                    _same(fast.columns[name].values, col.values)
                else:
                    _same(fast.columns[name], col)
            fast.validate(key=key)
            checked += bool(lists)
    assert checked > 10   # containers with list columns were among them


def test_unfrozen_and_out_of_range_slices_take_the_general_path(block):
    c = block["Electrons"]
    open_copy = Container(c.schema, c.offsets, dict(c.columns), key=c.key)
    assert not open_copy.frozen
    one = open_copy.slice(0, 1)
    assert "_split" not in open_copy.__dict__ and one.offsets.tolist() == [0, len(one)]
    assert c.freeze().slice(c.n_events, c.n_events + 1).n_events == 0


def test_the_split_is_a_cache_not_pickled(block):
    import pickle

    c = block["AntiKt4EMPFlowJets"].freeze()
    c.slice(0, 1)
    back = pickle.loads(pickle.dumps(c))
    assert "_split" in c.__dict__ and "_split" not in back.__dict__
    one = back.slice(1, 2)
    np.testing.assert_array_equal(one.columns["constituents"].offsets,
                                  c.slice(1, 2).columns["constituents"].offsets)
