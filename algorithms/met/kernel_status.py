"""One place where a MET kernel's status code becomes a named error.

The kernels never raise (see :mod:`metflow.algorithms.met._reco_kernels`): they return a status
and the position of the first offence. :func:`raise_for_status` is the one translation, used by
every reconstruction algorithm after its single kernel call: ``OK`` returns, the other codes raise
the EDM error that names the cause (algorithm, key, event). For ``ERR_INPUTS`` (inputs of
different blocks) the caller may pass ``explain``, a function that finds which input does not
match and raises a more precise error; it only runs on that failure.
"""

from __future__ import annotations

from typing import Callable

from metflow.edm.errors import LinkError, MapConsistencyError, SchemaError, TooManyObjectsError

from . import _reco_kernels as kern

__all__ = ["raise_for_status"]


def raise_for_status(status: int, owner: str, *, key: str, what: str = "", event: int | None = None,
                     jet_index: int | None = None, n_objects: int | None = None,
                     explain: Callable[[], None] | None = None) -> None:
    """Nothing for ``kern.OK``; else raise the error of ``status``.

    ``owner`` (the algorithm's name) and ``what`` (the offending item, e.g. "jet 3 has a link
    out of range of 'PFOs'") make the message; ``key`` and ``event`` are attached to the error.
    ERR_LINK_RANGE -> :class:`LinkError`; ERR_SHARED_CONSTITUENT -> :class:`MapConsistencyError`;
    ERR_TOO_MANY_OBJECTS -> :class:`TooManyObjectsError` (``jet_index``, ``n_objects``);
    ERR_INPUTS and unknown codes -> ``explain()`` if given, then :class:`SchemaError`.
    """
    if status == kern.OK:
        return
    if status == kern.ERR_LINK_RANGE:
        raise LinkError(f"{owner}: {what}", key=key, event=event)
    if status == kern.ERR_SHARED_CONSTITUENT:
        raise MapConsistencyError(f"{owner}: {what}", key=key, event=event)
    if status == kern.ERR_TOO_MANY_OBJECTS:
        raise TooManyObjectsError(event=event, jet_index=jet_index, n_objects=n_objects, key=key)
    if explain is not None:
        explain()
    raise SchemaError(f"{owner}: inputs do not match (kernel status {status})", key=key)
