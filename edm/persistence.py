"""Parquet persistence of EDM objects: one row per event, one column per store key.

Layout (chosen for size, see :func:`parquet_writer_options`):

- object containers: ``list<struct<field...>>``; list links ``list<int32>``; link targets in
  field metadata;
- EventRecord: ``struct<field...>``;
- MissingETContainer: ``struct<term: struct<mpx, mpy, sumet>>``, source bits in field metadata;
- MissingETAssociationMap: ``list<struct<jet_index, is_misc, objects: list<struct<container
  uint8, index int32, type uint8, ovl_index list<int32>, ovl_type list<uint8>>>, cal / trk:
  list<struct<key uint64, px, py, pz, e, sumpt float32>>, jettrk_px ... jettrk_sumpt>>``;
  container keys and jet key are JSON in the metadata of the ``objects`` field.

Floats are written with BYTE_STREAM_SPLIT and zstd; integers with dictionary/RLE. Every float
stays float32, so round trips are bit-exact. Writers go to a temporary file in the target
directory and rename it on success: a failed write leaves no output behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Iterable, Mapping

import numpy as np

from metflow.edm import keys as _keys
from metflow.edm.containers import Container, EventRecord, schema_for
from metflow.edm.errors import CorruptInputError, EDMError, SchemaError, UnknownKeyError
from metflow.edm.met import (MAP_ARRAY_NAMES, MissingETAssociationMap, MissingETContainer, _VEC)

DEFAULT_COMPRESSION = "zstd"
DEFAULT_COMPRESSION_LEVEL = 9

_META_KEYS = b"container_keys"
_META_JET = b"jet_key"


# ---------------------------------------------------------------------------------------------
# association map <-> Arrow

def _map_arrow_type(container_keys, jet_key):
    import pyarrow as pa
    f32 = pa.float32()
    vec = lambda: [pa.field(c, f32, nullable=False) for c in _VEC]
    meta = {_META_KEYS: json.dumps(list(container_keys)).encode(),
            _META_JET: json.dumps(jet_key).encode()}
    obj = pa.struct([
        pa.field("container", pa.uint8(), nullable=False),
        pa.field("index", pa.int32(), nullable=False),
        pa.field("type", pa.uint8(), nullable=False),
        pa.field("ovl_index", pa.list_(pa.field("item", pa.int32(), nullable=False)), nullable=False),
        pa.field("ovl_type", pa.list_(pa.field("item", pa.uint8(), nullable=False)), nullable=False),
    ])
    entry = pa.struct([pa.field("key", pa.uint64(), nullable=False), *vec()])
    assoc = pa.struct([
        pa.field("jet_index", pa.int32(), nullable=False),
        pa.field("is_misc", pa.bool_(), nullable=False),
        pa.field("objects", pa.list_(pa.field("item", obj, nullable=False)), nullable=False, metadata=meta),
        pa.field("cal", pa.list_(pa.field("item", entry, nullable=False)), nullable=False),
        pa.field("trk", pa.list_(pa.field("item", entry, nullable=False)), nullable=False),
        *(pa.field(f"jettrk_{c}", f32, nullable=False) for c in _VEC),
    ])
    return pa.list_(pa.field("item", assoc, nullable=False)), assoc, obj, entry


def _list(offsets: np.ndarray, values, field):
    import pyarrow as pa
    typ = pa.list_(field)
    if offsets[-1] > np.iinfo(np.int32).max:
        raise SchemaError("block too large for 32-bit list offsets; write smaller blocks")
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values, type=typ)


def map_to_arrow(m: MissingETAssociationMap):
    """One ``list<struct>`` entry per event (numeric arrays are not copied)."""
    import pyarrow as pa
    list_type, assoc_t, obj_t, entry_t = _map_arrow_type(m.container_keys, m.jet_key)
    ovl_index = _list(m.ovl_offsets, pa.array(m.ovl_index), obj_t.field("ovl_index").type.value_field)
    ovl_type = _list(m.ovl_offsets, pa.array(m.ovl_type), obj_t.field("ovl_type").type.value_field)
    objects = pa.StructArray.from_arrays(
        [pa.array(m.obj_container), pa.array(m.obj_index), pa.array(m.obj_type), ovl_index, ovl_type],
        fields=list(obj_t))
    entries = {}
    for kind in ("cal", "trk"):
        s = pa.StructArray.from_arrays(
            [pa.array(getattr(m, f"{kind}_key"))] + [pa.array(getattr(m, f"{kind}_{c}")) for c in _VEC],
            fields=list(entry_t))
        entries[kind] = _list(getattr(m, f"{kind}_offsets"), s, assoc_t.field(kind).type.value_field)
    assoc = pa.StructArray.from_arrays(
        [pa.array(m.jet_index), pa.array(m.is_misc),
         _list(m.obj_offsets, objects, assoc_t.field("objects").type.value_field),
         entries["cal"], entries["trk"], *(pa.array(getattr(m, f"jettrk_{c}")) for c in _VEC)],
        fields=list(assoc_t))
    return _list(m.assoc_offsets, assoc, list_type.value_field)


def _children(struct, where: str) -> dict[str, Any]:
    if struct.null_count:
        raise SchemaError("null entries", column=where)
    return dict(zip([f.name for f in struct.type], struct.flatten()))


def _require(children: Mapping[str, Any], name: str, typ, where: str):
    if name not in children:
        raise SchemaError(f"missing required column {name!r}", column=f"{where}.{name}")
    arr = children[name]
    if not arr.type.equals(typ, check_metadata=False) and not (
            hasattr(arr.type, "value_type") and hasattr(typ, "value_type") and
            type(arr.type) is type(typ) and arr.type.value_type.equals(typ.value_type, check_metadata=False)):
        raise SchemaError(f"wrong dtype: expected {typ}, got {arr.type}", column=f"{where}.{name}")
    if arr.null_count:
        raise SchemaError("null values", column=f"{where}.{name}")
    return arr


def _offsets_of(list_array) -> np.ndarray:
    o = np.asarray(list_array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    return o - o[0]


def _num(arr) -> np.ndarray:
    import pyarrow as pa
    if pa.types.is_boolean(arr.type):
        return arr.to_numpy(zero_copy_only=False)
    return arr.to_numpy(zero_copy_only=True)


def map_from_arrow(array, *, key: str | None = None, source: str | None = None,
                   validate: bool = True) -> MissingETAssociationMap:
    """Inverse of :func:`map_to_arrow`; strict types, clear errors."""
    import pyarrow as pa
    try:
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        if not pa.types.is_list(array.type) or not pa.types.is_struct(array.type.value_type):
            raise SchemaError(f"wrong type: expected list<struct> association map, got {array.type}")
        if array.null_count:
            raise SchemaError("null entry instead of a list of associations",
                              event=int(np.argmax(~array.is_valid().to_numpy(zero_copy_only=False))))
        assoc_f = array.type.value_type
        if assoc_f.get_field_index("objects") < 0:
            raise SchemaError("missing required column 'objects'", column="objects")
        meta = assoc_f.field("objects").metadata or {}
        if _META_KEYS not in meta:
            raise SchemaError("association map without container_keys metadata", column="objects")
        container_keys = tuple(json.loads(meta[_META_KEYS]))
        jet_key = json.loads(meta.get(_META_JET, b"null"))
        _, assoc_t, obj_t, entry_t = _map_arrow_type(container_keys, jet_key)
        out: dict[str, np.ndarray] = {"assoc_offsets": _offsets_of(array)}
        a = _children(array.flatten(), "associations")
        out["jet_index"] = _num(_require(a, "jet_index", pa.int32(), "associations"))
        out["is_misc"] = _num(_require(a, "is_misc", pa.bool_(), "associations"))
        for c in _VEC:
            out[f"jettrk_{c}"] = _num(_require(a, f"jettrk_{c}", pa.float32(), "associations"))
        objects = _require(a, "objects", assoc_t.field("objects").type, "associations")
        out["obj_offsets"] = _offsets_of(objects)
        o = _children(objects.flatten(), "objects")
        out["obj_container"] = _num(_require(o, "container", pa.uint8(), "objects"))
        out["obj_index"] = _num(_require(o, "index", pa.int32(), "objects"))
        out["obj_type"] = _num(_require(o, "type", pa.uint8(), "objects"))
        ovl_i = _require(o, "ovl_index", obj_t.field("ovl_index").type, "objects")
        ovl_t = _require(o, "ovl_type", obj_t.field("ovl_type").type, "objects")
        out["ovl_offsets"] = _offsets_of(ovl_i)
        if not np.array_equal(out["ovl_offsets"], _offsets_of(ovl_t)):
            raise SchemaError("ovl_index and ovl_type have different lengths", column="objects.ovl_type")
        out["ovl_index"] = _num(ovl_i.flatten())
        out["ovl_type"] = _num(ovl_t.flatten())
        for kind in ("cal", "trk"):
            lst = _require(a, kind, assoc_t.field(kind).type, "associations")
            out[f"{kind}_offsets"] = _offsets_of(lst)
            e = _children(lst.flatten(), kind)
            out[f"{kind}_key"] = _num(_require(e, "key", pa.uint64(), kind))
            for c in _VEC:
                out[f"{kind}_{c}"] = _num(_require(e, c, pa.float32(), kind))
        m = MissingETAssociationMap(container_keys, jet_key=jet_key, key=key, **out)
        if validate:
            m.validate()
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


def decode(key: str, array, *, source: str | None = None, validate: bool = True) -> Any:
    """Turn one Parquet/Arrow column (one entry per event) back into the EDM object of ``key``."""
    try:
        kind = kind_of_key(key)
    except UnknownKeyError as exc:
        raise exc.with_context(source=source) from None
    if kind == "map":
        return map_from_arrow(array, key=key, source=source, validate=validate)
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
                write_statistics=False)


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


def write_parquet(path: str | os.PathLike, blocks: Mapping[str, Any], *, validate: bool = True,
                  row_group_size: int | None = None, compression: str = DEFAULT_COMPRESSION,
                  compression_level: int | None = DEFAULT_COMPRESSION_LEVEL) -> int:
    """Write ``{key: EDM object}`` (one block) to ``path`` atomically; returns the file size.

    Everything is validated and converted before the first byte is written; the file is written
    to a temporary name in the same directory and renamed, so an error leaves nothing behind.
    """
    import pyarrow.parquet as pq
    path = os.fspath(path)
    table = to_table(blocks, validate=validate, source=path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CorruptInputError("output directory does not exist", source=path)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        opts = parquet_writer_options(table.schema, compression=compression,
                                      compression_level=compression_level)
        with pq.ParquetWriter(tmp, table.schema, **opts) as writer:
            writer.write_table(table, row_group_size=row_group_size)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return os.path.getsize(path)


def open_parquet(path: str | os.PathLike):
    """``pyarrow.parquet.ParquetFile`` with corrupt/truncated files reported as CorruptInputError."""
    import pyarrow.parquet as pq
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # ArrowInvalid / OSError for truncated or non-Parquet files
        raise CorruptInputError(f"not a readable Parquet file: {exc}", source=path) from exc


def read_parquet(path: str | os.PathLike, keys: Iterable[str] | None = None, *,
                 validate: bool = True, check_links_in_block: bool = True) -> dict[str, Any]:
    """Read ``keys`` (default: all columns) of a file written by :func:`write_parquet`.

    Every column is decoded and validated (schema, dtypes, offsets, finite floats, map layout);
    links between the keys read are range-checked. Errors name the file, key, column, event.
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
    for key in wanted:
        out[key] = decode(key, table.column(key), source=path, validate=validate)
    if validate and check_links_in_block:
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
           "read_parquet", "open_parquet", "to_table", "parquet_writer_options", "column_sizes",
           "DEFAULT_COMPRESSION", "DEFAULT_COMPRESSION_LEVEL"]
