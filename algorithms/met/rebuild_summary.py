"""METRebuildSummary: the end-of-run MET summary sink of met_rebuild."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from metflow.edm.met import Source
from metflow.edm.units import GeV
from metflow.framework.io import Sink



class METRebuildSummary(Sink):
    """End-of-run MET summary: mean MET and sumet per term, significance, variations."""

    def __init__(self, met_key: str, significance_key: str | None = None,
                 variation_keys: Sequence[str] = (), nominal_of: dict[str, str] | None = None):
        self.name = "METRebuildSummary"
        self.met_key = met_key
        self.significance_key = significance_key
        self.variation_keys = tuple(variation_keys)
        # variation key -> its nominal MET key (default met_key), e.g. track-MET variations
        self.nominal_of = {k: (nominal_of or {}).get(k, met_key) for k in self.variation_keys}
        self.n_events = 0
        self.term_names: tuple[str, ...] = ()
        self.sums: np.ndarray | None = None      # [n_terms, 2]: met, sumet
        self.sig_sum = 0.0
        self.sig_n = 0
        self.var_sums = {k: 0.0 for k in self.variation_keys}

    def keys(self) -> list[str]:
        keys = [self.met_key, *self.variation_keys]
        keys += [k for k in dict.fromkeys(self.nominal_of.values()) if k not in keys]
        if self.significance_key:
            keys.append(self.significance_key)
        return keys

    def write(self, first: int, n: int, data: dict) -> None:
        met = data[self.met_key]
        if self.sums is None:
            self.term_names = met.names
            self.sums = np.zeros((len(met.names), 2))
        self.n_events += n
        magnitude = np.hypot(met.mpx.astype(np.float64), met.mpy)
        self.sums[:, 0] += magnitude.sum(axis=0)
        self.sums[:, 1] += met.sumet.astype(np.float64).sum(axis=0)
        if self.significance_key:
            s = data[self.significance_key]["s"]
            self.sig_sum += float(np.sum(s))
            self.sig_n += len(s)
        for key in self.variation_keys:
            var, nominal = data[key], data[self.nominal_of[key]]
            total = self._total_index(nominal)
            self.var_sums[key] += float(np.sum(
                np.hypot(var.mpx[:, total].astype(np.float64), var.mpy[:, total])
                - np.hypot(nominal.mpx[:, total].astype(np.float64), nominal.mpy[:, total])))

    @staticmethod
    def _total_index(met) -> int:
        for i, s in enumerate(met.sources):
            if Source.is_total_term(int(s)):
                return i
        return len(met.names) - 1

    def summary(self) -> str:
        n = max(self.n_events, 1)
        lines = [f"MET rebuild {self.met_key} over {self.n_events} events (means per event):",
                 f"  {'term':<12}{'MET [GeV]':>11}{'sumet [GeV]':>13}"]
        if self.sums is not None:
            for name, (m, s) in zip(self.term_names, self.sums / n):
                lines.append(f"  {name:<12}{m / GeV:>11.2f}{s / GeV:>13.1f}")
        if self.sig_n:
            lines.append(f"  mean significance S = {self.sig_sum / self.sig_n:.2f}")
        for key, v in self.var_sums.items():
            lines.append(f"  {key}: mean shift of the total MET {v / n / GeV:+.3f} GeV")
        return "\n".join(lines)
