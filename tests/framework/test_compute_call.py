"""Algorithm.execute passes inputs to compute() by position where the signature allows and by
keyword otherwise; every form gets the same objects, and a KeyError raised inside compute is
not mistaken for a missing input."""

import pytest

from metflow.framework import (Algorithm, EventContext, MissingKeyError, ReadHandleKey,
                               WriteHandleKey)


def _ctx(**objects):
    ctx = EventContext(0, 1)
    for key, obj in objects.items():
        ctx.store.record(key, obj, "test")
    return ctx


def _run(alg, ctx):
    alg.initialize()
    alg.lock()
    alg.execute(ctx)
    return ctx.store.retrieve("out", "test")


class Positional(Algorithm):
    a = ReadHandleKey("A")
    b = ReadHandleKey("B")
    out = WriteHandleKey("out")

    def compute(self, b, a):   # signature order differs from declaration order
        return (a, b)


class WithCtxLast(Positional):
    def compute(self, a, b, ctx):
        return (a, b, ctx.first)


class WithCtxFirst(Positional):
    def compute(self, ctx, a, b):
        return (a, b, ctx.first)


class KeywordOnly(Positional):
    def compute(self, a, *, b, ctx=None):
        return (a, b, ctx.first)


class CatchAll(Positional):
    def compute(self, **inputs):
        return (inputs["a"], inputs["b"])


class OneInput(Algorithm):
    a = ReadHandleKey("A")
    out = WriteHandleKey("out")

    def compute(self, a):
        return (a,)


class ListAndOptional(Algorithm):
    parts = ReadHandleKey(["A", "B"])
    extra = ReadHandleKey(None, optional=True)
    out = WriteHandleKey("out")

    def compute(self, parts, extra):
        return (tuple(parts), extra)


@pytest.mark.parametrize("cls, expected", [
    (Positional, ("a", "b")), (WithCtxLast, ("a", "b", 0)), (WithCtxFirst, ("a", "b", 0)),
    (KeywordOnly, ("a", "b", 0)), (CatchAll, ("a", "b"))])
def test_every_signature_gets_its_inputs_by_name(cls, expected):
    assert _run(cls(name="x"), _ctx(A="a", B="b")) == expected


def test_one_input_and_lists_and_optional_inputs():
    assert _run(OneInput(name="x"), _ctx(A="a")) == ("a",)
    assert _run(ListAndOptional(name="x"), _ctx(A="a", B="b")) == (("a", "b"), None)
    assert _run(ListAndOptional(name="x", extra="A"), _ctx(A="a", B="b")) == (("a", "b"), "a")


@pytest.mark.parametrize("cls", [Positional, ListAndOptional])
def test_missing_input_names_the_key_and_the_algorithm(cls):
    alg = cls(name="Needy")
    alg.initialize()
    alg.lock()
    with pytest.raises(MissingKeyError, match=r"'B'.*requested by Needy"):
        alg.execute(_ctx(A="a"))


class RaisesKeyError(Positional):
    def compute(self, a, b):
        return {}["not an input"]


def test_a_key_error_inside_compute_is_not_reported_as_a_missing_input():
    alg = RaisesKeyError(name="x")
    alg.initialize()
    alg.lock()
    with pytest.raises(KeyError) as info:
        alg.execute(_ctx(A="a", B="b"))
    assert not isinstance(info.value, MissingKeyError)
    assert info.value.args == ("not an input",)


def test_an_option_changed_after_an_unlocked_execution_is_used_by_the_next():
    alg = Positional(name="x")
    assert alg.execute(_ctx(A="a", B="b")) is None
    alg.override("a", "C")
    ctx = _ctx(A="a", B="b", C="c")
    alg.execute(ctx)
    assert ctx.store.retrieve("out", "test") == ("c", "b")
