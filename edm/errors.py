"""EDM exceptions. Every message names where the problem is: file, key, column, event.

The context fields are also attributes (``err.source``, ``err.key``, ``err.column``,
``err.event``) so callers and tests need not parse the message.
"""

from __future__ import annotations

from metflow.edm.met_base import MAX_OBJECTS_PER_ASSOCIATION


class EDMError(Exception):
    """Base of metflow.edm errors; formats a message with a context footer."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None,
                 column: str | None = None, event: int | None = None):
        self.reason = message
        self.source = source
        self.key = key
        self.column = column
        self.event = event
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.source is not None:
            where.append(f"file {self.source!r}")
        if self.key is not None:
            where.append(f"key {self.key!r}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.event is not None:
            where.append(f"event {self.event}")
        return self.reason if not where else f"{self.reason} ({', '.join(where)})"

    def with_context(self, *, source: str | None = None, key: str | None = None,
                     event_offset: int = 0) -> "EDMError":
        """Fill in context the raiser did not know (e.g. the file name); returns self."""
        if source is not None and self.source is None:
            self.source = source
        if key is not None and self.key is None:
            self.key = key
        if event_offset and self.event is not None:
            self.event += event_offset
        self.args = (self._format(),)
        return self

    def __str__(self) -> str:
        return self._format()


class SchemaError(EDMError, ValueError):
    """Data does not match its schema: missing required column, wrong dtype, bad offsets."""


class NonFiniteError(SchemaError):
    """A floating-point column holds NaN or inf (metflow's policy: always an error)."""


class LinkError(SchemaError):
    """An index link points outside its target container in the same event."""


class MapConsistencyError(SchemaError):
    """An association map violates its invariants (keys, overlaps, misc placement)."""


class TooManyObjectsError(EDMError, ValueError):
    """An association holds more objects than the 64 bits of a key can address."""

    def __init__(self, *, event: int, jet_index: int, n_objects: int, key: str | None = None,
                 source: str | None = None, limit: int = MAX_OBJECTS_PER_ASSOCIATION):
        self.jet_index = jet_index
        self.n_objects = n_objects
        what = "misc association" if jet_index < 0 else f"association of jet {jet_index}"
        super().__init__(
            f"{what} has {n_objects} objects; at most {limit} fit in a 64-bit key",
            source=source, key=key, event=event)


class CorruptInputError(EDMError, OSError):
    """A file cannot be read: truncated, not Parquet, or internally inconsistent."""


class UnknownKeyError(EDMError, KeyError):
    """No schema or decoder is known for a store key; lists the closest known keys."""

    def __init__(self, key: str, known: list[str], *, what: str = "schema", source: str | None = None):
        import difflib
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"no {what} known for {key!r}{hint}", key=None, source=source)
        self.key = key

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self._format()


__all__ = ["EDMError", "SchemaError", "NonFiniteError", "LinkError", "MapConsistencyError",
           "TooManyObjectsError", "CorruptInputError", "UnknownKeyError"]
