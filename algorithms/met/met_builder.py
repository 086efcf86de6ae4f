"""METBuilder: the MET terms of one block being rebuilt (float64 accumulators), and
JetRebuildResult, what rebuilding the jet term reports."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metflow.edm.containers import Container
from metflow.edm.met import MissingETContainer

from . import _maker_kernels as K


class RebuildError(ValueError):
    """Inputs of a rebuild do not fit together (block sizes, unknown containers, terms)."""



class METBuilder:
    """The terms of one MET container being rebuilt for a block (float64 accumulators).

    Per invocation, like the helper. `links[term]` keeps, for object and jet terms, the
    objects container and per-object weights (1 for added objects, uniquefrac for hard jets),
    the equivalent of ATLAS's ConstitObjectLinks/Weights, used by significance and systematics.
    """

    def __init__(self, n_events: int):
        self.n_events = int(n_events)
        self.names: list[str] = []
        self.sources: list[int] = []
        self.values: list[np.ndarray] = []      # each float64[n_events, 3]: mpx, mpy, sumet
        self.links: dict[str, tuple[Container, np.ndarray]] = {}
        self.jet_status: dict[str, np.ndarray] = {}

    def new_term(self, name: str, source: int) -> np.ndarray:
        """Append an empty term; a second term of the same name is an error (fillMET)."""
        if name in self.names:
            raise RebuildError(f"MET term {name!r} already exists in this MET container; "
                               f"terms: {self.names}")
        arr = np.zeros((self.n_events, 3), np.float64)
        self.names.append(name)
        self.sources.append(int(source))
        self.values.append(arr)
        return arr

    def term(self, name: str) -> np.ndarray:
        try:
            return self.values[self.names.index(name)]
        except ValueError:
            raise KeyError(f"no MET term {name!r}; terms: {self.names}") from None

    def source(self, name: str) -> int:
        return self.sources[self.names.index(name)]

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def to_container(self, key: str | None = None) -> MissingETContainer:
        """A MissingETContainer of the terms (float32 columns, one row per event)."""
        if self.names:
            terms = K.terms_to_f32(tuple(np.ascontiguousarray(v, np.float64) for v in self.values))
        else:
            terms = np.zeros((3, self.n_events, 0), np.float32)
        terms.setflags(write=False)   # before the views: they are read-only too
        mpx, mpy, sumet = terms
        return MissingETContainer.from_kernel(tuple(self.names), np.array(self.sources, np.uint64),
                                              mpx, mpy, sumet, key=key)


@dataclass(frozen=True)
class JetRebuildResult:
    """Per-jet outcome of rebuild_jet_met: uniquefrac weight and JET_* status code."""

    weight: np.ndarray
    status: np.ndarray

    @property
    def hard(self) -> np.ndarray:
        """bool per jet: in the jet term."""
        return self.status == K.JET_HARD
