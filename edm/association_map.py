"""MissingETAssociationMap: every association of a block in flat arrays (fields: docs/internals.md)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from metflow.edm.association_map_layout import (MAP_ARRAY_NAMES, _LENGTH_PLAN, _MAP_DTYPES, _MAP_FIELDS,
                                               _MAP_NAME_SET, _OFFSET_OF, _SLICE_PLAN, _VEC, _cast,
                                               _layout_kernel)
from metflow.edm.errors import MapConsistencyError, NonFiniteError, SchemaError, TooManyObjectsError
from metflow.edm.met_base import MAX_OBJECTS_PER_ASSOCIATION


class MissingETAssociationMap:
    """All associations of a block of events, columnar (see docs/internals.md for the fields).

    Per event: one association per jet in jet order (``jet_index``), then the misc association
    (``is_misc``, ``jet_index = -1``). Object ``k`` of association ``a`` is
    ``obj_offsets[a] + k``; its bit in cal/trk keys is ``1 << k``. ``container_keys`` names the
    object containers indexed by ``obj_container``; ``jet_key`` the jets (for the alternate
    constituent vector, where the reference jet is an object of its own association).
    """

    def __init__(self, container_keys: Sequence[str], *, jet_key: str | None = None,
                 key: str | None = None, **arrays: Any):
        self.key = key
        self.jet_key = jet_key
        self.container_keys = tuple(container_keys)
        if len(self.container_keys) > 255:
            raise SchemaError("at most 255 object containers per map", key=key)
        if arrays.keys() != _MAP_NAME_SET:
            unknown = set(arrays) - set(MAP_ARRAY_NAMES)
            if unknown:
                raise SchemaError(f"unknown map arrays {sorted(unknown)}", key=key, column=sorted(unknown)[0])
            missing = [n for n in MAP_ARRAY_NAMES if n not in arrays]
            raise SchemaError(f"missing map arrays {missing}", key=key, column=missing[0])
        values = [arrays[name] for name in MAP_ARRAY_NAMES]
        layout_ok = _layout_kernel()
        try:   # typing the call checks every field is a C-contiguous 1-d array of its dtype
            ok = layout_ok(*values)
        except Exception:   # noqa: BLE001 - only the dispatch can fail (TypeError, ValueError): cast
            ok = None
        if ok is None:
            values = [_cast(name, arrays[name], dtype, key) for name, dtype in _MAP_DTYPES]
            ok = layout_ok(*values)
        self.__dict__.update(zip(MAP_ARRAY_NAMES, values))
        self._cache: dict[Any, Any] = {}   # transient derived arrays, never persisted
        self._frozen = False
        if not ok:   # the Python checks name the first problem
            self._check_structure()

    @classmethod
    def from_kernel(cls, container_keys: tuple[str, ...], values: Sequence[np.ndarray], *,
                    jet_key: str | None = None, key: str | None = None) -> "MissingETAssociationMap":
        """A frozen map from a kernel's output: the producers' per-block constructor.

        ``values`` are the fields in ``MAP_ARRAY_NAMES`` order, each a C-contiguous 1-d array of
        its dtype with a valid structure, fresh from a kernel (or views of fresh kernel buffers),
        and already read-only: the producer sets each kernel buffer read-only before it slices
        the fields out of it (a view of a read-only buffer is read-only). Nothing is converted or
        re-checked, so the map is born frozen at the cost of one dict. Users build maps with the
        checking constructor."""
        out = cls.__new__(cls)
        attrs = out.__dict__
        attrs.update(zip(MAP_ARRAY_NAMES, values))
        attrs["key"] = key
        attrs["jet_key"] = jet_key
        attrs["container_keys"] = container_keys
        attrs["_cache"] = {}
        attrs["_frozen"] = True
        return out

    # -- structure ---------------------------------------------------------------------------
    def _check_structure(self) -> None:
        from metflow.edm.containers import _as_offsets
        for off in ("assoc_offsets", "obj_offsets", "ovl_offsets", "cal_offsets", "trk_offsets"):
            _as_offsets(getattr(self, off), what="offsets" if off == "assoc_offsets" else f"{off}",
                        key=self.key, column=off)
        counts = {"events": self.assoc_offsets.shape[0] - 1}
        for unit, off in _OFFSET_OF.items():
            counts[unit] = int(getattr(self, off)[-1])
        for name, unit, plus in _LENGTH_PLAN:
            want = counts[unit] + plus
            got = getattr(self, name).shape[0]
            if got != want:
                raise SchemaError(f"has {got} entries, expected {want} ({unit} count{' + 1' if plus else ''})",
                                  key=self.key, column=name)
        oo = self.obj_offsets
        if oo.shape[0] > 1 and (oo[1:] - oo[:-1]).max() > MAX_OBJECTS_PER_ASSOCIATION:
            n_obj = np.diff(oo)
            over = np.flatnonzero(n_obj > MAX_OBJECTS_PER_ASSOCIATION)
            a = int(over[0])
            raise TooManyObjectsError(event=int(self.assoc_event()[a]), jet_index=int(self.jet_index[a]),
                                      n_objects=int(n_obj[a]), key=self.key)

    @property
    def n_events(self) -> int:
        return self.assoc_offsets.shape[0] - 1

    @property
    def n_associations(self) -> int:
        return int(self.assoc_offsets[-1])

    @property
    def n_objects(self) -> int:
        return int(self.obj_offsets[-1])

    def __len__(self) -> int:
        return self.n_associations

    def arrays(self) -> dict[str, np.ndarray]:
        """Every raw array by field name (kernels take these)."""
        return {n: getattr(self, n) for n in MAP_ARRAY_NAMES}

    def _derived(self, name: str, build):
        v = self._cache.get(name)
        if v is None:
            v = build()
            v.flags.writeable = False
            self._cache[name] = v
        return v

    def assoc_event(self) -> np.ndarray:
        """int64[n_assoc]: block-local event of each association."""
        return self._derived("assoc_event", lambda: np.repeat(
            np.arange(self.n_events, dtype=np.int64), np.diff(self.assoc_offsets)))

    def obj_assoc(self) -> np.ndarray:
        """int64[n_obj]: association of each object."""
        return self._derived("obj_assoc", lambda: np.repeat(
            np.arange(self.n_associations, dtype=np.int64), np.diff(self.obj_offsets)))

    def container_id(self, container: str | int) -> int:
        if isinstance(container, (int, np.integer)):
            return int(container)
        try:
            return self.container_keys.index(container)
        except ValueError:
            raise KeyError(f"container {container!r} is not in map {self.key or ''} "
                           f"(containers: {list(self.container_keys)})") from None

    # -- views and lookups -------------------------------------------------------------------
    def association(self, a: int) -> "MissingETAssociation":
        if not 0 <= a < self.n_associations:
            raise IndexError(f"association {a} out of range ({self.n_associations})")
        return MissingETAssociation(self, a)

    def event_associations(self, event: int) -> list["MissingETAssociation"]:
        self._check_event(event)
        return [MissingETAssociation(self, a)
                for a in range(int(self.assoc_offsets[event]), int(self.assoc_offsets[event + 1]))]

    event = event_associations

    def _check_event(self, event: int) -> None:
        if not 0 <= event < self.n_events:
            raise IndexError(f"event {event} out of range for a block of {self.n_events} events")

    def find_by_jet(self, event: int, jet_index: int) -> "MissingETAssociation | None":
        """The association of jet ``jet_index`` (event-local) in ``event``, or None."""
        self._check_event(event)
        lo, hi = int(self.assoc_offsets[event]), int(self.assoc_offsets[event + 1])
        guess = lo + jet_index
        if lo <= guess < hi and self.jet_index[guess] == jet_index and not self.is_misc[guess]:
            return MissingETAssociation(self, guess)
        hits = np.flatnonzero((self.jet_index[lo:hi] == jet_index) & ~self.is_misc[lo:hi])
        return MissingETAssociation(self, lo + int(hits[0])) if hits.size else None

    def misc_association(self, event: int) -> "MissingETAssociation | None":
        self._check_event(event)
        lo, hi = int(self.assoc_offsets[event]), int(self.assoc_offsets[event + 1])
        for a in range(hi - 1, lo - 1, -1):
            if self.is_misc[a]:
                return MissingETAssociation(self, a)
        return None

    def associations_of(self, event: int, container: str | int, index: int) -> list["MissingETAssociation"]:
        """Every association of ``event`` listing object (container, index)."""
        self._check_event(event)
        cid = self.container_id(container)
        lo = int(self.obj_offsets[self.assoc_offsets[event]])
        hi = int(self.obj_offsets[self.assoc_offsets[event + 1]])
        hits = np.flatnonzero((self.obj_container[lo:hi] == cid) & (self.obj_index[lo:hi] == index))
        assoc = self.obj_assoc()
        return [MissingETAssociation(self, int(assoc[lo + h])) for h in hits]

    def ref_jet(self, event: int, container: str | int, index: int) -> int:
        """Jet index of the first jet association containing the object, else -1."""
        for assoc in self.associations_of(event, container, index):
            if not assoc.is_misc:
                return assoc.jet_index
        return -1

    def constituent_association(self, jets, target, field: str = "constituents") -> np.ndarray:
        """Transient constituent -> association cache (built on demand, never persisted).

        Returns int64[len(target)]: for every object of ``target`` (e.g. PFOs) the global index
        of the association whose jet lists it in ``jets[field]``, -1 if in no jet. ``jets`` and
        ``target`` are Containers over the same block of events as this map.
        """
        entry = self._cache.get(("constituents", field))
        if entry is not None and entry[0] is jets and entry[1] is target:
            return entry[2]
        if jets.n_events != self.n_events or target.n_events != self.n_events:
            raise SchemaError("jets, target and map must cover the same events", key=self.key)
        lists = jets[field]
        out = np.full(len(target), -1, np.int64)
        jet_event = jets.event_of_object()
        jet_local = jets.local_index()
        # association of each jet: jets are listed in order, find by jet_index within the event
        non_misc = ~self.is_misc
        a_ev = self.assoc_event()
        key_a = a_ev[non_misc] * (2 ** 32) + self.jet_index[non_misc].astype(np.int64)
        a_idx = np.flatnonzero(non_misc)
        order = np.argsort(key_a, kind="stable")
        key_j = jet_event * (2 ** 32) + jet_local.astype(np.int64)
        pos = np.searchsorted(key_a[order], key_j)
        pos_ok = pos < key_a.size
        found = np.zeros(len(jets), bool)
        found[pos_ok] = key_a[order][pos[pos_ok]] == key_j[pos_ok]
        jet_assoc = np.full(len(jets), -1, np.int64)
        jet_assoc[found] = a_idx[order][pos[found]]
        counts = lists.counts()
        const_jet = np.repeat(np.arange(len(jets), dtype=np.int64), counts)
        const_global = target.offsets[jet_event[const_jet]] + lists.values
        out[const_global] = jet_assoc[const_jet]
        out.flags.writeable = False
        self._cache[("constituents", field)] = (jets, target, out)
        return out

    # -- checks ------------------------------------------------------------------------------
    def validate(self, *, source: str | None = None, key: str | None = None) -> "MissingETAssociationMap":
        """Layout (misc last, one per event, jets increasing), container ids, finite sums."""
        key = key or self.key
        ev = self.assoc_event()
        misc_count = np.bincount(ev[self.is_misc], minlength=self.n_events)
        bad = np.flatnonzero(misc_count != 1)
        if bad.size:
            raise MapConsistencyError(f"{int(misc_count[bad[0]])} misc associations, expected exactly 1",
                                      source=source, key=key, column="is_misc", event=int(bad[0]))
        last = self.assoc_offsets[1:] - 1
        bad = np.flatnonzero(~self.is_misc[last])
        if bad.size:
            raise MapConsistencyError("misc association is not the last one", source=source, key=key,
                                      column="is_misc", event=int(bad[0]))
        bad = np.flatnonzero(self.is_misc & (self.jet_index != -1) | ~self.is_misc & (self.jet_index < 0))
        if bad.size:
            raise MapConsistencyError(f"jet_index {int(self.jet_index[bad[0]])} inconsistent with is_misc",
                                      source=source, key=key, column="jet_index", event=int(ev[bad[0]]))
        same_event = ev[1:] == ev[:-1]
        both_jets = ~self.is_misc[1:] & ~self.is_misc[:-1]
        bad = np.flatnonzero(same_event & both_jets & (self.jet_index[1:] <= self.jet_index[:-1]))
        if bad.size:
            raise MapConsistencyError("jet associations not in increasing jet order", source=source, key=key,
                                      column="jet_index", event=int(ev[bad[0] + 1]))
        bad = np.flatnonzero(self.obj_container >= len(self.container_keys))
        if bad.size:
            raise MapConsistencyError(f"obj_container {int(self.obj_container[bad[0]])} but only "
                                      f"{len(self.container_keys)} containers", source=source, key=key,
                                      column="obj_container", event=int(ev[self.obj_assoc()[bad[0]]]))
        bad = np.flatnonzero(self.obj_index < 0)
        if bad.size:
            raise MapConsistencyError(f"negative obj_index {int(self.obj_index[bad[0]])}", source=source,
                                      key=key, column="obj_index", event=int(ev[self.obj_assoc()[bad[0]]]))
        for name, _, length in _MAP_FIELDS:
            a = getattr(self, name)
            if a.dtype.kind == "f":
                badf = np.flatnonzero(~np.isfinite(a))
                if badf.size:
                    i = int(badf[0])
                    if length == "assoc":
                        e = int(ev[i])
                    else:
                        off = getattr(self, _OFFSET_OF[length])
                        e = int(ev[np.searchsorted(off, i, side="right") - 1])
                    raise NonFiniteError(f"non-finite value {a[i]}", source=source, key=key, column=name, event=e)
        return self

    def check_keys(self, *, source: str | None = None) -> "MissingETAssociationMap":
        """Key invariants: non-zero keys, no bit >= n_objects, unique keys, symmetric overlaps."""
        n_obj = np.diff(self.obj_offsets).astype(np.uint64)
        ev = self.assoc_event()
        for kind in ("cal", "trk"):
            keys = getattr(self, f"{kind}_key")
            off = getattr(self, f"{kind}_offsets")
            owner = np.repeat(np.arange(self.n_associations), np.diff(off))
            zero = np.flatnonzero(keys == 0)
            if zero.size:
                a = int(owner[zero[0]])
                raise MapConsistencyError(f"{kind}_key is zero", source=source, key=self.key,
                                          column=f"{kind}_key", event=int(ev[a]))
            nb = n_obj[owner]
            allowed = np.where(nb >= 64, np.uint64(0xFFFFFFFFFFFFFFFF),
                               (np.uint64(1) << np.minimum(nb, np.uint64(63))) - np.uint64(1))
            bad = np.flatnonzero(keys & ~allowed)
            if bad.size:
                a = int(owner[bad[0]])
                raise MapConsistencyError(
                    f"{kind}_key {int(keys[bad[0]]):#x} has a bit beyond the {int(n_obj[a])} objects of "
                    f"association {a - int(self.assoc_offsets[ev[a]])} (jet {int(self.jet_index[a])})",
                    source=source, key=self.key, column=f"{kind}_key", event=int(ev[a]))
            order = np.lexsort((keys, owner))
            dup = (owner[order][1:] == owner[order][:-1]) & (keys[order][1:] == keys[order][:-1])
            if dup.any():
                a = int(owner[order][1:][dup][0])
                raise MapConsistencyError(f"duplicate {kind}_key in association of jet {int(self.jet_index[a])}",
                                          source=source, key=self.key, column=f"{kind}_key", event=int(ev[a]))
        # overlaps: in range, not self, symmetric with equal types
        obj_assoc = self.obj_assoc()
        ovl_owner = np.repeat(np.arange(self.n_objects, dtype=np.int64), np.diff(self.ovl_offsets))
        local_owner = ovl_owner - self.obj_offsets[obj_assoc[ovl_owner]]
        n_in_assoc = np.diff(self.obj_offsets)[obj_assoc[ovl_owner]]
        bad = np.flatnonzero((self.ovl_index < 0) | (self.ovl_index >= n_in_assoc) | (self.ovl_index == local_owner))
        if bad.size:
            i = int(bad[0])
            raise MapConsistencyError(f"overlap index {int(self.ovl_index[i])} of object {int(local_owner[i])} "
                                      f"invalid (self or out of range)", source=source, key=self.key,
                                      column="ovl_index", event=int(ev[obj_assoc[ovl_owner[i]]]))
        a_of = obj_assoc[ovl_owner]
        fwd = np.stack([a_of, local_owner, self.ovl_index.astype(np.int64), self.ovl_type.astype(np.int64)], axis=1)
        rev = np.stack([a_of, self.ovl_index.astype(np.int64), local_owner, self.ovl_type.astype(np.int64)], axis=1)
        fs = {tuple(r) for r in fwd.tolist()}
        rs = {tuple(r) for r in rev.tolist()}
        if fs != rs:
            a, i, j, t = min(fs ^ rs)
            raise MapConsistencyError(f"overlaps not symmetric: object {i} -> {j} (type bits {t:#x}) has no "
                                      f"mirror in association of jet {int(self.jet_index[a])}", source=source,
                                      key=self.key, column="ovl_index", event=int(ev[a]))
        return self

    # -- block operations --------------------------------------------------------------------
    def slice(self, start: int, stop: int) -> "MissingETAssociationMap":
        """Events [start, stop) (arrays are views where possible, offsets rebased)."""
        start, stop, _ = slice(start, stop).indices(self.n_events)
        stop = max(start, stop)
        a0, a1 = int(self.assoc_offsets[start]), int(self.assoc_offsets[stop])
        o0, o1 = int(self.obj_offsets[a0]), int(self.obj_offsets[a1])
        v0, v1 = int(self.ovl_offsets[o0]), int(self.ovl_offsets[o1])
        c0, c1 = int(self.cal_offsets[a0]), int(self.cal_offsets[a1])
        t0, t1 = int(self.trk_offsets[a0]), int(self.trk_offsets[a1])
        rng = {"events": (start, stop), "assoc": (a0, a1), "obj": (o0, o1), "ovl": (v0, v1),
               "cal": (c0, c1), "trk": (t0, t1)}
        # a sub-range of a valid map is valid: built without re-casting and re-checking
        out = MissingETAssociationMap.__new__(MissingETAssociationMap)
        out.key, out.jet_key, out.container_keys = self.key, self.jet_key, self.container_keys
        for name, lo_hi, rebase in _SLICE_PLAN:
            lo, hi = rng[lo_hi]
            a = getattr(self, name)
            if rebase:
                a = a[lo:hi + 1] - a[lo]
                if self._frozen:   # the other arrays are views of read-only arrays
                    a.flags.writeable = False
                setattr(out, name, a)
            else:
                setattr(out, name, a[lo:hi])
        out._cache = {}
        out._frozen = self._frozen
        return out

    @classmethod
    def concatenate(cls, maps: Sequence["MissingETAssociationMap"]) -> "MissingETAssociationMap":
        """Blocks one after another; container keys are merged (ids remapped)."""
        if not maps:
            raise ValueError("concatenate needs at least one map")
        keys = list(maps[0].container_keys)
        for m in maps[1:]:
            keys += [k for k in m.container_keys if k not in keys]
        out: dict[str, list[np.ndarray]] = {n: [] for n in MAP_ARRAY_NAMES}
        for m in maps:
            remap = np.array([keys.index(k) for k in m.container_keys] or [0], dtype=np.uint8)
            for name, _, length in _MAP_FIELDS:
                a = getattr(m, name)
                if length.endswith("+1"):
                    prev = out[name]
                    shift = prev[-1][-1] if prev else 0
                    out[name].append(a[(1 if prev else 0):] + shift)
                elif name == "obj_container":
                    out[name].append(remap[a] if a.size else a)
                else:
                    out[name].append(a)
        jet_keys = {m.jet_key for m in maps}
        if len(jet_keys) > 1:
            raise SchemaError(f"cannot concatenate maps of different jets {sorted(map(str, jet_keys))}")
        return cls(tuple(keys), jet_key=maps[0].jet_key, key=maps[0].key,
                   **{n: np.concatenate(v) for n, v in out.items()})

    @classmethod
    def empty(cls, n_events: int, container_keys: Sequence[str] = (), *, jet_key: str | None = None,
              key: str | None = None, with_misc: bool = True) -> "MissingETAssociationMap":
        """Each event with only a misc association (or nothing) and no objects."""
        events = [[{"jet_index": -1, "objects": []}] if with_misc else [] for _ in range(n_events)]
        return cls.from_events(events, container_keys, jet_key=jet_key, key=key)

    @classmethod
    def from_events(cls, events: Sequence[Any], container_keys: Sequence[str] | None = None, *,
                    jet_key: str | None = None, key: str | None = None) -> "MissingETAssociationMap":
        """Build from Python lists (tests, small producers).

        ``events[i]`` is a list of association dicts (or ``{"associations": [...]}``)::

            {"jet_index": 0,                      # -1 (or is_misc=True) for the misc association
             "objects": [("Electrons", 0, ObjectType.Electron), ...],
             "overlaps": [[(j, type_bits), ...] per object],      # optional
             "cal": [(key, px, py, pz, e, sumpt), ...], "trk": [...],   # optional
             "jettrk": (px, py, pz, e, sumpt)}                     # optional, default zeros

        ``container_keys`` fixes the container order (default: order of first appearance).
        More than 64 objects in one association raises :class:`TooManyObjectsError`.
        """
        keys = list(container_keys or [])
        fixed = container_keys is not None
        cols: dict[str, list] = {n: [] for n in MAP_ARRAY_NAMES if not n.endswith("offsets")}
        counts: dict[str, list[int]] = {"assoc": [], "obj": [], "ovl": [], "cal": [], "trk": []}
        for ie, ev in enumerate(events):
            assocs = ev["associations"] if isinstance(ev, Mapping) else ev
            counts["assoc"].append(len(assocs))
            for ad in assocs:
                jet = ad.get("jet_index", -1)
                jet = -1 if jet is None else int(jet)
                misc = bool(ad.get("is_misc", jet < 0))
                objects = list(ad.get("objects", ()))
                if len(objects) > MAX_OBJECTS_PER_ASSOCIATION:
                    raise TooManyObjectsError(event=ie, jet_index=jet, n_objects=len(objects), key=key)
                cols["jet_index"].append(jet)
                cols["is_misc"].append(misc)
                counts["obj"].append(len(objects))
                overlaps = ad.get("overlaps") or [[] for _ in objects]
                if len(overlaps) != len(objects):
                    raise SchemaError(f"{len(overlaps)} overlap lists for {len(objects)} objects",
                                      key=key, column="ovl_index", event=ie)
                for obj, ovl in zip(objects, overlaps):
                    cont, idx, typ = obj
                    if isinstance(cont, str):
                        if cont not in keys:
                            if fixed:
                                raise SchemaError(f"object container {cont!r} not in {keys}", key=key,
                                                  column="obj_container", event=ie)
                            keys.append(cont)
                        cont = keys.index(cont)
                    cols["obj_container"].append(int(cont))
                    cols["obj_index"].append(int(idx))
                    cols["obj_type"].append(int(typ))
                    counts["ovl"].append(len(ovl))
                    for j, t in ovl:
                        cols["ovl_index"].append(int(j))
                        cols["ovl_type"].append(int(t))
                for kind in ("cal", "trk"):
                    entries = list(ad.get(kind, ()))
                    counts[kind].append(len(entries))
                    for entry in entries:
                        k, *vec = entry
                        if len(vec) != 5:
                            raise SchemaError(f"{kind} entry needs (key, px, py, pz, e, sumpt)", key=key,
                                              column=f"{kind}_key", event=ie)
                        cols[f"{kind}_key"].append(int(k))
                        for c, v in zip(_VEC, vec):
                            cols[f"{kind}_{c}"].append(v)
                jt = ad.get("jettrk") or (0.0,) * 5
                for c, v in zip(_VEC, jt):
                    cols[f"jettrk_{c}"].append(v)

        def offsets(c: list[int]) -> np.ndarray:
            o = np.zeros(len(c) + 1, np.int64)
            np.cumsum(c, out=o[1:])
            return o

        arrays: dict[str, np.ndarray] = {}
        for name, dtype, _ in _MAP_FIELDS:
            if name.endswith("offsets"):
                unit = {"assoc_offsets": "assoc", "obj_offsets": "obj", "ovl_offsets": "ovl",
                        "cal_offsets": "cal", "trk_offsets": "trk"}[name]
                arrays[name] = offsets(counts[unit])
            else:
                arrays[name] = np.array(cols[name], dtype=dtype)
        return cls(tuple(keys), jet_key=jet_key, key=key, **arrays)

    def to_events(self) -> list[list[dict]]:
        """Inverse of :meth:`from_events` (container keys as strings)."""
        return [[a.to_dict() for a in self.event_associations(i)] for i in range(self.n_events)]

    # -- lifecycle ---------------------------------------------------------------------------
    def freeze(self) -> "MissingETAssociationMap":
        if self._frozen:
            return self
        attrs = self.__dict__
        for n in MAP_ARRAY_NAMES:
            attrs[n].setflags(write=False)
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def equals(self, other: object) -> bool:
        """Bit-exact equality of every persistent field (the transient cache is ignored)."""
        if not isinstance(other, MissingETAssociationMap):
            return False
        if self.container_keys != other.container_keys or self.jet_key != other.jet_key:
            return False
        return all(getattr(self, n).dtype == getattr(other, n).dtype
                   and getattr(self, n).tobytes() == getattr(other, n).tobytes() for n in MAP_ARRAY_NAMES)

    def to_arrow(self):
        from metflow.edm import persistence
        return persistence.map_to_arrow(self)

    def __arrow_array__(self, type=None):
        return self.to_arrow()

    @classmethod
    def from_arrow(cls, array, *, key: str | None = None, source: str | None = None,
                   validate: bool = True) -> "MissingETAssociationMap":
        from metflow.edm import persistence
        return persistence.map_from_arrow(array, key=key, source=source, validate=validate)

    def __repr__(self) -> str:
        return (f"MissingETAssociationMap({self.key or ''}: {self.n_events} events, "
                f"{self.n_associations} associations, {self.n_objects} objects, "
                f"containers={list(self.container_keys)})")


# MissingETAssociation is a view of one of the map's associations (imported last: it refers back
# to the map for type annotations only).
from metflow.edm.association import MissingETAssociation  # noqa: E402
