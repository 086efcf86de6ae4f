"""The field layout of :class:`MissingETAssociationMap`: names, dtypes and which count each field's
length follows (the contract of docs/internals.md), and the layout check kernel."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from metflow.edm.errors import SchemaError
from metflow.edm.met_base import MAX_OBJECTS_PER_ASSOCIATION


_VEC = ("px", "py", "pz", "e", "sumpt")

# (name, dtype, length: which count it follows)
_MAP_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("assoc_offsets", "int64", "events+1"),
    ("jet_index", "int32", "assoc"),
    ("is_misc", "bool", "assoc"),
    ("obj_offsets", "int64", "assoc+1"),
    ("obj_container", "uint8", "obj"),
    ("obj_index", "int32", "obj"),
    ("obj_type", "uint8", "obj"),
    ("ovl_offsets", "int64", "obj+1"),
    ("ovl_index", "int32", "ovl"),
    ("ovl_type", "uint8", "ovl"),
    ("cal_offsets", "int64", "assoc+1"),
    ("cal_key", "uint64", "cal"),
    *((f"cal_{c}", "float32", "cal") for c in _VEC),
    ("trk_offsets", "int64", "assoc+1"),
    ("trk_key", "uint64", "trk"),
    *((f"trk_{c}", "float32", "trk") for c in _VEC),
    *((f"jettrk_{c}", "float32", "assoc") for c in _VEC),
)
MAP_ARRAY_NAMES = tuple(f[0] for f in _MAP_FIELDS)
# (name, unit of its range, is offsets) for MissingETAssociationMap.slice
_SLICE_PLAN = tuple((name, length[:-2] if length.endswith("+1") else length, length.endswith("+1"))
                    for name, _, length in _MAP_FIELDS)
# (name, unit its length follows, +1 for offsets) of every field but assoc_offsets
_LENGTH_PLAN = tuple((name, unit, int(plus)) for name, unit, plus in _SLICE_PLAN if name != "assoc_offsets")
_OFFSET_OF = {"assoc": "assoc_offsets", "obj": "obj_offsets", "ovl": "ovl_offsets",
              "cal": "cal_offsets", "trk": "trk_offsets"}
_MAP_NAME_SET = frozenset(MAP_ARRAY_NAMES)
_MAP_DTYPES = tuple((name, np.dtype(dtype)) for name, dtype, _ in _MAP_FIELDS)


def _offsets_ok(off):
    if off.shape[0] == 0 or off[0] != 0:
        return False
    for i in range(off.shape[0] - 1):
        if off[i + 1] < off[i]:
            return False
    return True


def _layout_ok(assoc_offsets, jet_index, is_misc, obj_offsets, obj_container, obj_index, obj_type,
               ovl_offsets, ovl_index, ovl_type, cal_offsets, cal_key, cal_px, cal_py, cal_pz, cal_e,
               cal_sumpt, trk_offsets, trk_key, trk_px, trk_py, trk_pz, trk_e, trk_sumpt,
               jettrk_px, jettrk_py, jettrk_pz, jettrk_e, jettrk_sumpt):
    """Whether the map's structure is valid: the checks of ``_check_structure`` in one pass (the
    arguments are the fields in ``MAP_ARRAY_NAMES`` order). Compiled by :func:`_layout_kernel`."""
    if not (_offsets_ok(assoc_offsets) and _offsets_ok(obj_offsets) and _offsets_ok(ovl_offsets)
            and _offsets_ok(cal_offsets) and _offsets_ok(trk_offsets)):
        return False
    n_assoc = assoc_offsets[assoc_offsets.shape[0] - 1]
    n_obj = obj_offsets[obj_offsets.shape[0] - 1]
    n_ovl = ovl_offsets[ovl_offsets.shape[0] - 1]
    n_cal = cal_offsets[cal_offsets.shape[0] - 1]
    n_trk = trk_offsets[trk_offsets.shape[0] - 1]
    if not (jet_index.shape[0] == n_assoc and is_misc.shape[0] == n_assoc
            and obj_offsets.shape[0] == n_assoc + 1 and cal_offsets.shape[0] == n_assoc + 1
            and trk_offsets.shape[0] == n_assoc + 1 and ovl_offsets.shape[0] == n_obj + 1
            and obj_container.shape[0] == n_obj and obj_index.shape[0] == n_obj
            and obj_type.shape[0] == n_obj and ovl_index.shape[0] == n_ovl and ovl_type.shape[0] == n_ovl
            and cal_key.shape[0] == n_cal and cal_px.shape[0] == n_cal and cal_py.shape[0] == n_cal
            and cal_pz.shape[0] == n_cal and cal_e.shape[0] == n_cal and cal_sumpt.shape[0] == n_cal
            and trk_key.shape[0] == n_trk and trk_px.shape[0] == n_trk and trk_py.shape[0] == n_trk
            and trk_pz.shape[0] == n_trk and trk_e.shape[0] == n_trk and trk_sumpt.shape[0] == n_trk
            and jettrk_px.shape[0] == n_assoc and jettrk_py.shape[0] == n_assoc
            and jettrk_pz.shape[0] == n_assoc and jettrk_e.shape[0] == n_assoc
            and jettrk_sumpt.shape[0] == n_assoc):
        return False
    for a in range(n_assoc):
        if obj_offsets[a + 1] - obj_offsets[a] > MAX_OBJECTS_PER_ASSOCIATION:
            return False
    return True


_LAYOUT_KERNEL: Any = None
_LAYOUT_LOCK = threading.Lock()


def _layout_kernel():
    """:func:`_layout_ok` as a numba kernel with one signature: every field a C-contiguous 1-d
    array of its dtype (read-only or not), so calling it with anything else raises TypeError.
    Compiled on first use, so that importing the EDM does not import numba."""
    global _LAYOUT_KERNEL, _offsets_ok
    if _LAYOUT_KERNEL is None:
        with _LAYOUT_LOCK:
            if _LAYOUT_KERNEL is None:
                import numba
                from numba import types

                from metflow import _kernel_cache

                _kernel_cache.install()   # recompiled when any metflow kernel source changes

                _offsets_ok = numba.njit(nogil=True, cache=True)(_offsets_ok)
                sig = types.boolean(*(types.Array(numba.from_dtype(dtype), 1, "C", readonly=True)
                                      for _, dtype in _MAP_DTYPES))
                _LAYOUT_KERNEL = numba.njit([sig], nogil=True, cache=True)(_layout_ok)
    return _LAYOUT_KERNEL


def _cast(name: str, value: Any, dtype: str, key: str | None) -> np.ndarray:
    if type(value) is np.ndarray and value.dtype == dtype and value.ndim == 1 and \
            value.flags.c_contiguous:   # the common case, cheap for the small maps of small blocks
        return value
    a = np.asarray(value)
    target = np.dtype(dtype)
    if a.dtype != target:
        if a.size == 0 or (a.dtype.kind in "biu" and target.kind in "biu") or (
                a.dtype.kind in "iuf" and target.kind == "f"):
            if a.size and a.dtype.kind in "iu" and target.kind in "iu":
                info = np.iinfo(target)
                if a.min() < info.min or a.max() > info.max:
                    raise SchemaError(f"values do not fit {dtype}", key=key, column=name)
            a = a.astype(target)
        else:
            raise SchemaError(f"wrong dtype: expected {dtype}, got {a.dtype}", key=key, column=name)
    if a.ndim != 1:
        raise SchemaError(f"must be 1-d, got shape {a.shape}", key=key, column=name)
    return np.ascontiguousarray(a)
