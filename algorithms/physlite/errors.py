"""Errors raised while reading PHYSLITE files; each names the file and, where known, the branch.

They are framework `SourceError`s, so a job given a bad file ends with a `metflow: error:` line
(never a traceback), whichever job reads it.
"""

from __future__ import annotations

import difflib

from metflow.framework.errors import SourceError


class PhysliteError(SourceError):
    """Base class: a PHYSLITE file could not be read or converted."""


class NotPhysliteError(PhysliteError):
    """The file is a ROOT file but holds neither a PHYSLITE TTree nor a PHYSLITE RNTuple."""


class CorruptFileError(PhysliteError):
    """The file or one of its branches cannot be decoded (truncated, corrupt, unexpected layout)."""


class MissingBranchError(PhysliteError, KeyError):
    """A branch (TTree) or field (RNTuple) the conversion needs is absent from the file."""

    def __init__(self, path: str, branch: str, available=(), alternatives=()):
        self.path = path
        self.branch = branch
        close = difflib.get_close_matches(branch, list(available), n=3, cutoff=0.6)
        hint = f"; closest: {', '.join(close)}" if close else ""
        also = "".join(f" (nor {a!r})" for a in alternatives)
        super().__init__(f"{path}: branch {branch!r}{also} not found{hint}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownLinkKeyError(PhysliteError):
    """An ElementLink carries a persistent key that hashes to none of the known containers."""


__all__ = [
    "PhysliteError", "NotPhysliteError", "CorruptFileError", "MissingBranchError",
    "UnknownLinkKeyError",
]
