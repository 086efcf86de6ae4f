"""Components: algorithms with class-level typed declarations of inputs, outputs and properties.

An algorithm declares, one line each, what it reads (`ReadHandleKey`), what it writes
(`WriteHandleKey`) and how it is configured (`Property`). The attribute name is the job-option
name; every declaration can be overridden per instance by keyword, so one class serves several
jet collections. The framework reads the declared inputs, calls `compute(**inputs)` and records
what it returns (Gaudi::Functional style); algorithms that need the context override `execute`.

After `initialize()` an instance is locked: assigning attributes raises, because per-event state
on `self` would race between threads. Per-thread scratch lives in `self.thread_scratch()`.
"""

from __future__ import annotations

import inspect
import threading
import types
from collections.abc import Sequence
from typing import Any, ClassVar

from .errors import ConfigurationError, did_you_mean

_UNSET = object()


class _Declaration:
    """Common part of class-level declarations: the option name comes from the attribute name."""

    kind = "declaration"

    def __init__(self, default: Any, doc: str = ""):
        self.default = default
        self.doc = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return instance._options[self.name]

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(
            f"{type(instance).__name__}.{self.name} is configured by keyword at construction "
            f"(e.g. {type(instance).__name__}({self.name}=...)), not assigned")

    def convert(self, value: Any, owner: str) -> Any:
        return value


class _HandleKey(_Declaration):
    """A store key (or list of keys) an algorithm reads or writes; ``optional=True``: one key
    or ``None`` (unconfigured, the default ``None``)."""

    def __init__(self, default: str | Sequence[str] | None, doc: str = "", *,
                 optional: bool = False):
        self.optional = optional
        super().__init__(self._check(default, "default"), doc)

    def _check(self, value: Any, owner: str) -> str | tuple[str, ...] | None:
        if self.optional:
            if value is None:
                return None
            if not isinstance(value, str):
                raise ConfigurationError(f"{owner}: optional {self.kind} {self.name!r} takes one "
                                         f"key string or None, got {value!r}")
        if isinstance(value, str):
            if not value:
                raise ConfigurationError(f"{owner}: {self.kind} {self.name!r} must not be empty")
            return value
        if isinstance(value, Sequence) and all(isinstance(v, str) and v for v in value):
            return tuple(value)
        raise ConfigurationError(
            f"{owner}: {self.kind} {self.name!r} must be a key string or a list of key strings, "
            f"got {value!r}")

    def convert(self, value: Any, owner: str) -> Any:
        return self._check(value, owner)

    @property
    def is_list(self) -> bool:
        return not isinstance(self.default, str)


class ReadHandleKey(_HandleKey):
    """Declares an input key; `compute` receives the object under the attribute name.

    ``optional=True``: the input is one key or ``None`` (unconfigured, the default ``None``);
    with ``None`` `compute` receives ``None`` and the key is not a dependency.
    """

    kind = "input"


class WriteHandleKey(_HandleKey):
    """Declares an output key; `compute` returns the object under the attribute name.

    ``optional=True``: the output is one key or ``None`` (unconfigured, the default ``None``);
    with ``None`` nothing is recorded (`compute` may return ``None`` for it).
    """

    kind = "output"


class Property(_Declaration):
    """A typed, documented configuration parameter (`unit` names the unit of a physical value)."""

    kind = "property"

    def __init__(self, type: type | tuple[type, ...], default: Any, doc: str = "",
                 unit: str | None = None, choices: Sequence[Any] | None = None):
        self.type = type
        self.unit = unit
        self.choices = tuple(choices) if choices is not None else None
        super().__init__(default, doc)

    def convert(self, value: Any, owner: str) -> Any:
        expected = self.type if isinstance(self.type, tuple) else (self.type,)
        if float in expected and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if tuple in expected and isinstance(value, list):
            value = tuple(value)
        if not isinstance(value, expected):
            names = "/".join(t.__name__ for t in expected)
            raise ConfigurationError(
                f"{owner}: property {self.name!r} expects {names}, got {type(value).__name__} "
                f"{value!r}")
        if self.choices is not None and value not in self.choices:
            raise ConfigurationError(
                f"{owner}: property {self.name!r} must be one of {list(self.choices)}, got "
                f"{value!r}{did_you_mean(str(value), map(str, self.choices))}")
        return value


class _ComputeCall:
    """How `Algorithm.execute` calls one algorithm's compute: the inputs passed by position where
    the signature allows, the rest (and ctx, unless it ends the positional parameters) by
    keyword, all read from the store's view inside one generated call."""

    __slots__ = ("keys", "run")

    def __init__(self, inputs: dict[str, Any], positional: Sequence[str], wants_ctx: bool):
        #: every input key, for the error naming a missing one
        self.keys = [k for spec in inputs.values() if spec is not None
                     for k in ((spec,) if isinstance(spec, str) else spec)]
        by_position: list[str] = []
        for name in positional:
            if name == "ctx" or name not in inputs:
                break
            by_position.append(name)
        by_keyword = [a for a in inputs if a not in by_position]
        ctx_last = wants_ctx and not by_keyword and tuple(positional[len(by_position):]) == ("ctx",)
        self.run = _generated_call([inputs[a] for a in by_position], [(a, inputs[a]) for a in by_keyword],
                                   "last" if ctx_last else "keyword" if wants_ctx else "")

    def missing(self, view: Any) -> bool:
        """Whether a declared input is absent from the store (the KeyError then is not one
        that compute itself raised)."""
        return any(k not in view for k in self.keys)


def _generated_call(positional: list[Any], keyword: list[tuple[str, Any]], ctx: str) -> Any:
    """``lambda compute, data, ctx: compute(data[k0], [data[k1], data[k2]], None, x=data[k3], ctx)``:
    each input a key, a list of keys or None (an unconfigured optional input). Generated once
    per algorithm, as dataclasses generates ``__init__``: a call of it costs 0.2 us where a loop
    over the declarations costs 1.3 us, and it runs for every algorithm execution. The keys are
    names bound in the lambda's globals, never text in its source; attribute names are
    identifiers."""
    bound: dict[str, Any] = {"__builtins__": {}}

    def value(spec: Any) -> str:
        if spec is None:
            return "None"
        if isinstance(spec, str):
            name = f"k{len(bound) - 1}"
            bound[name] = spec
            return f"data[{name}]"
        return "[" + ", ".join(value(key) for key in spec) + "]"

    args = [value(spec) for spec in positional]
    if ctx == "last":
        args.append("ctx")
    args += [f"{attr}={value(spec)}" for attr, spec in keyword]
    if ctx == "keyword":
        args.append("ctx=ctx")
    return eval(f"lambda compute, data, ctx: compute({', '.join(args)})", bound)  # noqa: S307


class Algorithm:
    """Base class of every scheduled component.

    Subclasses implement either `compute(**inputs)` (preferred; keywords are the ReadHandleKey
    attribute names, plus `ctx` if declared) returning a dict keyed by WriteHandleKey attribute
    names (or the object itself when there is exactly one output), or `execute(ctx)` using
    `ctx.read(self, name)` and `ctx.record(self, name, obj)`.
    """

    thread_safe: ClassVar[bool] = True
    #: a plugin registered under a built-in algorithm's name must set this to replace it
    overrides_builtin: ClassVar[bool] = False
    _declarations: ClassVar[dict[str, _Declaration]] = {}
    _inputs: ClassVar[dict[str, ReadHandleKey]] = {}
    _outputs: ClassVar[dict[str, WriteHandleKey]] = {}
    _compute_wants_ctx: ClassVar[bool] = False
    _compute_positional: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declarations: dict[str, _Declaration] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                if isinstance(value, _Declaration):
                    declarations[attr] = value
        cls._declarations = declarations
        cls._inputs = {k: v for k, v in declarations.items() if isinstance(v, ReadHandleKey)}
        cls._outputs = {k: v for k, v in declarations.items() if isinstance(v, WriteHandleKey)}
        has_compute = any("compute" in vars(k) for k in cls.__mro__ if k is not Algorithm)
        has_execute = any("execute" in vars(k) for k in cls.__mro__ if k is not Algorithm)
        if has_compute and has_execute:
            where = next(k.__name__ for k in cls.__mro__ if "execute" in vars(k))
            raise TypeError(
                f"{cls.__name__}: a compute-style algorithm cannot override execute() (defined "
                f"in {where}): the framework owns execute(), which reads the declared inputs, "
                f"calls compute() and records its outputs; implement compute() or execute(), "
                f"not both")
        if has_compute:
            cls._check_compute_signature()

    @classmethod
    def _check_compute_signature(cls) -> None:
        params = inspect.signature(cls.compute).parameters
        names = [p for p in params if p != "self"]
        inputs = set(cls.inputs_declared())
        cls._compute_wants_ctx = "ctx" in names
        accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        for p in names:
            if p != "ctx" and p not in inputs and params[p].kind is not params[p].VAR_KEYWORD:
                raise TypeError(
                    f"{cls.__name__}.compute() parameter {p!r} is not a declared ReadHandleKey"
                    f"{did_you_mean(p, inputs)}")
        missing = inputs - set(names)
        if missing and not accepts_kwargs:
            raise TypeError(f"{cls.__name__}.compute() does not accept declared inputs "
                            f"{sorted(missing)}")
        # how execute passes them: the leading positional-or-keyword parameters by position
        # (in signature order, ctx in its place), every other input by keyword
        positional: list[str] = []
        for name, p in params.items():
            if name == "self":
                continue
            if p.kind is not p.POSITIONAL_OR_KEYWORD:
                break
            positional.append(name)
        cls._compute_positional = tuple(positional)

    @classmethod
    def owns_execute(cls) -> bool:
        """True for an algorithm with its own `execute(ctx)` (not compute-style)."""
        return cls.execute is not Algorithm.execute

    @classmethod
    def inputs_declared(cls) -> dict[str, ReadHandleKey]:
        return cls._inputs

    @classmethod
    def outputs_declared(cls) -> dict[str, WriteHandleKey]:
        return cls._outputs

    @classmethod
    def properties_declared(cls) -> dict[str, Property]:
        return {k: v for k, v in cls._declarations.items() if isinstance(v, Property)}

    def __init__(self, name: str | None = None, **options: Any):
        object.__setattr__(self, "_locked", False)
        self.name = name or type(self).__name__
        values: dict[str, Any] = {}
        owner = f"{type(self).__name__}/{self.name}"
        for attr, decl in self._declarations.items():
            values[attr] = decl.default
        for attr, value in options.items():
            decl = self._declarations.get(attr)
            if decl is None:
                raise ConfigurationError(
                    f"{owner}: unknown option {attr!r}"
                    f"{did_you_mean(attr, self._declarations)}; options are "
                    f"{sorted(self._declarations)}")
            values[attr] = decl.convert(value, owner)
        for attr, decl in self._declarations.items():
            if isinstance(decl, Property) and attr not in options:
                values[attr] = decl.convert(decl.default, owner)
        object.__setattr__(self, "_options", values)
        object.__setattr__(self, "_scratch", threading.local())

    def __setattr__(self, attr: str, value: Any) -> None:
        if self._locked:
            raise AttributeError(
                f"{self.name}: cannot set {attr!r} after initialize(); algorithms must not keep "
                f"per-event state on self (use self.thread_scratch() or the event store)")
        object.__setattr__(self, attr, value)

    def override(self, attr: str, value: Any) -> None:
        """Change one option after construction (job-level `--set Alg.option=value`)."""
        owner = f"{type(self).__name__}/{self.name}"
        if self._locked:
            raise ConfigurationError(f"{owner}: options cannot change after initialize()")
        decl = self._declarations.get(attr)
        if decl is None:
            raise ConfigurationError(f"{owner}: unknown option {attr!r}"
                                     f"{did_you_mean(attr, self._declarations)}")
        self._options[attr] = decl.convert(value, owner)
        self.__dict__.pop("_plan", None)

    def lock(self) -> None:
        """Forbid attribute assignment (called by the framework after initialize)."""
        object.__setattr__(self, "_locked", True)
        object.__setattr__(self, "_plan", self._execution_plan())

    def key(self, attr: str) -> str | tuple[str, ...]:
        """The configured key(s) of input/output `attr`."""
        decl = self._declarations.get(attr)
        if not isinstance(decl, _HandleKey):
            raise ConfigurationError(f"{self.name}: {attr!r} is not a declared key"
                                     f"{did_you_mean(attr, self._declarations)}")
        return self._options[attr]

    def _keys(self, declared: dict[str, _HandleKey]) -> list[str]:
        keys: list[str] = []
        for attr in declared:
            value = self._options[attr]
            if value is not None:   # an unconfigured optional input or output
                keys.extend([value] if isinstance(value, str) else value)
        return keys

    def input_keys(self) -> list[str]:
        return self._keys(self.inputs_declared())

    def output_keys(self) -> list[str]:
        return self._keys(self.outputs_declared())

    def options(self) -> dict[str, Any]:
        return dict(self._options)

    def thread_scratch(self) -> types.SimpleNamespace:
        """A namespace private to this algorithm instance and the calling thread."""
        scratch = self._scratch
        ns = getattr(scratch, "ns", None)
        if ns is None:
            ns = types.SimpleNamespace()
            scratch.ns = ns
        return ns

    # lifecycle -----------------------------------------------------------------------------
    def initialize(self) -> None:
        """Called once before the first event."""

    def finalize(self) -> None:
        """Called once after the last event."""

    def execute(self, ctx: Any) -> None:
        """Default execute: read declared inputs, call compute, record declared outputs."""
        compute = getattr(self, "compute", None)
        if compute is None:
            raise NotImplementedError(f"{type(self).__name__} implements neither compute() "
                                      f"nor execute()")
        plan = self.__dict__.get("_plan")
        if plan is None:   # executed before lock(): kept until an option changes
            plan = self._execution_plan()
            object.__setattr__(self, "_plan", plan)
        call, outputs = plan
        # the keys are this algorithm's own declarations: read without a per-key check
        store = ctx.store
        try:
            result = call.run(compute, store.view, ctx)
        except KeyError:   # a declared input is absent: MissingKeyError names it
            if not call.missing(store.view):
                raise
            for key in call.keys:
                store.retrieve(key, self)
            raise
        if len(outputs) == 1:
            attr, key = outputs[0]
            if isinstance(result, dict) and len(result) == 1 and attr in result:
                result = result[attr]
            if key is None:   # an unconfigured optional output
                return
            if key.__class__ is str:
                ctx.store.record(key, result, self.name)
            else:
                self._record(ctx, attr, key, result)
            return
        names = [attr for attr, _ in outputs]
        if not isinstance(result, dict):
            raise TypeError(f"{self.name}.compute() must return a dict keyed by "
                            f"{sorted(names)}, got {type(result).__name__}")
        unknown = set(result) - set(names)
        if unknown:
            bad = sorted(unknown)[0]
            raise TypeError(f"{self.name}.compute() returned undeclared output {bad!r}"
                            f"{did_you_mean(bad, names)}")
        for attr, key in outputs:
            if key is None:   # an unconfigured optional output
                continue
            if attr not in result:
                raise TypeError(f"{self.name}.compute() did not return declared output {attr!r}")
            self._record(ctx, attr, key, result[attr])

    def _record(self, ctx: Any, attr: str, key: str | tuple[str, ...], value: Any) -> None:
        if key.__class__ is str:
            ctx.store.record(key, value, self.name)
            return
        if not isinstance(value, (list, tuple)) or len(value) != len(key):
            raise TypeError(f"{self.name}.compute() must return a list of {len(key)} "
                            f"objects for output {attr!r} (keys {list(key)})")
        for k, obj in zip(key, value):
            ctx.store.record(k, obj, self.name)

    def _execution_plan(self) -> tuple["_ComputeCall", tuple[tuple[str, Any], ...]]:
        """How `execute` calls compute (inputs by position where the signature allows) and the
        (attr, key or keys) of the outputs; fixed once the algorithm is locked, so `execute`
        resolves no declaration per call."""
        return (_ComputeCall({attr: self._options[attr] for attr in self.inputs_declared()},
                             self._compute_positional, self._compute_wants_ctx),
                tuple((attr, self._options[attr]) for attr in self.outputs_declared()))

    @classmethod
    def describe(cls) -> str:
        """Inputs, outputs and properties with defaults and docs, for `metflow list`."""
        lines = [f"{cls.__name__}" + ("  [not thread-safe]" if not cls.thread_safe else "")]
        doc = inspect.getdoc(cls)
        if doc:
            lines.append("    " + doc.splitlines()[0])
        for title, decls in (("inputs", cls.inputs_declared()),
                             ("outputs", cls.outputs_declared()),
                             ("properties", cls.properties_declared())):
            if not decls:
                continue
            lines.append(f"    {title}:")
            for attr, decl in decls.items():
                default = decl.default
                extra = ""
                if isinstance(decl, Property):
                    tname = (decl.type.__name__ if isinstance(decl.type, type)
                             else "/".join(t.__name__ for t in decl.type))
                    extra = f" ({tname}" + (f", {decl.unit}" if decl.unit else "") + ")"
                lines.append(f"      {attr} = {default!r}{extra}" + (f"  # {decl.doc}" if decl.doc else ""))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
