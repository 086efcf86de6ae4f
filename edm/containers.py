"""Columnar containers for a block of events, their schemas and the input schema v1.

A :class:`Container` holds the objects of ``n_events`` consecutive events: ``offsets``
(int64[n_events+1]) cut the flat columns into events; each column is a numpy array with one
entry per object, or a :class:`ListColumn` (its own offsets + int32 values) for list-of-index
links. An :class:`EventRecord` holds one value per event (EventInfo, TruthMET).
Both convert zero-copy to/from Arrow (``list<struct>`` resp. ``struct``, one entry per event)
for numeric columns; bool columns are bit-packed by Arrow, so they are copied.

Links are event-local int32 indices into a target container named by the schema field
(``-1`` = invalid for single links; list links hold valid indices only). Range checks against
the target live in :mod:`metflow.edm.links`.

Constructors cast numeric columns to the schema dtype when the cast is of the same kind
(float64 -> float32, int64 -> int32); readers (:meth:`Container.from_arrow`) are strict and
reject any other Arrow type. NaN/inf in a float column is always an error
(:class:`~metflow.edm.errors.NonFiniteError`) in :meth:`validate` and in every reader.

Each concept lives in a module named after it; this module re-exports them (the public import
path): :mod:`.schema` (Field, Schema, schema v1, schema_for), :mod:`.list_column` (ListColumn),
:mod:`.container` (Container, container_from_events, empty_container), :mod:`.event_view`
(EventView, ObjectView), :mod:`.event_record` (EventRecord).
"""


from metflow.edm.container import Container, container_from_events, empty_container
from metflow.edm.event_record import EventRecord
from metflow.edm.event_view import EventView, ObjectView
from metflow.edm.list_column import ListColumn, _as_offsets  # noqa: F401 - _as_offsets: edm.association_map
from metflow.edm.schema import (CLUSTER_SCHEMA, ELECTRON_SCHEMA, EVENT_INFO_SCHEMA, LINK, LINKS,
                                MET_SIGNIFICANCE_SCHEMA, MUON_SCHEMA, ORIGINAL_INDEX, PFO_SCHEMA,
                                PHOTON_SCHEMA, TAU_SCHEMA, TRACK_SCHEMA, TRUTH_MET_SCHEMA, VALUE,
                                VERTEX_SCHEMA, Field, Schema, _original_index, jet_schema,  # noqa: F401
                                original_index_field, register_schema, registered_keys, schema_for)

__all__ = [
    "Field", "Schema", "ListColumn", "Container", "EventRecord", "EventView", "ObjectView",
    "schema_for", "register_schema", "registered_keys", "jet_schema", "container_from_events",
    "empty_container", "ORIGINAL_INDEX", "original_index_field", "VALUE", "LINK", "LINKS",
    "EVENT_INFO_SCHEMA", "TRUTH_MET_SCHEMA", "VERTEX_SCHEMA", "TRACK_SCHEMA", "CLUSTER_SCHEMA",
    "PFO_SCHEMA", "ELECTRON_SCHEMA", "PHOTON_SCHEMA", "MUON_SCHEMA", "TAU_SCHEMA",
]
