"""Hypothesis strategies for random EDM containers and association maps."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from metflow.edm.containers import LINK, LINKS, Container, ListColumn, schema_for
from metflow.edm.met import MissingETAssociationMap, MissingETContainer

f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
CONTAINER_KEYS = ("Electrons", "Photons", "TauJets", "Muons")
# xAOD type of each container's objects (a map read from a file must agree, see edm.map_checks)
CONTAINER_TYPES = {"Electrons": 6, "Photons": 7, "TauJets": 9, "Muons": 8}


@st.composite
def containers(draw, key: str, max_events: int = 4, max_objects: int = 3):
    schema = schema_for(key)
    counts = draw(st.lists(st.integers(0, max_objects), min_size=0, max_size=max_events))
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    n = int(offsets[-1])
    cols = {}
    for f in schema.fields:
        if f.kind == LINKS:
            lists = draw(st.lists(st.lists(st.integers(0, 50), max_size=3), min_size=n, max_size=n))
            cols[f.name] = ListColumn.from_lists(lists)
        elif f.kind == LINK:
            cols[f.name] = np.array(draw(st.lists(st.integers(-1, 50), min_size=n, max_size=n)), np.int32)
        elif f.dtype == "bool":
            cols[f.name] = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
        elif f.dtype == "float32":
            cols[f.name] = np.array(draw(st.lists(f32, min_size=n, max_size=n)), np.float32)
        else:
            info = np.iinfo(f.dtype)
            cols[f.name] = np.array(draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=n,
                                                  max_size=n)), f.dtype)
    return Container(schema, offsets, cols, key=key)


@st.composite
def met_containers(draw, max_events: int = 4):
    n = draw(st.integers(0, max_events))
    names = draw(st.lists(st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=8),
                          unique=True, max_size=4))
    sources = draw(st.lists(st.integers(0, 2**64 - 1), min_size=len(names), max_size=len(names)))
    arr = lambda: np.array(draw(st.lists(f32, min_size=n * len(names), max_size=n * len(names))),
                           np.float32).reshape(n, len(names))
    return MissingETContainer(names, np.array(sources, np.uint64), arr(), arr(), arr())


@st.composite
def _association(draw, jet_index: int, max_objects: int):
    n_obj = draw(st.integers(0, max_objects))
    containers_ = [draw(st.sampled_from(CONTAINER_KEYS)) for _ in range(n_obj)]
    objects = [(c, draw(st.integers(0, 20)), CONTAINER_TYPES[c]) for c in containers_]
    overlaps = [[] for _ in range(n_obj)]
    for i in range(n_obj):
        for j in range(i + 1, n_obj):
            if draw(st.booleans()):
                t = draw(st.integers(1, 255))
                overlaps[i].append((j, t))
                overlaps[j].append((i, t))
    entries = {}
    for kind in ("cal", "trk"):
        if n_obj == 0:
            entries[kind] = []
            continue
        keys = draw(st.lists(st.integers(1, (1 << n_obj) - 1), unique=True, max_size=4))
        entries[kind] = [(k, *draw(st.tuples(f32, f32, f32, f32, f32))) for k in keys]
    jettrk = draw(st.tuples(f32, f32, f32, f32, f32)) if jet_index >= 0 else (0.0,) * 5
    return {"jet_index": jet_index, "objects": objects, "overlaps": overlaps, "jettrk": jettrk, **entries}


@st.composite
def association_maps(draw, max_events: int = 3, max_jets: int = 3, max_objects: int = 4):
    n_events = draw(st.integers(0, max_events))
    events = []
    for _ in range(n_events):
        n_jets = draw(st.integers(0, max_jets))
        events.append([draw(_association(j, max_objects)) for j in range(n_jets)]
                      + [draw(_association(-1, max_objects))])
    return MissingETAssociationMap.from_events(events, CONTAINER_KEYS, jet_key="AntiKt4EMPFlowJets",
                                               key="METAssoc_AntiKt4EMPFlow")
