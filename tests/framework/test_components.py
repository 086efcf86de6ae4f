import threading

import numpy as np
import pytest

from metflow.framework import (Algorithm, ConfigurationError, DuplicateKeyError, EventContext,
                               MissingKeyError, Property, ReadHandleKey, UndeclaredAccessError,
                               WriteHandleKey)
from toy import AddConstant


class Jets(Algorithm):
    """Two inputs, one output, typed properties."""

    jets = ReadHandleKey("AntiKt4EMPFlowJets", doc="jets")
    tracks = ReadHandleKey("InDetTracks", doc="tracks")
    out = WriteHandleKey("Selected", doc="selection")
    min_pt = Property(float, 20000.0, doc="threshold", unit="MeV")
    mode = Property(str, "Tight", choices=["Loose", "Tight"])

    def compute(self, jets, tracks):
        return jets


def test_declarations_and_overrides():
    alg = Jets(name="PFlow", jets="Other", min_pt=10)
    assert alg.key("jets") == "Other" and alg.jets == "Other"
    assert alg.min_pt == 10.0 and isinstance(alg.min_pt, float)
    assert alg.input_keys() == ["Other", "InDetTracks"]
    assert alg.output_keys() == ["Selected"]
    assert Jets().key("jets") == "AntiKt4EMPFlowJets"  # class default untouched


def test_unknown_keyword_suggests():
    with pytest.raises(ConfigurationError, match=r"unknown option 'min_ptt'.*did you mean 'min_pt'"):
        Jets(min_ptt=1.0)


def test_property_type_and_choices_checked():
    with pytest.raises(ConfigurationError, match="min_pt.*expects float"):
        Jets(min_pt="20")
    with pytest.raises(ConfigurationError, match="must be one of.*did you mean 'Tight'"):
        Jets(mode="Tigth")


def test_compute_signature_must_match_inputs():
    with pytest.raises(TypeError, match="'jetz' is not a declared ReadHandleKey.*did you mean 'jets'"):
        class Bad(Algorithm):
            jets = ReadHandleKey("J")
            out = WriteHandleKey("O")

            def compute(self, jetz):
                return jetz


def test_compute_and_execute_not_both():
    with pytest.raises(TypeError, match="not both"):
        class Both(Algorithm):
            out = WriteHandleKey("O")

            def compute(self):
                return 1

            def execute(self, ctx):
                pass


def test_compute_style_subclass_cannot_override_execute():
    """The framework owns execute() of a compute-style algorithm: a subclass that overrides it
    is refused when the class is created, naming the class and why."""
    class Base(Algorithm):
        out = WriteHandleKey("O")

        def compute(self):
            return 1

    with pytest.raises(TypeError, match="Sub: a compute-style algorithm cannot override "
                                        r"execute\(\) \(defined in Sub\): the framework owns"):
        class Sub(Base):
            def execute(self, ctx):
                pass

    class Own(Algorithm):
        out = WriteHandleKey("O")

        def execute(self, ctx):
            pass

    with pytest.raises(TypeError, match="defined in Own"):
        class Mixed(Own):
            def compute(self):
                return 1
    assert Own.owns_execute() and not Base.owns_execute()


def test_default_execute_reads_through_the_public_store_api():
    """The default execute uses EventStore.retrieve: a missing input names the algorithm."""
    from metflow.framework import EventContext, MissingKeyError

    class Reader(Algorithm):
        x = ReadHandleKey("X")
        out = WriteHandleKey("O")

        def compute(self, x):
            return x

    ctx = EventContext(0, 2)
    ctx.store.record("Y", np.zeros(2), "source")
    with pytest.raises(MissingKeyError, match=r"requested by R \(Reader\), events \[0, 2\)"):
        Reader(name="R").execute(ctx)


def test_locked_after_initialize_and_thread_scratch():
    alg = AddConstant()
    alg.initialize()
    alg.lock()
    with pytest.raises(AttributeError, match="per-event state"):
        alg.counter = 1
    seen = {}

    def worker(i):
        ns = alg.thread_scratch()
        ns.value = i
        seen[i] = alg.thread_scratch().value

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {0: 0, 1: 1, 2: 2}
    assert not hasattr(alg.thread_scratch(), "value")


def test_store_is_write_once_and_read_only():
    alg = AddConstant()
    ctx = EventContext(0, 3)
    ctx.store.record("Numbers", np.arange(3), "source")
    alg.execute(ctx)
    out = ctx.store.retrieve("Plus", "test")
    assert out.tolist() == [1, 2, 3]
    with pytest.raises(ValueError):
        out[0] = 5
    with pytest.raises(DuplicateKeyError, match="'Plus' already recorded by AddConstant"):
        ctx.record(alg, "result", np.arange(3))


def test_undeclared_access_and_missing_key():
    alg = AddConstant(name="Adder")
    ctx = EventContext(10, 2)
    ctx.store.record("Numbers", np.arange(2), "source")
    with pytest.raises(UndeclaredAccessError, match="Adder.*undeclared key 'Jets'"):
        ctx.read_key(alg, "Jets")
    with pytest.raises(UndeclaredAccessError, match="Adder.*recorded undeclared key 'Other'"):
        ctx.record_key(alg, "Other", 1)
    other = AddConstant(name="Reader", source="Numbrs")
    with pytest.raises(MissingKeyError) as info:
        other.execute(ctx)
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "'Numbrs'" in message and "Reader" in message and "'Numbers'" in message
    assert "[10, 12)" in message


def test_describe_lists_everything():
    text = Jets.describe()
    for word in ("jets", "AntiKt4EMPFlowJets", "out", "min_pt", "MeV", "threshold"):
        assert word in text


def test_own_execute_must_record_every_declared_output():
    """An algorithm with its own execute() that forgets an output fails the run, naming the
    algorithm and the key (the default compute path records every output by construction)."""
    from metflow.framework import AlgorithmError, Job, RunOptions, run_job
    from toy import CountingSource

    class Forgetful(Algorithm):
        numbers = ReadHandleKey("Numbers")
        first = WriteHandleKey("First")
        second = WriteHandleKey("Second")

        def execute(self, ctx):
            ctx.record(self, "first", ctx.read(self, "numbers") + 1)

    for threads in (1, 2):
        with pytest.raises(AlgorithmError) as info:
            run_job(Job(source=CountingSource(4), algorithms=[Forgetful()]),
                    RunOptions(threads=threads, batch_size=2, progress=False))
        assert isinstance(info.value.__cause__, UndeclaredAccessError)
        assert "Forgetful" in str(info.value) and "'Second'" in str(info.value)
