"""Truth final states handed from the Pythia8 generator to the toy detector (flat arrays, MeV and mm)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


@dataclass
class TruthParticles:
    """Final-state particles of one interaction or of several (flat arrays, MeV and mm).

    ``vx, vy, vz`` is the production point relative to the interaction point; ``prompt`` is
    False for particles with a hadron among their ancestors.
    """

    pdg: np.ndarray
    charge: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    vz: np.ndarray
    prompt: np.ndarray

    def __len__(self) -> int:
        return self.pdg.size

    def take(self, index) -> "TruthParticles":
        return TruthParticles(**{f.name: getattr(self, f.name)[index] for f in dataclasses.fields(self)})

    @staticmethod
    def concatenate(parts: list["TruthParticles"]) -> "TruthParticles":
        return TruthParticles(**{f.name: np.concatenate([getattr(p, f.name) for p in parts])
                                 for f in dataclasses.fields(TruthParticles)})


@dataclass
class HardScatterTruth:
    """The hard-scatter final state plus what the detector needs to know about its history."""

    particles: TruthParticles
    hadronic_taus: list          # per hadronic tau: int array of its final-state descendants
    weight: float = 1.0


@dataclass
class PileupParticles:
    """Overlaid min-bias particles and the truth position of every pileup interaction."""

    particles: TruthParticles
    interaction: np.ndarray      # 1..n_pileup for each particle
    vertex_xyz: np.ndarray       # float64[n_pileup, 3]


def empty_particles() -> TruthParticles:
    f = np.zeros(0)
    return TruthParticles(np.zeros(0, np.int32), np.zeros(0, np.int8), f, f, f, f, f, f, f, np.zeros(0, bool))
