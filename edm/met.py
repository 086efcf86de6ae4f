"""MissingET classes, named as in ATLAS xAODMissingET, columnar over a block of events.

- :class:`MissingETBase` ``.Source``: the 64-bit source bit patterns and their tests.
- :class:`MissingET`: one term (name, mpx, mpy, sumet, source) with ATLAS sign conventions.
- :class:`MissingETContainer`: the same term list for every event, arrays [n_events, n_terms].
- :class:`MissingETAssociationMap`: every association of a block in flat arrays (the field
  names are the contract of docs/internals.md); :class:`MissingETAssociation` is a view of one.
- :class:`MissingETAssociationHelper`: the "object used" bitmasks of one rebuild; created per
  rebuild or kept one per thread and reset per block (METMakerAlg), never stored, and never
  modifies the map.

The Python methods here are for readability and tests; kernels work on the public arrays.

Each concept lives in a module named after it; this module re-exports them (the public import
path): :mod:`.met_base` (MissingETBase, ObjectType, UsagePolicy), :mod:`.met_container`
(MissingET, METTermView, MissingETContainer), :mod:`.association_map_layout` (the map's fields),
:mod:`.association_map` (MissingETAssociationMap), :mod:`.association` (ConstVec,
MissingETAssociation), :mod:`.association_helper` (MissingETAssociationHelper).
"""

from metflow.edm.association import ConstVec, MissingETAssociation
from metflow.edm.association_helper import MissingETAssociationHelper
from metflow.edm.association_map import MissingETAssociationMap
from metflow.edm.association_map_layout import MAP_ARRAY_NAMES, _VEC
from metflow.edm.met_base import (MAX_OBJECTS_PER_ASSOCIATION, POLICY_OVERLAP_MASK, TRUTH_OVERLAP_BIT,
                                  MissingETBase, ObjectType, Source, UsagePolicy)
from metflow.edm.met_container import METTermView, MissingET, MissingETContainer

__all__ = [
    "ObjectType", "UsagePolicy", "POLICY_OVERLAP_MASK", "TRUTH_OVERLAP_BIT", "MissingETBase", "Source",
    "ConstVec", "MissingET", "METTermView", "MissingETContainer", "MissingETAssociationMap",
    "MissingETAssociation", "MissingETAssociationHelper", "MAX_OBJECTS_PER_ASSOCIATION", "MAP_ARRAY_NAMES",
]
