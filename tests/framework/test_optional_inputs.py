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
