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


def test_a_key_missing_for_a_sink_is_named_with_the_sink():
    """A source that leaves out a key it declares: the sink's preparation of the block fails
    with the store's error naming the key, the sink and the events (the blocks before it are
    written)."""
    from metflow.framework import Job, RunOptions, run_job
    from metflow.framework.errors import MissingKeyError

    from toy import CountingSource, Recorder

    class ForgetfulSource(CountingSource):
        def keys(self):
            return ["Numbers", "Other"]

        def read(self, first, n):
            data = super().read(first, n)
            if first < 4:
                data["Other"] = data["Numbers"] * 2
            return data

    sink = Recorder(["Numbers", "Other"])
    with pytest.raises(MissingKeyError, match=r"'Other' is not in the event store \(requested by sink "
                                              r"recorder, events \[4, 6\)\); available: 'Numbers'"):
        run_job(Job(source=ForgetfulSource(8), sinks=[sink]), RunOptions(batch_size=2, quiet=True))
    assert sink.values("Other").tolist() == [0, 2, 4, 6]
