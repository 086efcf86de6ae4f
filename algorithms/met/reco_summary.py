"""End-of-run summary of MET reconstruction: mean core soft terms and map sizes per jet collection."""

from __future__ import annotations

import numpy as np

from metflow.edm import keys as K
from metflow.edm.units import GeV
from metflow.framework.io import Sink

from .reco import CORE_TERMS

__all__ = ["METRecoSummary"]


class METRecoSummary(Sink):
    """End-of-run summary sink: mean core soft terms and map sizes per jet collection.

    A block costs no numpy work (it matters at batch size 1): the map sizes are counted, the
    core-term arrays kept and reduced every `REDUCE_EVERY` blocks.
    """

    REDUCE_EVERY = 1024

    def __init__(self, jet_collections):
        self.name = "METRecoSummary"
        self.jet_collections = tuple(jet_collections)
        self.n_events = 0
        self.totals = {jet: np.zeros(7) for jet in self.jet_collections}
        self._keys = tuple((K.met_core_key(jet), K.met_assoc_key(jet)) for jet in self.jet_collections)
        self._cores: list[list] = [[] for _ in self.jet_collections]
        self._sizes = [[0, 0, 0] for _ in self.jet_collections]   # associations, objects, keyed sums

    def keys(self) -> list[str]:
        return [k for jet in self.jet_collections for k in (K.met_assoc_key(jet), K.met_core_key(jet))]

    def write(self, first: int, n: int, data: dict) -> None:
        self.n_events += n
        for j, (core_key, map_key) in enumerate(self._keys):
            self._cores[j].append(data[core_key])
            amap, sizes = data[map_key], self._sizes[j]
            sizes[0] += len(amap.jet_index)
            sizes[1] += len(amap.obj_index)
            sizes[2] += len(amap.cal_key) + len(amap.trk_key)
        if len(self._cores[0]) >= self.REDUCE_EVERY:
            self._reduce()

    def _reduce(self) -> None:
        for j, jet in enumerate(self.jet_collections):
            cores, self._cores[j] = self._cores[j], []
            t = self.totals[jet]
            t[4:7] += self._sizes[j]
            self._sizes[j] = [0, 0, 0]
            if not cores:
                continue
            names = cores[0].names
            same = all(c.names == names for c in cores)
            columns = {}
            for what in ("mpx", "mpy", "sumet"):
                if same:   # one concatenation of the [events, terms] arrays, then the columns
                    whole = np.concatenate([getattr(c, what) for c in cores])
                    columns[what] = [whole[:, names.index(name)] for name, _ in CORE_TERMS]
                else:
                    columns[what] = [np.concatenate([getattr(c, what)[:, c.names.index(name)] for c in cores])
                                     for name, _ in CORE_TERMS]
            for i in range(len(CORE_TERMS)):
                t[2 * i] += np.hypot(columns["mpx"][i].astype(np.float64), columns["mpy"][i]).sum()
                t[2 * i + 1] += columns["sumet"][i].astype(np.float64).sum()

    def summary(self) -> str:
        self._reduce()
        n = max(self.n_events, 1)
        lines = [f"MET reconstruction over {self.n_events} events (means per event):",
                 f"  {'jets':<16}{'SoftClusCore':>14}{'sumet':>10}{'PVSoftTrkCore':>15}{'sumet':>10}"
                 f"{'assocs':>8}{'objects':>9}{'keyed sums':>12}"]
        for jet in self.jet_collections:
            t = self.totals[jet] / n
            lines.append(f"  {jet:<16}{t[0] / GeV:>10.2f} GeV{t[1] / GeV:>10.1f}{t[2] / GeV:>11.2f} GeV"
                         f"{t[3] / GeV:>10.1f}{t[4]:>8.2f}{t[5]:>9.2f}{t[6]:>12.2f}")
        return "\n".join(lines)
