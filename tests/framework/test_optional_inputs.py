"""Optional inputs: `ReadHandleKey(optional=True)` takes one key or None; None means compute gets
None and the key is no dependency. A list (the retired `[]` / `[key]` spelling) is refused."""

import numpy as np
import pytest

from metflow.framework import (Algorithm, ConfigurationError, EventContext, ReadHandleKey,
                               WriteHandleKey)


class Weighted(Algorithm):
    """out = x, times w when the optional weight input is configured."""

    x = ReadHandleKey("X")
    w = ReadHandleKey(None, doc="weights (None: unweighted)", optional=True)
    out = WriteHandleKey("Out")

    def compute(self, x, w):
        return x if w is None else x * w


def _run(alg):
    ctx = EventContext(0, 3)
    ctx.store.record("X", np.arange(3.0), "source")
    ctx.store.record("W", np.full(3, 2.0), "source")
    alg.initialize()
    alg.lock()
    alg.execute(ctx)
    return ctx.store.retrieve("Out", "test")


def test_unconfigured_optional_input_is_none_and_no_dependency():
    alg = Weighted()
    assert alg.key("w") is None and alg.input_keys() == ["X"]
    assert list(_run(alg)) == [0.0, 1.0, 2.0]


def test_configured_optional_input_is_read_by_key():
    alg = Weighted(w="W")
    assert alg.key("w") == "W" and alg.input_keys() == ["X", "W"]
    assert list(_run(alg)) == [0.0, 2.0, 4.0]


@pytest.mark.parametrize("value", [[], ["W"], ("W",), ["W", "V"]])
def test_list_spelling_of_an_optional_input_is_refused(value):
    with pytest.raises(ConfigurationError, match=r"Weighted/wt: optional input 'w' takes one key "
                                                 r"string or None, got"):
        Weighted(name="wt", w=value)
    with pytest.raises(ConfigurationError, match="optional input 'w'"):
        Weighted(name="wt").override("w", value)


def test_required_input_refuses_none():
    with pytest.raises(ConfigurationError, match="input 'x' must be a key string"):
        Weighted(x=None)


class WithExtra(Algorithm):
    """out = x; the optional output `extra` (x squared) only when a key is configured."""

    x = ReadHandleKey("X")
    out = WriteHandleKey("Out")
    extra = WriteHandleKey(None, doc="x squared (None: not written)", optional=True)

    def compute(self, x):
        return {"out": x, "extra": None if self.key("extra") is None else x * x}


def _run_extra(alg):
    ctx = EventContext(0, 3)
    ctx.store.record("X", np.arange(3.0), "source")
    alg.initialize()
    alg.lock()
    alg.execute(ctx)
    return ctx


def test_unconfigured_optional_output_is_not_recorded_nor_declared():
    alg = WithExtra()
    assert alg.key("extra") is None and alg.output_keys() == ["Out"]
    ctx = _run_extra(alg)
    assert "Out" in ctx.store and list(ctx.store.keys()) == ["X", "Out"]


def test_configured_optional_output_is_recorded_under_its_key():
    alg = WithExtra(extra="Extra")
    assert alg.output_keys() == ["Out", "Extra"]
    ctx = _run_extra(alg)
    assert list(ctx.store.retrieve("Extra", "test")) == [0.0, 1.0, 4.0]


@pytest.mark.parametrize("value", [[], ["E"], ("E", "F")])
def test_list_spelling_of_an_optional_output_is_refused(value):
    with pytest.raises(ConfigurationError, match=r"optional output 'extra' takes one key string "
                                                 r"or None, got"):
        WithExtra(extra=value)
