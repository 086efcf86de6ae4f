"""MissingETBase: source bit patterns, object types and usage policies of the MET EDM (xAOD names)."""

from __future__ import annotations

import enum

import numpy as np


MAX_OBJECTS_PER_ASSOCIATION = 64


class ObjectType(enum.IntEnum):
    """``xAOD::Type::ObjectType`` values used in obj_type and (as ``1 << type``) in ovl_type."""

    Other = 0
    CaloCluster = 1
    Jet = 2
    ParticleFlow = 3
    TrackParticle = 4
    NeutralParticle = 5
    Electron = 6
    Photon = 7
    Muon = 8
    Tau = 9


TRUTH_OVERLAP_BIT = 1  # truth-particle constituents mark overlaps with bit 0


class UsagePolicy(enum.IntEnum):
    """``MissingETBase::UsageHandler::Policy``: which shared constituent types count as overlap."""

    TrackCluster = 0
    OnlyCluster = 1
    OnlyTrack = 2
    ParticleFlow = 3
    TruthParticle = 4
    AllCalo = 5
    PhysicsObject = 6


def _bit(t: ObjectType) -> int:
    return 1 << int(t)


# Overlap-type bits that make hasOverlaps true, per policy (index = UsagePolicy value).
POLICY_OVERLAP_MASK = np.array([
    _bit(ObjectType.CaloCluster) | _bit(ObjectType.TrackParticle),   # TrackCluster
    _bit(ObjectType.CaloCluster),                                     # OnlyCluster
    _bit(ObjectType.TrackParticle),                                   # OnlyTrack
    _bit(ObjectType.ParticleFlow),                                    # ParticleFlow
    TRUTH_OVERLAP_BIT,                                                # TruthParticle
    0xFF & ~_bit(ObjectType.TrackParticle),                           # AllCalo
    0,                                                                # PhysicsObject: never
], dtype=np.uint8)
POLICY_OVERLAP_MASK.flags.writeable = False


class MissingETBase:
    """Namespace mirroring ``MissingETBase``: ``Source`` bits and ``UsageHandler.Policy``."""

    class Source:
        """Source bit patterns (uint64) of MissingET terms and pattern tests."""

        # type
        Electron = 0x1
        Photon = 0x2
        Tau = 0x4
        Muon = 0x8
        Jet = 0x10
        SoftEvent = 0x20
        Total = 0x40
        # region
        Unknown = 0x0
        FullAcceptance = 0x0
        Central = 0x100
        Endcap = 0x200
        Forward = 0x400
        # signal
        LCTopo = 0x1000
        EMTopo = 0x2000
        Track = 0x4000
        # category
        Refined = 0x10000
        Truth = 0x20000
        Calo = 0x40000
        ID = 0x80000
        # truth types (Truth bit included)
        NonInt = 0x21000
        Int = 0x22000
        IntOut = 0x24000
        TruthMuons = 0x28000
        # METMaker: term marked invisible, excluded from the total
        Invisible = 0x100000

        @staticmethod
        def electron(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Electron | region

        @staticmethod
        def photon(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Photon | region

        @staticmethod
        def tau(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Tau | region

        @staticmethod
        def muon(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Muon | region

        @staticmethod
        def jet(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Jet | region

        @staticmethod
        def soft_event(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.SoftEvent | region

        @staticmethod
        def total(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Total | region

        @staticmethod
        def signal(sig: int | None = None, region: int = 0) -> int:
            S = MissingETBase.Source
            return S.Refined | (S.LCTopo | S.Track if sig is None else sig) | region

        @staticmethod
        def track(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.Track | region

        @staticmethod
        def cluster_lc(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.LCTopo | region

        @staticmethod
        def cluster_em(region: int = 0) -> int:
            return MissingETBase.Source.Refined | MissingETBase.Source.EMTopo | region

        @staticmethod
        def cluster(region: int = 0) -> int:
            S = MissingETBase.Source
            return S.Refined | S.LCTopo | S.EMTopo | region

        @staticmethod
        def calo_lc_topo(region: int = 0) -> int:
            return MissingETBase.Source.Calo | MissingETBase.Source.LCTopo | region

        @staticmethod
        def calo_em_topo(region: int = 0) -> int:
            return MissingETBase.Source.Calo | MissingETBase.Source.EMTopo | region

        @staticmethod
        def id_track(region: int = 0) -> int:
            return MissingETBase.Source.ID | MissingETBase.Source.Track | region

        @staticmethod
        def truth(truth_type: int, region: int = 0) -> int:
            return MissingETBase.Source.Truth | truth_type | region

        @staticmethod
        def invisible() -> int:
            return MissingETBase.Source.Invisible

        @staticmethod
        def has_pattern(bits: int, mask: int) -> bool:
            """True iff every bit of ``mask`` is set in ``bits``."""
            bits, mask = int(bits), int(mask)
            return (bits & mask) == mask

        @staticmethod
        def is_electron_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.electron(region))

        @staticmethod
        def is_photon_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.photon(region))

        @staticmethod
        def is_tau_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.tau(region))

        @staticmethod
        def is_muon_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.muon(region))

        @staticmethod
        def is_jet_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.jet(region))

        @staticmethod
        def is_soft_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.soft_event(region))

        @staticmethod
        def is_track_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.track(region))

        @staticmethod
        def is_total_term(bits: int, region: int = 0) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.total(region))

        @staticmethod
        def is_invisible_term(bits: int) -> bool:
            return MissingETBase.Source.has_pattern(bits, MissingETBase.Source.Invisible)

    class UsageHandler:
        Policy = UsagePolicy


Source = MissingETBase.Source
