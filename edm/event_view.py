"""EventView and ObjectView: read-only views of one event / one object of a Container."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from metflow.edm.list_column import ListColumn

if TYPE_CHECKING:
    from metflow.edm.container import Container


# ---------------------------------------------------------------------------------------------
# views

class EventView:
    """The objects of one event of a container (read-only convenience, not for hot loops)."""

    __slots__ = ("container", "index", "_lo", "_hi")

    def __init__(self, container: Container, index: int):
        self.container = container
        self.index = index
        self._lo = int(container.offsets[index])
        self._hi = int(container.offsets[index + 1])

    def __len__(self) -> int:
        return self._hi - self._lo

    def __getitem__(self, item):
        if isinstance(item, str):
            col = self.container[item]
            if isinstance(col, ListColumn):
                return [col[j] for j in range(self._lo, self._hi)]
            return col[self._lo:self._hi]
        n = len(self)
        if item < 0:
            item += n
        if not 0 <= item < n:
            raise IndexError(f"object {item} out of range: event {self.index} has {n} objects")
        return ObjectView(self.container, self._lo + item, item)

    def __iter__(self) -> Iterator["ObjectView"]:
        return (ObjectView(self.container, self._lo + j, j) for j in range(len(self)))

    def __repr__(self) -> str:
        return f"<event {self.index} of {self.container.key or self.container.schema.name}: {len(self)} objects>"


class ObjectView:
    """One object: attribute access to its columns (``obj.px``, ``obj.constituents``)."""

    __slots__ = ("container", "global_index", "index")

    def __init__(self, container: Container, global_index: int, index: int):
        self.container = container
        self.global_index = global_index
        self.index = index

    def __getitem__(self, name: str):
        col = self.container[name]
        return col[self.global_index]

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    @property
    def pt(self) -> float:
        return float(np.hypot(self["px"], self["py"]))

    @property
    def phi(self) -> float:
        return float(np.arctan2(self["py"], self["px"]))

    @property
    def eta(self) -> float:
        pt = self.pt
        return float(np.arcsinh(self["pz"] / pt)) if pt > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for name, col in self.container.columns.items():
            v = col[self.global_index]
            out[name] = v.tolist() if isinstance(v, np.ndarray) else v.item()
        return out

    def __repr__(self) -> str:
        return f"<{self.container.schema.name} {self.index}: {self.to_dict()}>"
