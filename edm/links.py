"""Link checks over a block of containers and resolution of shallow-copy chains."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from metflow.edm.containers import LINKS, ORIGINAL_INDEX, Container
from metflow.edm.errors import LinkError


def _check_index(values: np.ndarray, events: np.ndarray, target: Container, *, allow_invalid: bool,
                 source: str | None, key: str, column: str, target_key: str) -> None:
    if values.size == 0:
        return
    bound = target.counts()[events]
    low = -1 if allow_invalid else 0
    bad = np.flatnonzero((values < low) | (values >= bound))
    if bad.size:
        i = int(bad[0])
        raise LinkError(f"index {int(values[i])} out of range: {target_key!r} has {int(bound[i])} "
                        f"objects in this event", source=source, key=key, column=column,
                        event=int(events[i]))


def check_links(block: Mapping[str, Any], *, source: str | None = None) -> None:
    """Check every link of every container (and association map) whose target is in ``block``.

    Raises :class:`LinkError` naming file, key, column and (block-local) event of the first
    index outside its target. Links to keys absent from ``block`` are not checked.
    """
    from metflow.edm.met import MissingETAssociationMap
    for key, obj in block.items():
        if isinstance(obj, Container):
            for f in obj.schema.links:
                if f.name not in obj.columns or f.target not in block:
                    continue
                target = block[f.target]
                if not isinstance(target, Container):
                    continue
                if target.n_events != obj.n_events:
                    raise LinkError(f"link target {f.target!r} has {target.n_events} events, "
                                    f"this block {obj.n_events}", source=source, key=key, column=f.name)
                col = obj.columns[f.name]
                if f.kind == LINKS:
                    owner = np.repeat(np.arange(len(obj), dtype=np.int64), col.counts())
                    _check_index(col.values, obj.event_of_object()[owner], target, allow_invalid=False,
                                 source=source, key=key, column=f.name, target_key=f.target)
                else:
                    _check_index(col, obj.event_of_object(), target, allow_invalid=True,
                                 source=source, key=key, column=f.name, target_key=f.target)
        elif isinstance(obj, MissingETAssociationMap):
            ev_obj = obj.assoc_event()[obj.obj_assoc()]
            for cid, ckey in enumerate(obj.container_keys):
                target = block.get(ckey)
                if not isinstance(target, Container):
                    continue
                sel = obj.obj_container == cid
                _check_index(obj.obj_index[sel], ev_obj[sel], target, allow_invalid=False,
                             source=source, key=key, column=f"obj_index[{ckey}]", target_key=ckey)
            jets = block.get(obj.jet_key) if obj.jet_key else None
            if isinstance(jets, Container):
                sel = ~obj.is_misc
                _check_index(obj.jet_index[sel], obj.assoc_event()[sel], jets, allow_invalid=False,
                             source=source, key=key, column="jet_index", target_key=obj.jet_key)


def resolve_original(container: Container) -> tuple[Container | None, np.ndarray]:
    """(root container, event-local original index) of a shallow copy or chain of copies.

    For a container that is not a copy: (itself, its own local indices). The root is None for
    a copy read from disk (only ``original_index`` and the target key survive persistence).
    """
    if ORIGINAL_INDEX not in container.columns:
        return container, container.local_index()
    return container.original, container.columns[ORIGINAL_INDEX]


__all__ = ["check_links", "resolve_original"]
