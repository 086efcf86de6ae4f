"""EventStore.record_all: a source's block recorded in one call, with record's guarantees."""

from __future__ import annotations

import numpy as np
import pytest

from metflow.framework.errors import DuplicateKeyError
from metflow.framework.store import EventContext


def test_record_all_freezes_and_names_the_producer():
    ctx = EventContext(0, 3)
    ctx.store.record_all({"A": np.arange(3), "B": np.ones(3)}, "source")
    assert ctx.store.keys() == ["A", "B"]
    with pytest.raises(ValueError):
        ctx.store.retrieve("A", "test")[0] = 5
    with pytest.raises(DuplicateKeyError, match="'B' already recorded by source"):
        ctx.store.record("B", np.zeros(3), "Alg")


def test_record_all_refuses_a_recorded_key():
    ctx = EventContext(0, 3)
    ctx.store.record("B", np.zeros(3), "Alg")
    with pytest.raises(DuplicateKeyError, match="source: key 'B' already recorded by Alg"):
        ctx.store.record_all({"A": np.arange(3), "B": np.ones(3)}, "source")
    assert ctx.store.retrieve("B", "test").tolist() == [0, 0, 0]
