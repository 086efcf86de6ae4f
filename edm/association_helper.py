"""MissingETAssociationHelper: the "object used" bitmasks of one rebuild."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from metflow.edm.met_base import UsagePolicy

if TYPE_CHECKING:
    from metflow.edm.association_map import MissingETAssociationMap


class MissingETAssociationHelper:
    """Selection flags of one rebuild, one uint64 per association; never stored, map untouched.

    Either per invocation (``MissingETAssociationHelper(map)``) or one per thread, rebound to
    each block's map with :meth:`reset` (METMakerAlg keeps one in its thread scratch): the
    flag buffer is reused and only grows."""

    __slots__ = ("map", "selected", "_buffer")

    def __init__(self, map: MissingETAssociationMap):
        self.map = map
        self.selected = self._buffer = np.zeros(map.n_associations, np.uint64)

    def reset(self, map: MissingETAssociationMap) -> "MissingETAssociationHelper":
        """Bind to ``map`` with every flag cleared (the next block of this thread)."""
        n = map.n_associations
        buffer = self._buffer
        if buffer.shape[0] < n:
            buffer = self._buffer = np.zeros(max(n, 2 * buffer.shape[0]), np.uint64)
        else:
            buffer[:n] = 0
        self.selected = buffer[:n]
        self.map = map
        return self

    def reset_obj_selection_flags(self) -> None:
        self.selected[:] = 0

    def get_obj_selection_flags(self, assoc: int) -> int:
        return int(self.selected[assoc])

    def set_obj_selection_flag(self, assoc: int, obj_i: int, flag: bool = True) -> None:
        n = int(self.map.obj_offsets[assoc + 1] - self.map.obj_offsets[assoc])
        if not 0 <= obj_i < n:
            raise IndexError(f"object {obj_i} out of range: association {assoc} has {n} objects")
        bit = np.uint64(1) << np.uint64(obj_i)
        if flag:
            self.selected[assoc] |= bit
        else:
            self.selected[assoc] &= ~bit

    def obj_selected(self, assoc: int, obj_i: int) -> bool:
        return bool((int(self.selected[assoc]) >> obj_i) & 1)

    def obj_selected_any(self, event: int, container: str | int, index: int) -> bool:
        """True if the object is flagged in any association of the event."""
        for assoc in self.map.associations_of(event, container, index):
            if self.obj_selected(assoc.index, assoc.find_index(container, index)):
                return True
        return False

    def select_if_no_overlaps(self, event: int, container: str | int, index: int,
                              policy: UsagePolicy = UsagePolicy.OnlyCluster) -> bool:
        """Flag the object in every association containing it unless an overlap with an
        already-selected object exists in any of them (then change nothing, return False)."""
        found = [(a, a.find_index(container, index)) for a in self.map.associations_of(event, container, index)]
        for assoc, obj_i in found:
            if assoc.has_overlaps(self, obj_i, policy):
                return False
        for assoc, obj_i in found:
            self.set_obj_selection_flag(assoc.index, obj_i, True)
        return True

    def __reduce__(self):
        raise TypeError("MissingETAssociationHelper is per-invocation state and must not be stored or pickled")
