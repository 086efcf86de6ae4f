"""Event data model: columnar containers, links, shallow copies, MissingET classes, persistence.

Containers hold a block of events as ``offsets`` + typed columns (see :mod:`.containers`);
MET classes are named as in ATLAS (:mod:`.met`); keys and term names come from :mod:`.keys`;
units from :mod:`.units`; Parquet I/O is in :mod:`.persistence`.
"""

from metflow.edm import keys, units
from metflow.edm.containers import (Container, EventRecord, EventView, Field, ListColumn,
                                    ObjectView, Schema, container_from_events, empty_container,
                                    jet_schema, register_schema, schema_for)
from metflow.edm.errors import (CorruptInputError, EDMError, LinkError, MapConsistencyError,
                                NonFiniteError, SchemaError, TooManyObjectsError, UnknownKeyError)
from metflow.edm.links import check_links, resolve_original
from metflow.edm.met import (ConstVec, MissingET, MissingETAssociation, MissingETAssociationHelper,
                             MissingETAssociationMap, MissingETBase, MissingETContainer,
                             ObjectType, Source, UsagePolicy)
from metflow.edm.persistence import decode, read_parquet, write_parquet

__all__ = [
    "keys", "units",
    "Container", "EventRecord", "EventView", "Field", "ListColumn", "ObjectView", "Schema",
    "container_from_events", "empty_container", "jet_schema", "register_schema", "schema_for",
    "CorruptInputError", "EDMError", "LinkError", "MapConsistencyError", "NonFiniteError",
    "SchemaError", "TooManyObjectsError", "UnknownKeyError",
    "check_links", "resolve_original",
    "ConstVec", "MissingET", "MissingETAssociation", "MissingETAssociationHelper",
    "MissingETAssociationMap", "MissingETBase", "MissingETContainer", "ObjectType", "Source",
    "UsagePolicy", "decode", "read_parquet", "write_parquet",
]
