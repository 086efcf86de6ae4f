"""The data-flow graph of a job, built from declared keys and validated before event 1.

Nodes are the source, the algorithms and the sinks; an edge goes from the producer of a key to
each consumer. Validation fails on a key nobody produces, a key produced twice, duplicate
algorithm names and cycles; every message names the algorithms and keys and suggests the
closest existing keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import GraphError, did_you_mean

SOURCE = "<source>"


@dataclass
class DataFlowGraph:
    """Producers, consumers and a topological order of algorithm names."""

    algorithms: list[Any]
    source_keys: list[str]
    sinks: list[Any] = field(default_factory=list)
    producer: dict[str, str] = field(default_factory=dict)
    parents: dict[str, set[str]] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, algorithms: Sequence[Any], source_keys: Sequence[str],
              sinks: Sequence[Any] = ()) -> "DataFlowGraph":
        graph = cls(list(algorithms), list(source_keys), list(sinks))
        graph._validate()
        return graph

    def _validate(self) -> None:
        errors: list[str] = []
        names: dict[str, Any] = {}
        for alg in self.algorithms:
            if alg.name in names:
                errors.append(f"two algorithms are named {alg.name!r} "
                              f"({type(names[alg.name]).__name__} and {type(alg).__name__}); "
                              f"give one of them name=...")
            names[alg.name] = alg
        for key in self.source_keys:
            self.producer[key] = SOURCE
        for alg in self.algorithms:
            for key in alg.output_keys():
                if key in self.producer:
                    other = self.producer[key]
                    who = "the source" if other == SOURCE else f"algorithm {other!r}"
                    errors.append(f"key {key!r} is produced by both {who} and algorithm "
                                  f"{alg.name!r}")
                    continue
                self.producer[key] = alg.name
        known = list(self.producer)
        for alg in self.algorithms:
            self.parents[alg.name] = set()
            self.children.setdefault(alg.name, set())
        for alg in self.algorithms:
            for key in alg.input_keys():
                producer = self.producer.get(key)
                if producer is None:
                    errors.append(f"algorithm {alg.name!r} ({type(alg).__name__}) reads key "
                                  f"{key!r}, which no algorithm produces and the source does "
                                  f"not provide{did_you_mean(key, known)}")
                elif producer != SOURCE:
                    self.parents[alg.name].add(producer)
                    self.children[producer].add(alg.name)
        for sink in self.sinks:
            for key in sink.keys():
                if key not in self.producer:
                    errors.append(f"sink {getattr(sink, 'name', type(sink).__name__)!r} writes "
                                  f"key {key!r}, which nothing produces{did_you_mean(key, known)}")
        if errors:
            raise GraphError("invalid job data-flow graph:\n  - " + "\n  - ".join(errors))
        self.order = self._topological_order()

    def _topological_order(self) -> list[str]:
        remaining = {name: set(parents) for name, parents in self.parents.items()}
        position = {alg.name: i for i, alg in enumerate(self.algorithms)}
        order: list[str] = []
        while remaining:
            ready = sorted((n for n, p in remaining.items() if not p), key=position.__getitem__)
            if not ready:
                cycle = self._find_cycle(remaining)
                raise GraphError("invalid job data-flow graph: cycle " + " -> ".join(
                    f"{a} [{self._edge_key(a, b)}]" for a, b in zip(cycle, cycle[1:]))
                    + f" -> {cycle[-1]}")
            for name in ready:
                order.append(name)
                del remaining[name]
            for parents in remaining.values():
                parents.difference_update(ready)
        return order

    def _edge_key(self, a: str, b: str) -> str:
        alg_b = next(x for x in self.algorithms if x.name == b)
        keys = [k for k in alg_b.input_keys() if self.producer.get(k) == a]
        return ", ".join(keys)

    def _find_cycle(self, remaining: dict[str, set[str]]) -> list[str]:
        start = next(iter(remaining))
        path, seen = [start], {start}
        node = start
        while True:
            node = sorted(remaining[node])[0]
            if node in seen:
                cycle = path[path.index(node):] + [node]
                return cycle
            path.append(node)
            seen.add(node)

    # rendering --------------------------------------------------------------------------
    def edges(self) -> list[tuple[str, str, str]]:
        """(producer, consumer, key) triples, sinks included."""
        result = []
        for alg in self.algorithms:
            for key in alg.input_keys():
                result.append((self.producer[key], alg.name, key))
        for sink in self.sinks:
            for key in sink.keys():
                result.append((self.producer[key], f"sink:{sink.name}", key))
        return result

    def render(self, fmt: str = "text") -> str:
        if fmt == "text":
            lines = [f"source provides: {', '.join(self.source_keys)}"]
            algs = {a.name: a for a in self.algorithms}
            for name in self.order:
                alg = algs[name]
                lines.append(f"{name} ({type(alg).__name__})")
                lines.append(f"    reads:  {', '.join(alg.input_keys()) or '-'}")
                lines.append(f"    writes: {', '.join(alg.output_keys()) or '-'}")
            for sink in self.sinks:
                lines.append(f"sink {sink.name}: {', '.join(sink.keys())}")
            return "\n".join(lines)
        if fmt == "dot":
            lines = ["digraph metflow {", "  rankdir=LR;", '  node [shape=box];',
                     f'  "{SOURCE}" [shape=ellipse];']
            for sink in self.sinks:
                lines.append(f'  "sink:{sink.name}" [shape=ellipse];')
            for a, b, key in self.edges():
                lines.append(f'  "{a}" -> "{b}" [label="{key}"];')
            lines.append("}")
            return "\n".join(lines)
        if fmt == "mermaid":
            ids: dict[str, str] = {}

            def node(name: str) -> str:
                if name not in ids:
                    ids[name] = f"n{len(ids)}"
                return f'{ids[name]}["{name}"]'

            lines = ["flowchart LR"]
            for a, b, key in self.edges():
                lines.append(f"  {node(a)} -->|{key}| {node(b)}")
            return "\n".join(lines)
        raise ValueError(f"unknown graph format {fmt!r}{did_you_mean(fmt, ['text', 'dot', 'mermaid'])}")
