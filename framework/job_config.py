"""JobConfig: a mergeable piece of a job's configuration (Athena's ComponentAccumulator, cut down
to what a metflow job holds): algorithms, the keys the job writes, end-of-run summary sinks.

A configuration function `x_cfg(flags) -> JobConfig` returns every component it needs, also
those another function adds too; merging makes one job of them:

- algorithms by name: the same name with the same type and options is one algorithm (kept at
  its first place, the later copy dropped); the same name with another type or other options is
  a ConfigurationError listing what differs. Two differently named algorithms writing one key
  is a ConfigurationError naming both (the graph would refuse the duplicate producer later).
- summary sinks by name, the same rule (type and consumed keys).
- output keys (what the job's output sink writes): ordered union.

The job file then builds `Job(source, cfg.algorithms, [*cfg.summaries, its output sink])`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .component import Algorithm
from .errors import ConfigurationError
from .io import Sink


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [f"{k}: {old.get(k)!r} != {new.get(k)!r}"
            for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]


class JobConfig:
    """Algorithms (unique by name), output keys and summary sinks (unique by name) of a job part."""

    def __init__(self, algorithms: Iterable[Algorithm] = (), outputs: Iterable[str] = (),
                 summaries: Iterable[Sink] = ()):
        self._algorithms: dict[str, Algorithm] = {}
        self._producers: dict[str, str] = {}    # output key -> algorithm name
        self._outputs: dict[str, None] = {}     # ordered set
        self._summaries: dict[str, Sink] = {}
        for alg in algorithms:
            self.add_algorithm(alg)
        self.add_outputs(outputs)
        for sink in summaries:
            self.add_summary(sink)

    @property
    def algorithms(self) -> list[Algorithm]:
        return list(self._algorithms.values())

    @property
    def outputs(self) -> list[str]:
        return list(self._outputs)

    @property
    def summaries(self) -> list[Sink]:
        return list(self._summaries.values())

    def algorithm(self, name: str) -> Algorithm:
        """The algorithm called ``name`` (ConfigurationError listing the names if none)."""
        try:
            return self._algorithms[name]
        except KeyError:
            raise ConfigurationError(f"no algorithm {name!r} in this configuration; it has "
                                     f"{list(self._algorithms)}") from None

    def produced_keys(self) -> list[str]:
        """Every key an algorithm of this configuration writes."""
        return list(self._producers)

    def add_algorithm(self, alg: Algorithm) -> Algorithm:
        """Add ``alg``; returns the algorithm kept (an equal one already here, or ``alg``)."""
        if not isinstance(alg, Algorithm):
            raise ConfigurationError(f"JobConfig: {alg!r} is not an Algorithm")
        old = self._algorithms.get(alg.name)
        if old is not None:
            if old is alg or (type(old) is type(alg) and old.options() == alg.options()):
                return old
            what = (f"types {type(old).__name__} and {type(alg).__name__}" if type(old) is not type(alg)
                    else "options " + "; ".join(_differences(old.options(), alg.options())))
            raise ConfigurationError(f"JobConfig: two configurations of algorithm {alg.name!r} "
                                     f"differ in {what}; give one of them another name")
        for key in alg.output_keys():
            producer = self._producers.get(key)
            if producer is not None:
                raise ConfigurationError(f"JobConfig: {key!r} is written by both {producer!r} "
                                         f"and {alg.name!r}")
        for key in alg.output_keys():
            self._producers[key] = alg.name
        self._algorithms[alg.name] = alg
        return alg

    def add_outputs(self, keys: Iterable[str]) -> None:
        """Ask the job's output sink to also write ``keys`` (kept in first-seen order)."""
        for key in keys:
            if not isinstance(key, str) or not key:
                raise ConfigurationError(f"JobConfig: an output key must be a non-empty string, "
                                         f"got {key!r}")
            self._outputs.setdefault(key)

    def add_summary(self, sink: Sink) -> Sink:
        """Add an end-of-run summary sink; returns the one kept (same rule as algorithms)."""
        if not isinstance(sink, Sink):
            raise ConfigurationError(f"JobConfig: {sink!r} is not a Sink")
        old = self._summaries.get(sink.name)
        if old is not None:
            if old is sink or (type(old) is type(sink) and list(old.keys()) == list(sink.keys())):
                return old
            raise ConfigurationError(
                f"JobConfig: two summary sinks named {sink.name!r} differ ({type(old).__name__} "
                f"reading {list(old.keys())}, {type(sink).__name__} reading {list(sink.keys())})")
        self._summaries[sink.name] = sink
        return sink

    def merge(self, other: JobConfig) -> JobConfig:
        """Add everything of ``other`` (rules in the module docstring); returns self."""
        if not isinstance(other, JobConfig):
            raise ConfigurationError(f"JobConfig.merge takes a JobConfig, got {type(other).__name__}")
        for alg in other._algorithms.values():
            self.add_algorithm(alg)
        self.add_outputs(other._outputs)
        for sink in other._summaries.values():
            self.add_summary(sink)
        return self

    def __repr__(self) -> str:
        return (f"JobConfig({len(self._algorithms)} algorithms, outputs={self.outputs}, "
                f"summaries={list(self._summaries)})")


__all__ = ["JobConfig"]
