"""Arrow -> numpy conversion helpers of the containers (private): columns of a ``list<struct>``
or ``struct`` array, checked against their schema field; awkward is imported lazily."""

from __future__ import annotations

import numpy as np

from metflow.edm.errors import SchemaError
from metflow.edm.list_column import ListColumn
from metflow.edm.schema import LINKS, Field


def _require_awkward():
    try:
        import awkward
    except ImportError:
        raise ImportError('awkward is needed for this conversion: pip install "metflow[physlite]"') from None
    return awkward


def _column_from_arrow(child, f: Field, offsets: np.ndarray):
    import pyarrow as pa
    if child.null_count:
        obj = int(np.argmax(~child.is_valid().to_numpy(zero_copy_only=False)))
        ev = int(np.searchsorted(offsets, obj, side="right") - 1)
        raise SchemaError("null value", column=f.name, event=ev)
    if f.kind == LINKS:
        try:
            return ListColumn.from_arrow(child, column=f.name)
        except SchemaError:
            raise
    expected = _ARROW_TYPES[f.dtype]()
    if child.type != expected:
        raise SchemaError(f"wrong dtype: expected {expected}, got {child.type}", column=f.name)
    if pa.types.is_boolean(child.type):
        return child.to_numpy(zero_copy_only=False)
    return child.to_numpy(zero_copy_only=True)


def _extra_from_arrow(child):
    """Numeric or list<int32> extra fields are kept; anything else is ignored (tolerated)."""
    import pyarrow as pa
    if child.null_count:
        return None
    t = child.type
    if pa.types.is_boolean(t):
        return child.to_numpy(zero_copy_only=False)
    if pa.types.is_integer(t) or pa.types.is_floating(t) and not pa.types.is_float16(t):
        return child.to_numpy(zero_copy_only=True)
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and t.value_type == pa.int32():
        return ListColumn.from_arrow(child)
    return None


def _arrow_types():
    import pyarrow as pa
    return {"float32": pa.float32, "float64": pa.float64, "int8": pa.int8, "uint8": pa.uint8,
            "int16": pa.int16, "uint16": pa.uint16, "int32": pa.int32, "uint32": pa.uint32,
            "int64": pa.int64, "uint64": pa.uint64, "bool": pa.bool_}


class _LazyTypes(dict):
    def __missing__(self, k):
        self.update(_arrow_types())
        return dict.__getitem__(self, k)


_ARROW_TYPES = _LazyTypes()
