"""JetCollection: what the MET chain needs to know about a jet collection, as one record.

A record names the collection (``AntiKt4EMPFlow``), the store key of its jets' constituents
(PFOs or TopoClusters) and whether it is a ParticleFlow collection (the association mode and
METMaker's overlap policy). The known collections are registered here; a plugin adds its own
with :func:`register_jet_collection`. Nothing parses a collection's name for its meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

from metflow.edm import keys as K
from metflow.edm.errors import UnknownKeyError


@dataclass(frozen=True)
class JetCollection:
    """A jet collection: ``name``, the store key of its ``constituents``, ``pflow`` or not."""

    name: str
    constituents: str
    pflow: bool

    @property
    def jets_key(self) -> str:
        """Store key of the jets ("AntiKt4EMPFlowJets")."""
        return K.jet_container_key(self.name)


_RECORDS: dict[str, JetCollection] = {
    "AntiKt4EMPFlow": JetCollection("AntiKt4EMPFlow", constituents=K.PFOS, pflow=True),
    "AntiKt4EMTopo": JetCollection("AntiKt4EMTopo", constituents=K.CLUSTERS, pflow=False),
}


def jet_collection(name: str) -> JetCollection:
    """The record of jet collection ``name``; :class:`UnknownKeyError` (with close names) if none."""
    record = _RECORDS.get(name)
    if record is None:
        raise UnknownKeyError(name, list(_RECORDS), what="jet collection")
    return record


def jet_collection_of_key(jets_key: str) -> JetCollection | None:
    """The record whose jets are stored under ``jets_key``, or None."""
    for record in _RECORDS.values():
        if record.jets_key == jets_key:
            return record
    return None


def register_jet_collection(record: JetCollection) -> JetCollection:
    """Make ``record`` known (a plugin's jet collection); re-registering the same record is a no-op."""
    old = _RECORDS.get(record.name)
    if old is not None and old != record:
        raise ValueError(f"jet collection {record.name!r} is already registered as {old}")
    _RECORDS[record.name] = record
    return record


__all__ = ["JetCollection", "jet_collection", "jet_collection_of_key", "register_jet_collection"]
