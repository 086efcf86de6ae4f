"""Parquet persistence of EDM objects: one row per event, one column per store key.

Layout (chosen for size, see :func:`parquet_writer_options`):

- object containers: ``list<struct<field...>>``; list links ``list<int32>``; link targets in
  field metadata;
- EventRecord: ``struct<field...>``;
- MissingETContainer: ``struct<term: struct<mpx, mpy, sumet>>``, source bits in field metadata;
- MissingETAssociationMap: a struct of flat per-event lists (per association, per object, per
  overlap, per cal/trk entry; zero jettrk sums suppressed), see the note at map_to_arrow;
  container keys and jet key are JSON in the metadata of the ``obj_container`` field. A map
  read back is checked (:mod:`metflow.edm.map_checks`): keys, overlaps, object types against
  the containers named in the metadata, and links against the containers read with it.

Floats are written with BYTE_STREAM_SPLIT and zstd; integers with dictionary/RLE. Every float
stays float32, so round trips are bit-exact. Writers go to a temporary file in the target
directory and rename it on success: a failed write leaves no output behind.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from typing import Any, Iterable, Mapping

import numpy as np

from metflow.edm import keys as _keys
from metflow.edm.containers import Container, EventRecord, schema_for
from metflow.edm.errors import CorruptInputError, EDMError, SchemaError, UnknownKeyError
from metflow.edm.map_checks import check_block, check_map
from metflow.edm.met import (MAP_ARRAY_NAMES, MissingETAssociationMap, MissingETContainer, _VEC)

DEFAULT_COMPRESSION = "zstd"
DEFAULT_COMPRESSION_LEVEL = 9

_META_KEYS = b"container_keys"
_META_JET = b"jet_key"


# ---------------------------------------------------------------------------------------------
# association map <-> Arrow
#
# One struct per event whose fields are flat lists, one level deep (cheaper Parquet levels than
# list<struct<list<...>>>): per association n_obj, n_cal, n_trk, is_misc, has_jettrk and
# jet_index_rel; per object obj_container/obj_index/obj_type/n_ovl; per overlap ovl_index/
# ovl_type; per entry cal_* / trk_*; jettrk_* only for associations whose five jettrk values are
# not all +0.0 (misc and track-less jets). jet_index_rel = jet_index - (position of the
# association in its event, or -1 for misc): zero for every well-formed map, so it costs nothing.
# All of this is lossless: decoding restores every array bit for bit.

_PER_ASSOC = (("n_obj", "uint8"), ("n_cal", "uint16"), ("n_trk", "uint16"), ("is_misc", "bool"),
              ("has_jettrk", "bool"), ("jet_index_rel", "int32"))
_PER_OBJ = (("obj_container", "uint8"), ("obj_index", "int32"), ("obj_type", "uint8"), ("n_ovl", "uint8"))
_PER_OVL = (("ovl_index", "int32"), ("ovl_type", "uint8"))
_PER_ENTRY = (("key", "uint64"),) + tuple((c, "float32") for c in _VEC)
MAP_LAYOUT_VERSION = 2


def _map_arrow_type(container_keys, jet_key):
    return _map_arrow_type_cached(tuple(container_keys), jet_key)


@functools.lru_cache(maxsize=64)
def _map_arrow_type_cached(container_keys, jet_key):
    """The Arrow type (immutable) for a key set: built once, not for every block."""
    import pyarrow as pa
    meta = {_META_KEYS: json.dumps(list(container_keys)).encode(),
            _META_JET: json.dumps(jet_key).encode(),
            b"layout": str(MAP_LAYOUT_VERSION).encode()}
    fields = []
    lst = lambda t: pa.list_(pa.field("item", pa.from_numpy_dtype(np.dtype(t)), nullable=False))
    for name, t in _PER_ASSOC + _PER_OBJ + _PER_OVL:
        fields.append(pa.field(name, lst(t), nullable=False, metadata=meta if name == "obj_container" else None))
    for kind in ("cal", "trk"):
        fields += [pa.field(f"{kind}_{c}", lst(t), nullable=False) for c, t in _PER_ENTRY]
    fields += [pa.field(f"jettrk_{c}", lst("float32"), nullable=False) for c in _VEC]
    return pa.struct(fields)


def _event_list(per_event_offsets: np.ndarray, values: np.ndarray, field):
    import pyarrow as pa
    if per_event_offsets[-1] > np.iinfo(np.int32).max:
        raise SchemaError("block too large for 32-bit list offsets; write smaller blocks")
    return pa.ListArray.from_arrays(pa.array(per_event_offsets.astype(np.int32)), pa.array(values),
                                    type=field.type)


def _jettrk_present(m: MissingETAssociationMap) -> np.ndarray:
    bits = np.zeros(m.n_associations, np.uint32)
    for c in _VEC:
        bits |= getattr(m, f"jettrk_{c}").view(np.uint32)
    return bits != 0


def _position_in_event(m: MissingETAssociationMap) -> np.ndarray:
    return np.arange(m.n_associations, dtype=np.int64) - m.assoc_offsets[m.assoc_event()]


def map_to_arrow(m: MissingETAssociationMap):
    """One struct per event of flat per-event lists (see the layout note above)."""
    import pyarrow as pa
    typ = _map_arrow_type(m.container_keys, m.jet_key)
    ao = m.assoc_offsets
    per_event = {"assoc": ao, "obj": m.obj_offsets[ao], "cal": m.cal_offsets[ao], "trk": m.trk_offsets[ao]}
    per_event["ovl"] = m.ovl_offsets[per_event["obj"]]
    present = _jettrk_present(m)
    per_event["jettrk"] = np.concatenate([[0], np.cumsum(present)])[ao]
    expected = np.where(m.is_misc, -1, _position_in_event(m))
    values = {
        "n_obj": np.diff(m.obj_offsets).astype(np.uint8),
        "n_cal": np.diff(m.cal_offsets).astype(np.uint16),
        "n_trk": np.diff(m.trk_offsets).astype(np.uint16),
        "is_misc": m.is_misc, "has_jettrk": present,
        "jet_index_rel": (m.jet_index.astype(np.int64) - expected).astype(np.int32),
        "obj_container": m.obj_container, "obj_index": m.obj_index, "obj_type": m.obj_type,
        "n_ovl": np.diff(m.ovl_offsets).astype(np.uint8),
        "ovl_index": m.ovl_index, "ovl_type": m.ovl_type,
    }
    if np.diff(m.cal_offsets).max(initial=0) > np.iinfo(np.uint16).max or \
            np.diff(m.trk_offsets).max(initial=0) > np.iinfo(np.uint16).max:
        raise SchemaError("more than 65535 cal/trk entries in one association", key=m.key)
    if np.diff(m.ovl_offsets).max(initial=0) > np.iinfo(np.uint8).max:
        raise SchemaError("more than 255 overlaps for one object", key=m.key)
    unit = {n: "assoc" for n, _ in _PER_ASSOC} | {n: "obj" for n, _ in _PER_OBJ} | {n: "ovl" for n, _ in _PER_OVL}
    children = []
    for f in typ:
        name = f.name
        if name in values:
            children.append(_event_list(per_event[unit[name]], values[name], f))
        elif name.startswith("jettrk_"):
            children.append(_event_list(per_event["jettrk"], getattr(m, name)[present], f))
        else:
            children.append(_event_list(per_event[name[:3]], getattr(m, name), f))
    return pa.StructArray.from_arrays(children, fields=list(typ))


def _counts(list_array) -> np.ndarray:
    o = np.asarray(list_array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.diff(o)


def _num(arr) -> np.ndarray:
    import pyarrow as pa
    if pa.types.is_boolean(arr.type):
        return arr.to_numpy(zero_copy_only=False)
    return arr.to_numpy(zero_copy_only=True)


def _first_mismatch(got: np.ndarray, want: np.ndarray) -> int:
    return int(np.flatnonzero(got != want)[0])


def map_from_arrow(array, *, key: str | None = None, source: str | None = None,
                   validate: bool = True, check_maps: bool = True) -> MissingETAssociationMap:
    """Inverse of :func:`map_to_arrow`; strict types, lengths cross-checked, clear errors.
    ``check_maps=False`` skips :func:`~metflow.edm.map_checks.check_map` (for a caller that
    runs :func:`~metflow.edm.map_checks.check_block` on every block it serves)."""
    import pyarrow as pa
    try:
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        if not pa.types.is_struct(array.type):
            raise SchemaError(f"wrong type: expected struct of per-event lists (association map), got {array.type}")
        if array.null_count:
            raise SchemaError("null entry instead of an event's associations",
                              event=int(np.argmax(~array.is_valid().to_numpy(zero_copy_only=False))))
        names = [f.name for f in array.type]
        if "obj_container" not in names:
            raise SchemaError("missing required column 'obj_container'", column="obj_container")
        meta = array.type.field("obj_container").metadata or {}
        if _META_KEYS not in meta:
            raise SchemaError("association map without container_keys metadata", column="obj_container")
        container_keys = tuple(json.loads(meta[_META_KEYS]))
        jet_key = json.loads(meta.get(_META_JET, b"null"))
        expected_type = _map_arrow_type(container_keys, jet_key)
        children = dict(zip(names, array.flatten()))
        lists, per_event_counts, list_offsets = {}, {}, {}
        for f in expected_type:
            if f.name not in children:
                raise SchemaError(f"missing required column {f.name!r}", column=f.name)
            child = children[f.name]
            if not child.type.equals(f.type, check_metadata=False):
                raise SchemaError(f"wrong dtype: expected {f.type}, got {child.type}", column=f.name)
            if child.null_count:
                raise SchemaError("null entries", column=f.name)
            lists[f.name] = child
            list_offsets[f.name] = o = np.asarray(child.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
            per_event_counts[f.name] = o[1:] - o[:-1]

        def same_length(names_: Iterable[str], want: np.ndarray, what: str) -> None:
            for n_ in names_:
                got = per_event_counts[n_]
                if got.shape != want.shape or not np.array_equal(got, want):
                    ev = _first_mismatch(got, want) if got.shape == want.shape else None
                    raise SchemaError(f"list lengths disagree with the number of {what}", column=n_, event=ev)

        n_assoc_ev = per_event_counts["n_obj"]
        same_length([n for n, _ in _PER_ASSOC], n_assoc_ev, "associations")
        # values of the (null-free) lists by slicing, not list_flatten (a compute call per field)
        flat = {n: _num(lists[n].values.slice(int(list_offsets[n][0]),
                                              int(list_offsets[n][-1] - list_offsets[n][0])))
                for n in lists}
        assoc_offsets = np.concatenate([[0], np.cumsum(n_assoc_ev)]).astype(np.int64)
        assoc_event = np.repeat(np.arange(len(array), dtype=np.int64), n_assoc_ev)

        def sums(per_assoc: np.ndarray) -> np.ndarray:
            return np.bincount(assoc_event, weights=per_assoc, minlength=len(array)).astype(np.int64) \
                if per_assoc.size else np.zeros(len(array), np.int64)

        same_length([n for n, _ in _PER_OBJ], sums(flat["n_obj"]), "objects (sum of n_obj)")
        for kind in ("cal", "trk"):
            same_length([f"{kind}_{c}" for c, _ in _PER_ENTRY], sums(flat[f"n_{kind}"]),
                        f"{kind} entries (sum of n_{kind})")
        same_length([f"jettrk_{c}" for c in _VEC], sums(flat["has_jettrk"].astype(np.int64)),
                    "associations with track sums (has_jettrk)")
        obj_event = np.repeat(np.arange(len(array), dtype=np.int64), per_event_counts["obj_container"])
        n_ovl_ev = np.bincount(obj_event, weights=flat["n_ovl"], minlength=len(array)).astype(np.int64) \
            if obj_event.size else np.zeros(len(array), np.int64)
        same_length([n for n, _ in _PER_OVL], n_ovl_ev, "overlaps (sum of n_ovl)")

        offsets = lambda c: np.concatenate([[0], np.cumsum(c, dtype=np.int64)])
        is_misc = flat["is_misc"]
        position = np.arange(assoc_offsets[-1], dtype=np.int64) - assoc_offsets[assoc_event]
        jet_index = (flat["jet_index_rel"].astype(np.int64) + np.where(is_misc, -1, position))
        present = flat["has_jettrk"]
        out: dict[str, np.ndarray] = {
            "assoc_offsets": assoc_offsets, "jet_index": jet_index, "is_misc": is_misc,
            "obj_offsets": offsets(flat["n_obj"]), "obj_container": flat["obj_container"],
            "obj_index": flat["obj_index"], "obj_type": flat["obj_type"],
            "ovl_offsets": offsets(flat["n_ovl"]), "ovl_index": flat["ovl_index"], "ovl_type": flat["ovl_type"],
            "cal_offsets": offsets(flat["n_cal"]), "trk_offsets": offsets(flat["n_trk"]),
        }
        for kind in ("cal", "trk"):
            for c, _ in _PER_ENTRY:
                out[f"{kind}_{c}"] = flat[f"{kind}_{c}"]
        for c in _VEC:
            full = np.zeros(present.shape[0], np.float32)
            full[present] = flat[f"jettrk_{c}"]
            out[f"jettrk_{c}"] = full
        m = MissingETAssociationMap(container_keys, jet_key=jet_key, key=key, **out)
        if validate:
            m.validate()
            if check_maps:   # keys, overlaps, types vs containers; links need the containers
                check_map(m)
    except EDMError as exc:
        raise exc.with_context(source=source, key=key) from None
    return m


# ---------------------------------------------------------------------------------------------
# dispatch

def kind_of_key(key: str) -> str:
    """'map', 'met', 'record' or 'container' for a store key (raises UnknownKeyError)."""
    if _keys.is_met_assoc_fragment_key(key):
        return "map"
    if _keys.is_met_container_key(key):
        return "met"
    schema = schema_for(key)
    return "record" if schema.per_event else "container"


def decode(key: str, array, *, source: str | None = None, validate: bool = True,
           check_maps: bool = True) -> Any:
    """Turn one Parquet/Arrow column (one entry per event) back into the EDM object of ``key``
    (``check_maps``: see :func:`map_from_arrow`)."""
    try:
        kind = kind_of_key(key)
    except UnknownKeyError as exc:
        raise exc.with_context(source=source) from None
    if kind == "map":
        return map_from_arrow(array, key=key, source=source, validate=validate, check_maps=check_maps)
    if kind == "met":
        return MissingETContainer.from_arrow(array, key=key, source=source, validate=validate)
    schema = schema_for(key)
    if kind == "record":
        return EventRecord.from_arrow(array, schema, key=key, source=source, validate=validate)
    return Container.from_arrow(array, schema, key=key, source=source, validate=validate)


def encode(key: str, obj: Any):
    """Arrow array of an EDM object (``obj.to_arrow()``) with a clear error otherwise."""
    if not hasattr(obj, "to_arrow"):
        raise SchemaError(f"object of type {type(obj).__name__} cannot be persisted (no to_arrow)", key=key)
    return obj.to_arrow()


def _validate_obj(key: str, obj: Any) -> None:
    if isinstance(obj, MissingETAssociationMap):
        obj.validate(key=key)
    elif hasattr(obj, "validate"):
        obj.validate(key=key)


# ---------------------------------------------------------------------------------------------
# Parquet

def parquet_writer_options(schema, *, compression: str = DEFAULT_COMPRESSION,
                           compression_level: int | None = DEFAULT_COMPRESSION_LEVEL) -> dict[str, Any]:
    """Keyword arguments for ``pyarrow.parquet.ParquetWriter`` giving the compact EDM layout:
    BYTE_STREAM_SPLIT (no dictionary) for float columns, dictionary for the rest, zstd."""
    import pyarrow as pa
    float_paths, other_paths = [], []

    def walk(typ, path):
        if pa.types.is_struct(typ):
            for f in typ:
                walk(f.type, f"{path}.{f.name}")
        elif pa.types.is_list(typ) or pa.types.is_large_list(typ):
            walk(typ.value_type, f"{path}.list.element")  # Parquet's compliant nested naming
        elif pa.types.is_floating(typ):
            float_paths.append(path)
        else:
            other_paths.append(path)

    for f in schema:
        walk(f.type, f.name)
    return dict(compression=compression, compression_level=compression_level,
                use_dictionary=other_paths or False, use_byte_stream_split=float_paths or False,
                write_statistics=False, write_page_checksum=True)


def to_table(blocks: Mapping[str, Any], *, validate: bool = True, source: str | None = None):
    """An Arrow table with one column per key; checks objects, links and event counts first."""
    import pyarrow as pa
    from metflow.edm.links import check_links
    if not blocks:
        raise SchemaError("nothing to write: no keys given", source=source)
    columns, n = {}, None
    for key, obj in blocks.items():
        try:
            if validate:
                _validate_obj(key, obj)
            arr = encode(key, obj)
        except EDMError as exc:
            raise exc.with_context(source=source, key=key) from None
        if n is None:
            n = len(arr)
        elif len(arr) != n:
            raise SchemaError(f"has {len(arr)} events, other keys {n}", source=source, key=key)
        columns[key] = arr
    if validate:
        check_links(blocks, source=source)
    return pa.table(columns)


class ParquetStreamWriter:
    """Streams tables of EDM blocks into one Parquet file in the compact EDM layout, atomically.

    The file is written under a temporary name in the same directory and renamed by a successful
    `close()`; `abort()` (or an exception inside a `with` block) removes it, so an error never
    leaves a complete-looking file. With `row_group_size`, rows are re-cut into row groups of
    exactly that size, so the file does not depend on how the caller blocked its writes.
    """

    def __init__(self, path: str | os.PathLike, *, row_group_size: int | None = None,
                 compression: str = DEFAULT_COMPRESSION,
                 compression_level: int | None = DEFAULT_COMPRESSION_LEVEL):
        self.path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise CorruptInputError("output directory does not exist", source=self.path)
        self.row_group_size = row_group_size
        self._options = dict(compression=compression, compression_level=compression_level)
        fd, self._tmp = tempfile.mkstemp(prefix=os.path.basename(self.path) + ".", suffix=".tmp",
                                         dir=directory)
        os.close(fd)
        self._writer = None
        self._pending = None
        self.rows_written = 0

    def write_table(self, table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._tmp, table.schema,
                                            **parquet_writer_options(table.schema, **self._options))
        if self.row_group_size is None:
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
            self.rows_written += table.num_rows
            return
        self._pending = table if self._pending is None else pa.concat_tables([self._pending, table])
        while self._pending.num_rows >= self.row_group_size:
            self._write_rows(self.row_group_size)

    def _write_rows(self, n: int) -> None:
        self._writer.write_table(self._pending.slice(0, n), row_group_size=max(n, 1))
        self._pending = self._pending.slice(n)
        self.rows_written += n

    def write(self, blocks: Mapping[str, Any], *, validate: bool = True,
              source: str | None = None) -> None:
        """Validate and append one block `{key: EDM object}`."""
        self.write_table(to_table(blocks, validate=validate, source=source or self.path))

    def close(self) -> int:
        """Flush, close and rename into place; returns the file size."""
        try:
            if self._writer is None:
                raise SchemaError("nothing was written", source=self.path)
            if self._pending is not None and self._pending.num_rows:
                self._write_rows(self._pending.num_rows)
            self._writer.close()
            self._writer = None
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return os.path.getsize(self.path)

    def abort(self) -> None:
        """Drop the temporary file (nothing appears at `path`)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if os.path.exists(self._tmp):
            os.unlink(self._tmp)

    def __enter__(self) -> "ParquetStreamWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_parquet(path: str | os.PathLike, blocks: Mapping[str, Any], *, validate: bool = True,
                  row_group_size: int | None = None, compression: str = DEFAULT_COMPRESSION,
                  compression_level: int | None = DEFAULT_COMPRESSION_LEVEL) -> int:
    """Write ``{key: EDM object}`` (one block) to ``path`` atomically; returns the file size.

    Everything is validated and converted before the first byte is written; the file is written
    to a temporary name in the same directory and renamed, so an error leaves nothing behind.
    """
    path = os.fspath(path)
    table = to_table(blocks, validate=validate, source=path)
    writer = ParquetStreamWriter(path, row_group_size=row_group_size, compression=compression,
                                 compression_level=compression_level)
    with writer:
        writer.write_table(table)
    return os.path.getsize(path)


def open_parquet(path: str | os.PathLike):
    """``pyarrow.parquet.ParquetFile`` with corrupt/truncated files reported as CorruptInputError;
    page checksums (written by every metflow writer) are verified on read, each page before
    Arrow decodes it (`metflow.framework.page_checksums`)."""
    from metflow.framework.page_checksums import open_verified
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        return open_verified(path)
    except Exception as exc:  # ArrowInvalid / OSError for truncated or non-Parquet files
        raise CorruptInputError(f"not a readable Parquet file: {exc}", source=path) from exc


def read_parquet(path: str | os.PathLike, keys: Iterable[str] | None = None, *,
                 validate: bool = True, check_links_in_block: bool = True) -> dict[str, Any]:
    """Read ``keys`` (default: all columns) of a file written by :func:`write_parquet`.

    Every column is decoded and validated (schema, dtypes, offsets, finite floats, map layout,
    keys and overlaps); links between the keys read are range-checked, association maps
    against their object containers and jets (:mod:`metflow.edm.map_checks`). Errors name the
    file, key, column, event.
    """
    from metflow.edm.links import check_links
    path = os.fspath(path)
    pf = open_parquet(path)
    available = list(pf.schema_arrow.names)
    wanted = available if keys is None else list(keys)
    missing = [k for k in wanted if k not in available]
    if missing:
        raise UnknownKeyError(missing[0], available, what="column in file", source=path)
    try:
        table = pf.read(columns=wanted)
    except Exception as exc:
        raise CorruptInputError(f"cannot read columns {wanted}: {exc}", source=path) from exc
    out = {}
    whole = validate and check_links_in_block   # then check_block checks the maps once, fully
    for key in wanted:
        out[key] = decode(key, table.column(key), source=path, validate=validate, check_maps=not whole)
    if whole:
        check_block(out, source=path)
        check_links(out, source=path)
    return out


def column_sizes(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Per top-level key: compressed and uncompressed bytes summed over row groups."""
    pf = open_parquet(path)
    meta = pf.metadata
    sizes: dict[str, dict[str, int]] = {}
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for c in range(group.num_columns):
            col = group.column(c)
            top = col.path_in_schema.split(".")[0]
            s = sizes.setdefault(top, {"compressed": 0, "uncompressed": 0})
            s["compressed"] += col.total_compressed_size
            s["uncompressed"] += col.total_uncompressed_size
    return sizes


__all__ = ["decode", "encode", "kind_of_key", "map_to_arrow", "map_from_arrow", "write_parquet",
           "ParquetStreamWriter",
           "read_parquet", "open_parquet", "to_table", "parquet_writer_options", "column_sizes",
           "DEFAULT_COMPRESSION", "DEFAULT_COMPRESSION_LEVEL"]
