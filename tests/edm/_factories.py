"""Random but physically shaped EDM objects for edm tests and the size measurement."""

from __future__ import annotations

import numpy as np

from metflow.edm import keys
from metflow.edm.containers import Container, ListColumn, schema_for
from metflow.edm.met import MissingETAssociationMap, MissingETContainer, ObjectType, Source
from metflow.edm.units import GeV

JETS = keys.jet_container_key("AntiKt4EMPFlow")
OBJECT_CONTAINERS = (keys.ELECTRONS, keys.PHOTONS, keys.TAUS, keys.MUONS)
_OBJ_TYPES = {keys.ELECTRONS: ObjectType.Electron, keys.PHOTONS: ObjectType.Photon,
              keys.TAUS: ObjectType.Tau, keys.MUONS: ObjectType.Muon}


def _vec(rng, scale):
    px, py = rng.normal(0, scale, 2)
    pz = rng.normal(0, 2 * scale)
    pt = float(np.hypot(px, py))
    e = float(np.sqrt(px * px + py * py + pz * pz))
    return (np.float32(px), np.float32(py), np.float32(pz), np.float32(e), np.float32(pt))


def representative_map_events(n_events: int, seed: int = 1, *, mean_jets: float = 8.0,
                              mean_objects: float = 3.0):
    """Per-event association dicts shaped like a ttbar-ish event.

    ~mean_jets jets per event (all get an association with their ghost-track sum; ~15% have no
    tracks), ~mean_objects hard objects (e, gamma, tau, mu); an object overlaps a jet with
    probability 0.35 (one cal entry, usually one trk entry); every object sits in the misc
    association otherwise, with its own cal/trk entries; occasional e-gamma overlaps.
    """
    rng = np.random.default_rng(seed)
    events = []
    for _ in range(n_events):
        n_jets = int(rng.poisson(mean_jets))
        n_obj = {c: int(rng.poisson(mean_objects / 4)) for c in OBJECT_CONTAINERS}
        assocs = [{"jet_index": j, "objects": [], "cal": [], "trk": [], "overlaps": [],
                   "jettrk": (0.0,) * 5 if rng.random() < 0.15 else _vec(rng, 20 * GeV)}
                  for j in range(n_jets)]
        misc = {"jet_index": -1, "objects": [], "cal": [], "trk": [], "overlaps": []}
        for cont, n in n_obj.items():
            for i in range(n):
                in_jet = n_jets > 0 and rng.random() < 0.35
                target = assocs[int(rng.integers(n_jets))] if in_jet else misc
                k = len(target["objects"])
                target["objects"].append((cont, i, _OBJ_TYPES[cont]))
                target["overlaps"].append([])
                target["cal"].append((1 << k, *_vec(rng, 30 * GeV)))
                if cont != keys.PHOTONS and rng.random() < 0.9:
                    target["trk"].append((1 << k, *_vec(rng, 30 * GeV)))
        # e-gamma sharing in misc: merge the first electron and photon cal entries into one key
        objs = misc["objects"]
        el = [k for k, o in enumerate(objs) if o[0] == keys.ELECTRONS]
        ph = [k for k, o in enumerate(objs) if o[0] == keys.PHOTONS]
        if el and ph and rng.random() < 0.5:
            a, b = el[0], ph[0]
            t = (1 << int(ObjectType.CaloCluster))
            misc["overlaps"][a].append((b, t))
            misc["overlaps"][b].append((a, t))
            misc["cal"].append(((1 << a) | (1 << b), *_vec(rng, 5 * GeV)))
        events.append(assocs + [misc])
    return events


def representative_map(n_events: int, seed: int = 1, **kw) -> MissingETAssociationMap:
    return MissingETAssociationMap.from_events(representative_map_events(n_events, seed, **kw),
                                               OBJECT_CONTAINERS, jet_key=JETS,
                                               key=keys.met_assoc_key("AntiKt4EMPFlow"))


def representative_core(n_events: int, seed: int = 2) -> MissingETContainer:
    rng = np.random.default_rng(seed)
    terms = []
    for name, src in ((keys.SOFT_CLUS_CORE, Source.soft_event() | Source.cluster_lc()),
                      (keys.PV_SOFT_TRK_CORE, Source.soft_event() | Source.track())):
        mpx, mpy = rng.normal(0, 15 * GeV, (2, n_events))
        terms.append((name, src, mpx, mpy, np.abs(rng.normal(150 * GeV, 50 * GeV, n_events))))
    return MissingETContainer.from_terms(n_events, terms, key=keys.met_core_key("AntiKt4EMPFlow"))


def random_container(key: str, n_events: int, rng: np.random.Generator, *, max_objects: int = 5,
                     target_counts: dict[str, np.ndarray] | None = None,
                     min_counts: np.ndarray | None = None) -> Container:
    """Random container of ``key``'s schema; links are valid w.r.t. ``target_counts``."""
    schema = schema_for(key)
    counts = rng.integers(0, max_objects + 1, n_events)
    if min_counts is not None:
        counts = np.maximum(counts, min_counts)
    offsets = np.zeros(n_events + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    n = int(offsets[-1])
    ev = np.repeat(np.arange(n_events), counts)
    cols = {}
    for f in schema.fields:
        tgt = (target_counts or {}).get(f.target, np.zeros(n_events, np.int64)) if f.is_link else None
        if f.kind == "links":
            lens = rng.integers(0, 4, n)
            lens = np.where(tgt[ev] > 0, lens, 0)
            lo = np.zeros(n + 1, np.int64)
            np.cumsum(lens, out=lo[1:])
            owner_ev = np.repeat(ev, lens)
            vals = (rng.random(int(lo[-1])) * tgt[owner_ev]).astype(np.int32) if lo[-1] else np.zeros(0, np.int32)
            cols[f.name] = ListColumn(lo, vals)
        elif f.kind == "link":
            vals = (rng.random(n) * (tgt[ev] + 1)).astype(np.int64) - 1
            cols[f.name] = vals.astype(np.int32)
        elif f.dtype == "bool":
            cols[f.name] = rng.random(n) < 0.5
        elif f.dtype.startswith(("int", "uint")):
            info = np.iinfo(f.dtype)
            cols[f.name] = rng.integers(max(info.min, -100), min(info.max, 100) + 1, n).astype(f.dtype)
        else:
            cols[f.name] = rng.normal(0, 50 * GeV, n).astype(f.dtype)
    return Container(schema, offsets, cols, key=key)


def objects_needed(m: MissingETAssociationMap, container: str) -> np.ndarray:
    """Per event: how many objects ``container`` needs so that every map link is valid."""
    need = np.zeros(m.n_events, np.int64)
    if container in m.container_keys:
        sel = m.obj_container == m.container_keys.index(container)
        ev = m.assoc_event()[m.obj_assoc()][sel]
        np.maximum.at(need, ev, m.obj_index[sel].astype(np.int64) + 1)
    return need
