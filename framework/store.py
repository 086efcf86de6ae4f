"""EventContext and EventStore: one slot processing a block of events [first, first + n).

The store is write-once: recording an existing key fails, recorded numpy arrays become
read-only and objects with a `freeze()` method are frozen. Its public API is `record`,
`retrieve`, `in`, `keys` and `view` (a read-only mapping); a missing key raises
`MissingKeyError` naming the requester, the events and the closest keys.

Algorithms with their own `execute(ctx)` reach the store through the context:
`ctx.read`/`ctx.record` check every key against the algorithm's declarations
(`UndeclaredAccessError`). Compute-style algorithms never see the store: the framework's
`Algorithm.execute` reads and records exactly the keys the algorithm declared, so it uses
`view`/`retrieve`/`record` without a per-key check; the scheduler then checks that an own
`execute` recorded every declared output.
"""

from __future__ import annotations

import weakref
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import DuplicateKeyError, MissingKeyError, UndeclaredAccessError, did_you_mean


def freeze(obj: Any) -> Any:
    """Make `obj` immutable where we can: read-only numpy arrays, frozen containers."""
    if obj.__class__ is not np.ndarray and getattr(obj, "_frozen", False):
        return obj   # a container born frozen (slices of frozen data)
    if isinstance(obj, np.ndarray):
        obj.flags.writeable = False
    elif hasattr(obj, "freeze"):
        obj.freeze()
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            freeze(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            freeze(item)
    return obj


_DECLARED: "weakref.WeakKeyDictionary[Any, tuple[frozenset[str], frozenset[str]]]" = \
    weakref.WeakKeyDictionary()


def declared_keys(alg: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(input keys, output keys) of an algorithm; cached once it is locked (after initialize its
    options, and so its keys, cannot change), since every store access checks them."""
    try:
        return _DECLARED[alg]
    except (KeyError, TypeError):
        pass
    keys = (frozenset(alg.input_keys()), frozenset(alg.output_keys()))
    if getattr(alg, "_locked", False):
        try:
            _DECLARED[alg] = keys
        except TypeError:   # not weak-referenceable: just not cached
            pass
    return keys


class EventStore:
    """Write-once mapping key -> object for one context (`events`: its range, for messages)."""

    __slots__ = ("_data", "_producers", "events", "view")

    def __init__(self, events: str = "") -> None:
        self._data: dict[str, Any] = {}
        self._producers: dict[str, str] = {}
        self.events = events
        #: read-only live mapping key -> object (lookups at C speed; a miss is a plain KeyError,
        #: so callers that report misses use `retrieve`)
        self.view: MappingProxyType[str, Any] = MappingProxyType(self._data)

    def record(self, key: str, obj: Any, producer: str) -> None:
        """Store `obj` (frozen) under `key`; DuplicateKeyError if the key exists."""
        if key in self._data:
            raise DuplicateKeyError(
                f"{producer}: key {key!r} already recorded by {self._producers[key]} "
                f"(the event store is write-once)")
        self._data[key] = freeze(obj)
        self._producers[key] = producer

    def record_all(self, objects: dict[str, Any], producer: str) -> None:
        """:meth:`record` for every item of `objects` (a source's block: one call per block)."""
        data = self._data
        if not data.keys().isdisjoint(objects):
            for key in objects:
                if key in data:
                    self.record(key, None, producer)   # raises DuplicateKeyError naming both
        for key, obj in objects.items():
            data[key] = freeze(obj)
        self._producers.update(dict.fromkeys(objects, producer))

    def retrieve(self, key: str, requester: Any, events: str = "") -> Any:
        """The object under `key`; MissingKeyError naming `requester` (a name, or an algorithm,
        named only when the key is missing) and the closest keys if absent."""
        try:
            return self._data[key]
        except KeyError:
            if not isinstance(requester, str):
                requester = f"{requester.name} ({type(requester).__name__})"
            raise MissingKeyError(key, requester, self._data.keys(),
                                  events or self.events) from None

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def keys(self) -> list[str]:
        return list(self._data)

    def clear(self) -> None:
        self._data.clear()
        self._producers.clear()


class EventContext:
    """One slot's block of events [first, first + n_events) and its store."""

    __slots__ = ("first", "n_events", "slot", "store", "source_name", "prepared")

    def __init__(self, first: int, n_events: int, slot: int = 0, source_name: str = ""):
        self.first = first
        self.n_events = n_events
        self.slot = slot
        self.store = EventStore(f"[{first}, {first + n_events})")
        self.source_name = source_name
        #: what the runner prepared for the sinks from the finished block (framework use)
        self.prepared: Any = None

    @property
    def events(self) -> str:
        return self.store.events

    def _check(self, alg: Any, key: str, outputs: bool, what: str) -> None:
        if key not in declared_keys(alg)[outputs]:
            declared = alg.output_keys() if outputs else alg.input_keys()
            raise UndeclaredAccessError(
                f"algorithm {alg.name} ({type(alg).__name__}) {what} undeclared key {key!r}"
                f"{did_you_mean(key, declared)}; declared: {declared}")

    def read(self, alg: Any, attr: str) -> Any:
        """The object(s) of `alg`'s input declaration `attr` (a list for a list of keys)."""
        keys = alg.key(attr)
        if isinstance(keys, str):
            return self.read_key(alg, keys)
        return [self.read_key(alg, k) for k in keys]

    def read_key(self, alg: Any, key: str) -> Any:
        self._check(alg, key, False, "read")
        return self.store.retrieve(key, alg)

    def record(self, alg: Any, attr: str, obj: Any) -> None:
        key = alg.key(attr)
        if not isinstance(key, str):
            raise UndeclaredAccessError(
                f"{alg.name}: output {attr!r} is a list of keys {list(key)}; use record_key")
        self.record_key(alg, key, obj)

    def record_key(self, alg: Any, key: str, obj: Any) -> None:
        self._check(alg, key, True, "recorded")
        self.store.record(key, obj, alg.name)

    def __repr__(self) -> str:
        return f"EventContext(slot={self.slot}, events={self.events})"
