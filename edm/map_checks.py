"""Integrity checks of a MissingETAssociationMap read from a file (links, keys, bookkeeping).

A map on disk is a set of flat index arrays; a flipped or hostile entry would not crash
METMaker but silently change MET (an object link past the end of ``Muons`` simply matches no
muon). So every map read from a file goes through :func:`check_map` when it is decoded, or,
where the object containers are read with it (a job's Parquet source, ``read_parquet``), through
:func:`check_block`, which also range-checks the links against the containers' per-event sizes
(the job's source runs it once per decoded row group, or per block where it must: see
``MapCheckedParquetSource``). One numba ``nogil`` kernel makes one pass over the arrays:

* offsets start at 0, never decrease, and their totals match the per-item arrays;
* per event: associations end with exactly one misc association; jet association ``a`` links
  jet ``a`` (one per jet, in jet order); with the jets known, associations == jets + 1;
* per object: at most 64 per association, ``obj_container`` names a container, ``obj_type``
  is the type of that container (a container key with a known schema has one type: swapped
  container metadata shows up here; an unknown one must at least hold one type), the index is
  >= 0 and, with that container known, < its size in the event;
* per overlap: index of another object of the same association, listed symmetrically with
  the same type bits;
* per cal/trk entry: key non-zero, no bit >= the association's object count, keys unique.

Errors are :class:`~metflow.edm.errors.MapConsistencyError` (or :class:`LinkError` for a link
past its container) naming file, key, column, event (``first`` + block index) and, when an
``EventInfo`` record is given, the run and event number.
"""

from __future__ import annotations

import functools
import operator
import threading
from typing import Any, Mapping

import numpy as np

from metflow.edm.errors import LinkError, MapConsistencyError, UnknownKeyError
from metflow.edm.met import MAX_OBJECTS_PER_ASSOCIATION, MissingETAssociationMap, ObjectType

# kernel result codes (out[0]); out[1] block-local event, out[2] association (global index),
# out[3] item (object / overlap / entry global index, or offsets array id), out[4] detail
OK = 0
BAD_OFFSETS = 1          # out[3]: which offsets array (see _OFFSET_NAMES)
NO_ASSOCIATIONS = 2
MISC_NOT_LAST = 3        # the last association is not misc, or a misc one is not last
JET_INDEX = 4            # jet association's jet_index != its position (misc: != -1)
JET_COUNT = 5            # out[4]: jets in the event
TOO_MANY_OBJECTS = 6
BAD_CONTAINER = 7
OBJ_TYPE = 8             # out[4]: expected type
OBJ_TYPE_MIXED = 9       # out[4]: type seen first in that container
OBJ_INDEX_NEGATIVE = 10
OBJ_INDEX_RANGE = 11     # out[4]: objects in the container in that event
OVL_RANGE = 12
OVL_SELF = 13
OVL_ASYMMETRIC = 14
KEY_ZERO = 15            # out[4]: 0 cal, 1 trk
KEY_BITS = 16
KEY_DUPLICATE = 17

_OFFSET_NAMES = ("assoc_offsets", "obj_offsets", "ovl_offsets", "cal_offsets", "trk_offsets")
# the arrays the kernel takes from the map, in order
_KERNEL_FIELDS = ("assoc_offsets", "jet_index", "is_misc", "obj_offsets", "obj_container", "obj_index",
                  "obj_type", "ovl_offsets", "ovl_index", "ovl_type", "cal_offsets", "cal_key",
                  "trk_offsets", "trk_key")


def _offsets_bad(off, n_items):
    """Whether offsets fail: start at 0, non-decreasing, end at the item count."""
    if off.shape[0] == 0 or off[0] != 0 or off[off.shape[0] - 1] != n_items:
        return True
    for i in range(off.shape[0] - 1):
        if off[i + 1] < off[i]:
            return True
    return False


def _fail(out, code, event, assoc, item, detail):
    """Record a violation in ``out`` and return its code (kernel helper)."""
    out[0] = code
    out[1] = event
    out[2] = assoc
    out[3] = item
    out[4] = detail
    return code


def _first_duplicate(keys, lo, hi):
    """Index in [lo, hi) of the second occurrence of a repeated key, or -1 (rare path: keys
    that are not strictly increasing)."""
    s = np.sort(keys[lo:hi])
    for k in range(1, hi - lo):
        if s[k] == s[k - 1]:
            for j in range(lo, hi):
                for i in range(lo, j):
                    if keys[i] == keys[j]:
                        return j
    return -1


def _check(assoc_offsets, jet_index, is_misc, obj_offsets, obj_container, obj_index, obj_type,
           ovl_offsets, ovl_index, ovl_type, cal_offsets, cal_key, trk_offsets, trk_key,
           container_type, rows, sizes, out):
    """One pass over a map block; returns 0 or the first violation's code (details in ``out``).

    ``container_type[c]``: xAOD type of container c (-1 unknown); container c's per-event
    offsets are ``sizes[rows[c] * (n_events + 1):][:n_events + 1]`` (``rows[len(container_type)]``:
    the jets'), not checked where the row is -1. Compiled by :func:`_kernel`.
    """
    n_events = assoc_offsets.shape[0] - 1
    n_cont = container_type.shape[0]
    if n_events < 0 or _offsets_bad(assoc_offsets, jet_index.shape[0]) or is_misc.shape[0] != jet_index.shape[0]:
        return _fail(out, BAD_OFFSETS, 0, -1, 0, 0)
    n_assoc = jet_index.shape[0]
    if obj_offsets.shape[0] != n_assoc + 1 or _offsets_bad(obj_offsets, obj_index.shape[0]) \
            or obj_container.shape[0] != obj_index.shape[0] or obj_type.shape[0] != obj_index.shape[0]:
        return _fail(out, BAD_OFFSETS, 0, -1, 1, 0)
    if ovl_offsets.shape[0] != obj_index.shape[0] + 1 or _offsets_bad(ovl_offsets, ovl_index.shape[0]) \
            or ovl_type.shape[0] != ovl_index.shape[0]:
        return _fail(out, BAD_OFFSETS, 0, -1, 2, 0)
    if cal_offsets.shape[0] != n_assoc + 1 or _offsets_bad(cal_offsets, cal_key.shape[0]):
        return _fail(out, BAD_OFFSETS, 0, -1, 3, 0)
    if trk_offsets.shape[0] != n_assoc + 1 or _offsets_bad(trk_offsets, trk_key.shape[0]):
        return _fail(out, BAD_OFFSETS, 0, -1, 4, 0)
    seen_type = np.full(n_cont, -1, np.int64)
    for ev in range(n_events):
        a0 = assoc_offsets[ev]
        a1 = assoc_offsets[ev + 1]
        if a1 == a0:
            return _fail(out, NO_ASSOCIATIONS, ev, -1, -1, 0)
        if not is_misc[a1 - 1]:
            return _fail(out, MISC_NOT_LAST, ev, a1 - 1, -1, 0)
        r = rows[n_cont]
        if r >= 0:
            n_jets = sizes[r * (n_events + 1) + ev + 1] - sizes[r * (n_events + 1) + ev]
            if a1 - a0 != n_jets + 1:
                return _fail(out, JET_COUNT, ev, -1, -1, n_jets)
        for a in range(a0, a1):
            if is_misc[a]:
                if a != a1 - 1:
                    return _fail(out, MISC_NOT_LAST, ev, a, -1, 0)
                if jet_index[a] != -1:
                    return _fail(out, JET_INDEX, ev, a, -1, -1)
            elif jet_index[a] != a - a0:
                return _fail(out, JET_INDEX, ev, a, -1, a - a0)
            o0 = obj_offsets[a]
            o1 = obj_offsets[a + 1]
            n_obj = o1 - o0
            if n_obj > 64:
                return _fail(out, TOO_MANY_OBJECTS, ev, a, -1, n_obj)
            for o in range(o0, o1):
                c = np.int64(obj_container[o])
                if c >= n_cont:
                    return _fail(out, BAD_CONTAINER, ev, a, o, n_cont)
                t = np.int64(obj_type[o])
                want = container_type[c]
                if want >= 0:
                    if t != want:
                        return _fail(out, OBJ_TYPE, ev, a, o, want)
                elif seen_type[c] < 0:
                    seen_type[c] = t
                elif t != seen_type[c]:
                    return _fail(out, OBJ_TYPE_MIXED, ev, a, o, seen_type[c])
                idx = obj_index[o]
                if idx < 0:
                    return _fail(out, OBJ_INDEX_NEGATIVE, ev, a, o, 0)
                r = rows[c]
                if r >= 0:
                    size = sizes[r * (n_events + 1) + ev + 1] - sizes[r * (n_events + 1) + ev]
                    if idx >= size:
                        return _fail(out, OBJ_INDEX_RANGE, ev, a, o, size)
                for p in range(ovl_offsets[o], ovl_offsets[o + 1]):
                    j = np.int64(ovl_index[p])
                    if j < 0 or j >= n_obj:
                        return _fail(out, OVL_RANGE, ev, a, p, n_obj)
                    if j == o - o0:
                        return _fail(out, OVL_SELF, ev, a, p, 0)
                    oj = o0 + j
                    mirrored = False
                    for q in range(ovl_offsets[oj], ovl_offsets[oj + 1]):
                        if ovl_index[q] == o - o0 and ovl_type[q] == ovl_type[p]:
                            mirrored = True
                            break
                    if not mirrored:
                        return _fail(out, OVL_ASYMMETRIC, ev, a, p, 0)
            allowed = np.uint64(0xFFFFFFFFFFFFFFFF)
            if n_obj < 64:
                allowed = (np.uint64(1) << np.uint64(n_obj)) - np.uint64(1)
            lo = cal_offsets[a]       # cal keys (written out twice: a shared helper is 2x slower)
            hi = cal_offsets[a + 1]
            increasing = True
            for k in range(lo, hi):
                key = cal_key[k]
                if key == 0:
                    return _fail(out, KEY_ZERO, ev, a, k, 0)
                if key & ~allowed:
                    return _fail(out, KEY_BITS, ev, a, k, 0)
                if k > lo and key <= cal_key[k - 1]:
                    increasing = False
            if not increasing:   # identifyOverlaps writes keys increasing; unique unsorted ones are valid
                k = _first_duplicate(cal_key, lo, hi)
                if k >= 0:
                    return _fail(out, KEY_DUPLICATE, ev, a, k, 0)
            lo = trk_offsets[a]       # trk keys (written out twice: a shared helper is 2x slower)
            hi = trk_offsets[a + 1]
            increasing = True
            for k in range(lo, hi):
                key = trk_key[k]
                if key == 0:
                    return _fail(out, KEY_ZERO, ev, a, k, 1)
                if key & ~allowed:
                    return _fail(out, KEY_BITS, ev, a, k, 1)
                if k > lo and key <= trk_key[k - 1]:
                    increasing = False
            if not increasing:   # identifyOverlaps writes keys increasing; unique unsorted ones are valid
                k = _first_duplicate(trk_key, lo, hi)
                if k >= 0:
                    return _fail(out, KEY_DUPLICATE, ev, a, k, 1)
    return OK


_KERNEL: Any = None
_KERNEL_LOCK = threading.Lock()


def _kernel():
    """:func:`_check` compiled once (nogil, cached on disk) for map arrays of their dtypes,
    int64 container types and rows (read-only), int64 sizes and the result (writable)."""
    global _KERNEL, _offsets_bad, _fail, _first_duplicate
    if _KERNEL is None:
        with _KERNEL_LOCK:
            if _KERNEL is None:
                import numba
                from numba import types

                from metflow import _kernel_cache

                _kernel_cache.install()   # recompiled when any metflow kernel source changes

                jit = numba.njit(nogil=True, cache=True)
                _offsets_bad, _fail, _first_duplicate = jit(_offsets_bad), jit(_fail), jit(_first_duplicate)
                arr = lambda dt, ro, nd=1: types.Array(numba.from_dtype(np.dtype(dt)), nd, "C", readonly=ro)
                dtypes = {"assoc_offsets": "int64", "jet_index": "int32", "is_misc": "bool",
                          "obj_offsets": "int64", "obj_container": "uint8", "obj_index": "int32",
                          "obj_type": "uint8", "ovl_offsets": "int64", "ovl_index": "int32",
                          "ovl_type": "uint8", "cal_offsets": "int64", "cal_key": "uint64",
                          "trk_offsets": "int64", "trk_key": "uint64"}
                # map arrays all read-only (frozen maps) or all writable: exact matches dispatch
                # fast; any other mix converts to the read-only one
                sigs = [types.int64(*(arr(dtypes[n], ro) for n in _KERNEL_FIELDS), arr("int64", True),
                                    arr("int64", True), arr("int64", False), arr("int64", False))
                        for ro in (True, False)]
                _KERNEL = numba.njit(sigs, nogil=True, cache=True)(_check)
    return _KERNEL


@functools.lru_cache(maxsize=256)
def container_types(container_keys: tuple[str, ...]) -> np.ndarray:
    """int64 xAOD type per container key from its schema ("Muons" -> Muon), -1 if unknown."""
    from metflow.edm.containers import schema_for
    out = np.full(len(container_keys), -1, np.int64)
    for i, key in enumerate(container_keys):
        try:
            name = schema_for(key).name
        except UnknownKeyError:
            continue
        if name in ObjectType.__members__:
            out[i] = int(ObjectType[name])
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=256)
def _layout(container_keys: tuple[str, ...], jet_key: str | None,
            present: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(type per container, row of each container and, last, of the jets among ``present``
    or -1): the kernel's view of a map's bookkeeping, built once per key set."""
    rows = np.array([present.index(k) if k in present else -1 for k in (*container_keys, jet_key)], np.int64)
    rows.flags.writeable = False
    return container_types(container_keys), rows


_map_fields = operator.attrgetter(*_KERNEL_FIELDS)


_NO_SIZES = np.zeros(0, np.int64)


def _stack(offsets: Mapping[str, Any] | None, n_events: int,
           keys=None) -> tuple[tuple[str, ...], np.ndarray]:
    """(keys, their per-event offsets concatenated) of the ``offsets`` given for ``n_events``
    (values: offsets arrays, or objects with ``offsets``, e.g. a block's containers)."""
    present, arrays = [], []
    for k in (offsets or {}) if keys is None else keys:
        off = (offsets or {}).get(k)
        if off is not None and off.__class__ is not np.ndarray:
            off = getattr(off, "offsets", None)
        if off.__class__ is np.ndarray and off.shape[0] == n_events + 1:
            present.append(k)
            arrays.append(off)
    if not arrays:
        return (), _NO_SIZES
    return tuple(present), np.concatenate(arrays).astype(np.int64, copy=False)


def run_kernel(m: Any, offsets: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """The kernel's result (code, event, association, item, detail) for map ``m`` (any object
    with the map's arrays, ``container_keys`` and ``jet_key``), against ``{key: per-event
    offsets}`` of its object containers and jets where given (others are not range-checked)."""
    present, sizes = _stack(offsets, m.assoc_offsets.shape[0] - 1)
    types_, rows = _layout(tuple(m.container_keys), m.jet_key, present)
    out = np.zeros(5, np.int64)
    _kernel()(*_map_fields(m), types_, rows, sizes, out)
    return out


def _event_label(event: int, event_info: Any) -> str:
    """'; run R, event number E' of a block event from its EventInfo record, '' if unknown."""
    if event_info is None:
        return ""
    try:
        run, number = int(event_info["run_number"][event]), int(event_info["event_number"][event])
    except (KeyError, IndexError, TypeError):
        return ""
    return f"; run {run}, event number {number}"


def describe(m: MissingETAssociationMap, out: np.ndarray) -> tuple[str, str]:
    """(message, column) for a kernel result."""
    code, ev, a, item, detail = (int(x) for x in out)
    keys = m.container_keys
    if a >= 0:
        pos = a - int(m.assoc_offsets[ev])
        what = "misc association" if m.is_misc[a] else f"association {pos} (jet {int(m.jet_index[a])})"
    else:
        pos, what = -1, ""

    def obj(o: int) -> str:
        c = int(m.obj_container[o])
        name = keys[c] if c < len(keys) else f"container #{c}"
        return f"object {o - int(m.obj_offsets[a])} ({name}[{int(m.obj_index[o])}])"

    if code == BAD_OFFSETS:
        return f"{_OFFSET_NAMES[item]} inconsistent: must start at 0, never decrease and end at the " \
               f"number of entries", _OFFSET_NAMES[item]
    if code == NO_ASSOCIATIONS:
        return "event has no associations (expected one per jet plus the misc association)", "is_misc"
    if code == MISC_NOT_LAST:
        return (f"{what}: expected exactly one misc association, placed last "
                f"(association {pos} of {int(m.assoc_offsets[ev + 1] - m.assoc_offsets[ev])})"), "is_misc"
    if code == JET_INDEX:
        if detail < 0:
            return f"misc association links jet {int(m.jet_index[a])} (expected none, -1)", "jet_index"
        return (f"association {pos} links jet {int(m.jet_index[a])}; the map must hold one association per "
                f"jet in jet order (expected jet {detail})"), "jet_index"
    if code == JET_COUNT:
        n_assoc = int(m.assoc_offsets[ev + 1] - m.assoc_offsets[ev])
        return (f"{n_assoc} associations but {m.jet_key!r} has {detail} jets in this event "
                f"(expected jets + 1 = {detail + 1}: a jet link out of range or a missing association)"), \
            "jet_index"
    if code == TOO_MANY_OBJECTS:
        return f"{what} has {detail} objects; at most {MAX_OBJECTS_PER_ASSOCIATION} fit a 64-bit key", "obj_index"
    if code == BAD_CONTAINER:
        return (f"{what}: object {item - int(m.obj_offsets[a])} has obj_container {int(m.obj_container[item])}"
                f" but the map names {detail} containers {list(keys)}"), "obj_container"
    if code in (OBJ_TYPE, OBJ_TYPE_MIXED):
        got = int(m.obj_type[item])
        tname = lambda t: ObjectType(t).name if t in ObjectType._value2member_map_ else str(t)
        cname = keys[int(m.obj_container[item])]
        if code == OBJ_TYPE:
            return (f"{what}: {obj(item)} has obj_type {tname(got)} but {cname!r} holds "
                    f"{tname(detail)} objects (container metadata {list(keys)} does not match the links)"), \
                "obj_type"
        return (f"{what}: {obj(item)} has obj_type {tname(got)} but other objects of {cname!r} have "
                f"{tname(detail)} (container metadata {list(keys)} does not match the links)"), "obj_type"
    if code == OBJ_INDEX_NEGATIVE:
        return f"{what}: {obj(item)}: negative object index", "obj_index"
    if code == OBJ_INDEX_RANGE:
        cname = keys[int(m.obj_container[item])]
        return (f"{what}: {obj(item)} points past the end of {cname!r}, which has {detail} objects "
                f"in this event"), f"obj_index[{cname}]"
    if code in (OVL_RANGE, OVL_SELF, OVL_ASYMMETRIC):
        owner = int(np.searchsorted(m.ovl_offsets, item, side="right") - 1)
        i = owner - int(m.obj_offsets[a])
        j = int(m.ovl_index[item])
        if code == OVL_RANGE:
            return f"{what}: overlap index {j} of object {i} out of range ({detail} objects)", "ovl_index"
        if code == OVL_SELF:
            return f"{what}: object {i} lists itself as an overlap", "ovl_index"
        return (f"{what}: overlap {i} -> {j} (type bits {int(m.ovl_type[item]):#x}) has no mirror "
                f"{j} -> {i}"), "ovl_index"
    kind = ("cal", "trk")[detail]
    col = f"{kind}_key"
    key = int(getattr(m, col)[item])
    n_obj = int(m.obj_offsets[a + 1] - m.obj_offsets[a])
    if code == KEY_ZERO:
        return f"{what}: {col} entry {item - int(getattr(m, f'{kind}_offsets')[a])} is zero", col
    if code == KEY_BITS:
        return f"{what}: {col} {key:#x} has a bit >= its {n_obj} objects", col
    if code == KEY_DUPLICATE:
        return f"{what}: {col} {key:#x} appears twice", col
    return f"association map check failed with code {code}", "?"


def check_map(m: MissingETAssociationMap, offsets: Mapping[str, np.ndarray] | None = None, *,
              source: str | None = None, key: str | None = None, first: int = 0,
              event_info: Any = None) -> MissingETAssociationMap:
    """Raise on the first violated invariant (module docstring) of map ``m``.

    ``offsets``: store key -> per-event offsets (int64[n_events + 1]) of the map's object
    containers and jets, for the link range checks; keys not given are not range-checked.
    ``first``: absolute index of the block's first event (errors name absolute events);
    ``event_info``: an EventInfo record of the same block (run and event number in errors).
    """
    out = run_kernel(m, offsets)
    if out[0] != OK:
        _raise(m, out, source, key, first, event_info)
    return m


def _raise(m: Any, out: np.ndarray, source: str | None, key: str | None, first: int, event_info: Any):
    """The error of a kernel result: LinkError for a link past its container, else
    MapConsistencyError; event absolute (none for broken offsets, which concern no event)."""
    message, column = describe(m, out)
    if out[0] == BAD_OFFSETS:
        raise MapConsistencyError(message, source=source, key=key or m.key, column=column)
    ev = int(out[1])
    cls = LinkError if out[0] in (OBJ_INDEX_RANGE, JET_COUNT) else MapConsistencyError
    raise cls(message + _event_label(ev, event_info), source=source, key=key or m.key, column=column,
              event=first + ev)


def block_offsets(block: Mapping[str, Any], keys=None) -> dict[str, np.ndarray]:
    """Per-event offsets of the object containers of a block (of ``keys``, default all)."""
    out = {}
    for key in (block if keys is None else keys):
        off = getattr(block.get(key), "offsets", None)
        if isinstance(off, np.ndarray):
            out[key] = off
    return out


def check_block(block: Mapping[str, Any], *, source: str | None = None, first: int = 0,
                event_info_key: str | None = "EventInfo") -> None:
    """:func:`check_map` for every association map of a block, against the block's containers
    (``first``: absolute index of the block's first event). Runs per row group or block of a
    job, so the bookkeeping is kept to one stack of the containers' offsets and one kernel call
    per map."""
    maps = [(key, obj) for key, obj in block.items() if isinstance(obj, MissingETAssociationMap)]
    if not maps:
        return
    kernel = _kernel()
    wanted = _wanted(tuple((m.container_keys, m.jet_key) for _, m in maps))
    sizes = None
    for key, m in maps:
        n1 = m.assoc_offsets.shape[0]
        if sizes is None or n1 != n_sized:
            present, sizes = _stack(block, n1 - 1, wanted)
            n_sized = n1
        types_, rows = _layout(m.container_keys, m.jet_key, present)
        out = np.zeros(5, np.int64)
        if kernel(*_map_fields(m), types_, rows, sizes, out) != OK:
            _raise(m, out, source, key, first, block.get(event_info_key) if event_info_key else None)


@functools.lru_cache(maxsize=64)
def _wanted(layouts: tuple) -> tuple[str, ...]:
    """Container and jet keys the maps of a block link to."""
    return tuple(dict.fromkeys(k for keys, jet in layouts for k in (*keys, jet) if k is not None))


__all__ = ["check_map", "check_block", "block_offsets", "container_types", "run_kernel", "describe"]
