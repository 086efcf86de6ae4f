"""Low-level access to PHYSLITE files: one API over the Run-2 TTree and the Run-3 RNTuple.

A PHYSLITE file stores each xAOD container ``X`` as an interface object plus its auxiliary
store: static variables in ``XAux.`` (TTree) / ``XAux:`` (RNTuple, a record field) and dynamic
ones in ``XAuxDyn.<var>`` / ``XAuxDyn:<var>``. :class:`PhysliteFile` hides that naming, checks
that every requested variable exists (uproot's RNTuple reader silently ignores unknown names),
and returns awkward arrays. ElementLink vectors come back as records ``{m_persKey,
m_persIndex}``; the Run-2 ``vector<ElementLink>`` that uproot misreads (written member-wise) is
decoded by :mod:`._elementlink`.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from metflow.framework.input_specs import is_remote, local_path

from ._deps import uproot_and_awkward
from ._elementlink import MemberwiseDecodeError, decode_memberwise_links
from .errors import CorruptFileError, MissingBranchError, NotPhysliteError

#: held by every PhysliteFile while uproot opens or reads (see PhysliteFile)
_UPROOT_LOCK = threading.Lock()

TTREE_NAME = "CollectionTree"
RNTUPLE_NAME = "EventData"


def _rntuple_field_names(ntuple) -> set[str]:
    """Dotted names of all RNTuple fields (what ``keys()`` lists, without its slow filtering)."""
    records = ntuple.field_records
    names: dict[int, str] = {}

    def name_of(i: int) -> str:
        if i not in names:
            parent = records[i].parent_field_id
            own = records[i].field_name
            names[i] = own if parent == i else f"{name_of(parent)}.{own}"
        return names[i]

    # drop the anonymous collection-element levels ("._0", ".:_0") uproot does not list
    return {n for n in map(name_of, range(len(records))) if "._" not in n and ".:_" not in n}


def check_root_header(path: str) -> None:
    """Fail clearly on a file that is not ROOT or is shorter than its header says (truncated).

    The ROOT file header starts with b"root", the format version (int32) and fBEGIN (int32),
    then fEND, the file length when it was closed (int32, or int64 for versions >= 1000000).
    """
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        head = stream.read(64)
    if head[:4] != b"root":
        raise NotPhysliteError(f"{path}: not a ROOT file (it does not start with b'root')")
    if len(head) < 20:
        raise CorruptFileError(f"{path}: truncated ROOT file ({size} bytes, header incomplete)")
    version = int.from_bytes(head[4:8], "big")
    end = int.from_bytes(head[12:20], "big") if version >= 1000000 else int.from_bytes(head[12:16], "big")
    if size < end:
        raise CorruptFileError(f"{path}: truncated ROOT file: it has {size} bytes, its header "
                               f"says {end}")


class PhysliteFile:
    """An open PHYSLITE file (TTree ``CollectionTree`` or RNTuple ``EventData``).

    Opening and reading hold one process-wide lock, so instances can serve several threads:
    uproot builds its streamer classes into global registries on first use, and two files read
    at once raced there (a rare ``KeyError`` from uproot in a 2-thread job over two files).
    """

    def __init__(self, path: str | os.PathLike):
        uproot, _ = uproot_and_awkward()
        self.path = os.fspath(path)
        local = None if is_remote(self.path) else local_path(self.path)
        self._lock = _UPROOT_LOCK
        if local is not None:
            if not os.path.exists(local):
                raise FileNotFoundError(f"{self.path}: no such file")
            check_root_header(local)
        with self._lock:
            self._open(uproot, local)

    def _open(self, uproot, local: str | None) -> None:
        try:
            # a local file is memory-mapped: a third faster than uproot's default fsspec source
            self._file = (uproot.open(local, handler=uproot.source.file.MemmapSource)
                          if local is not None else uproot.open(self.path))
            classnames = self._file.classnames(recursive=False)
        except Exception as exc:  # uproot raises many types for damaged files
            hint = ("is it truncated or not a ROOT file?" if local is not None else
                    "a remote URL needs the fsspec backend of its protocol (e.g. fsspec-xrootd "
                    "for root://) and network access")
            raise CorruptFileError(
                f"{self.path}: cannot open as a ROOT file ({type(exc).__name__}: {exc}); {hint}"
            ) from exc
        names = {name.split(";")[0]: cls for name, cls in classnames.items()}
        try:
            if names.get(TTREE_NAME) == "TTree":
                self.format = "TTree"
                self._tree = self._file[TTREE_NAME]
                self._keys = set(self._tree.keys(recursive=True))
            elif names.get(RNTUPLE_NAME) == "ROOT::RNTuple":
                self.format = "RNTuple"
                self._tree = self._file[RNTUPLE_NAME]
                self._keys = _rntuple_field_names(self._tree)
            else:
                found = ", ".join(f"{n} ({c})" for n, c in sorted(names.items())) or "nothing"
                raise NotPhysliteError(
                    f"{self.path}: not a PHYSLITE file: it has neither a TTree "
                    f"{TTREE_NAME!r} nor an RNTuple {RNTUPLE_NAME!r} (found: {found})"
                )
            self.n_events = int(self._tree.num_entries)
        except (NotPhysliteError, MissingBranchError):
            raise
        except Exception as exc:
            raise CorruptFileError(
                f"{self.path}: cannot read the event tree ({type(exc).__name__}: {exc}); "
                f"is the file truncated?"
            ) from exc

    # -- naming -------------------------------------------------------------------------
    def _candidates(self, container: str, var: str) -> list[str]:
        if self.format == "TTree":
            return [f"{container}AuxDyn.{var}", f"{container}Aux./{container}Aux.{var}"]
        return [f"{container}AuxDyn:{var}", f"{container}Aux:.{var}"]

    def branch_name(self, container: str, var: str) -> str:
        """Name of the branch (TTree) or field (RNTuple) holding ``container``'s ``var``."""
        for name in self._candidates(container, var):
            if name in self._keys:
                return name
        first, *others = self._candidates(container, var)
        raise MissingBranchError(self.path, first, self._keys, others)

    def has(self, container: str, var: str) -> bool:
        """True when the file stores ``var`` of ``container``."""
        return any(name in self._keys for name in self._candidates(container, var))

    def branch_names(self) -> list[str]:
        """All branch / field names of the event tree."""
        return sorted(self._keys)

    # -- reading ------------------------------------------------------------------------
    def read(self, variables: list[tuple[str, str]], first: int, stop: int) -> dict:
        """Read ``[(container, var), ...]`` for entries ``[first, stop)``; values are awkward
        arrays keyed by ``(container, var)``."""
        names = {cv: self.branch_name(*cv) for cv in variables}
        out: dict = {}
        with self._lock:
            plain = {cv: n for cv, n in names.items() if not self._is_memberwise_links(n)}
            if self.format == "RNTuple" and plain:
                out.update(self._read_rntuple(plain, first, stop))
            else:
                for cv, name in plain.items():
                    out[cv] = self._read_one(name, first, stop)
            for cv, name in names.items():
                if cv not in plain:
                    out[cv] = self._read_memberwise_links(name, first, stop)
        return out

    def _read_one(self, name: str, first: int, stop: int):
        """One TTree branch."""
        try:
            return self._tree[name].array(entry_start=first, entry_stop=stop)
        except Exception as exc:
            raise CorruptFileError(
                f"{self.path}: cannot read branch {name!r} (entries {first}-{stop}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _read_rntuple(self, names: dict, first: int, stop: int) -> dict:
        """Each RNTuple field through its own field object: ``arrays([...])`` scans every field
        name of the ntuple per call, which costs seconds on a PHYSLITE file."""
        out = {}
        for cv, name in names.items():
            top, _, sub = name.partition(".")
            try:
                field = self._tree[top][sub] if sub else self._tree[top]
                out[cv] = field.array(entry_start=first, entry_stop=stop)
            except Exception as exc:
                raise CorruptFileError(
                    f"{self.path}: cannot read field {name!r} (entries {first}-{stop}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        return out

    def _is_memberwise_links(self, name: str) -> bool:
        """A TTree ``vector<ElementLink>`` streamed as one object (not split): uproot gets it
        wrong, we decode it."""
        if self.format != "TTree":
            return False
        branch = self._tree[name]
        typename = branch.typename.replace(" ", "")
        return (typename.startswith("std::vector<ElementLink<") and not branch.branches
                and typename.count("vector<") == 1)

    def _read_memberwise_links(self, name: str, first: int, stop: int):
        uproot, ak = uproot_and_awkward()
        try:
            raw = self._tree[name].array(
                uproot.AsJagged(uproot.AsDtype("u1")), entry_start=first, entry_stop=stop)
        except Exception as exc:
            raise CorruptFileError(
                f"{self.path}: cannot read branch {name!r} (entries {first}-{stop}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        layout = ak.to_layout(ak.to_packed(raw))
        entry_offsets = np.asarray(layout.offsets, dtype=np.int64)
        buf = np.asarray(layout.content.data, dtype=np.uint8)
        try:
            offsets, keys, indices = decode_memberwise_links(buf, entry_offsets)
        except MemberwiseDecodeError as exc:
            raise CorruptFileError(
                f"{self.path}: branch {name!r}, entry {first + exc.entry}: not a member-wise "
                f"vector<ElementLink>: {exc.reason}"
            ) from exc
        records = ak.zip({"m_persKey": keys, "m_persIndex": indices})
        return ak.unflatten(records, np.diff(offsets))

    # -- sizes --------------------------------------------------------------------------
    def compressed_bytes(self, prefixes: tuple[str, ...]) -> dict[str, int]:
        """Compressed on-disk bytes of every branch / field whose name starts with a prefix.

        TTree: ``TBranch`` compressed bytes (baskets) of each branch and sub-branch.
        RNTuple: compressed size of each column's pages, per top-level field; pages shared by
        several columns (RNTuple page deduplication) are counted once.
        """
        with self._lock:
            if self.format == "TTree":
                return {name: int(self._tree[name].compressed_bytes)
                        for name in sorted(self._keys) if name.startswith(prefixes)}
            return self._rntuple_compressed_bytes(prefixes)

    def _rntuple_compressed_bytes(self, prefixes: tuple[str, ...]) -> dict[str, int]:
        ntuple = self._tree
        fields = ntuple.field_records
        columns = ntuple.column_records

        def top_field(field_id: int) -> str:
            while fields[field_id].parent_field_id != field_id:
                field_id = fields[field_id].parent_field_id
            return fields[field_id].field_name

        column_top = [top_field(c.field_id) for c in columns]
        seen: set[int] = set()
        out: dict[str, int] = {}
        for cluster_group in ntuple.page_link_list:
            for column_index, column_pages in enumerate(cluster_group):
                name = column_top[column_index] if column_index < len(column_top) else ""
                if not name.startswith(prefixes):
                    continue
                for page in column_pages.pages:
                    offset = page.locator.offset
                    if offset in seen:
                        continue
                    seen.add(offset)
                    out[name] = out.get(name, 0) + int(page.locator.num_bytes)
        return out

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"PhysliteFile({self.path!r}, format={self.format}, n_events={self.n_events})"


__all__ = ["PhysliteFile", "TTREE_NAME", "RNTUPLE_NAME"]
