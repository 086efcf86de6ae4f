"""StoreGate persistent keys of ElementLinks, reproduced so links resolve to container names.

An ATLAS ``ElementLink`` is stored as (``m_persKey``, ``m_persIndex``). The key is the StoreGate
hash of the target container: ``SG::StringPool::stringToKey(name, clid)``, i.e. the CRC-64 of the
container name (Athena's ``CxxUtils::crc64``: reflected polynomial 0xad93d23594c935a9, initial
value all ones, no final xor, one byte at a time) extended with the class ID of the container type
(``crc64addint``: the CLID's bytes, least significant first, while non-zero), then masked to the
30-bit ``sgkey_t`` range (0x3fffffff). The key uses the CLID of the concrete container the link
was made from (``xAOD::ElectronContainer``, not ``xAOD::IParticleContainer``) - verified on both
example files, where every key found resolves this way.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownLinkKeyError

_CRC64_POLY_REVERSED_FORM = 0xAD93D23594C935A9
_CRC64_INITIAL = 0xFFFFFFFFFFFFFFFF
SGKEY_MASK = 0x3FFFFFFF
INVALID_INDEX = 0xFFFFFFFF  # m_persIndex of a null link


def _bit_reflect64(value: int) -> int:
    return int(f"{value:064b}"[::-1], 2)


def _make_table() -> tuple[int, ...]:
    poly = _bit_reflect64(_CRC64_POLY_REVERSED_FORM)
    table = []
    for byte in range(256):
        r = byte
        for _ in range(8):
            r = (r >> 1) ^ poly if r & 1 else r >> 1
        table.append(r)
    return tuple(table)


_TABLE = _make_table()


def crc64(text: str) -> int:
    """Athena's CRC-64 of a string (``CxxUtils::crc64``)."""
    crc = _CRC64_INITIAL
    for byte in text.encode():
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def crc64_add_int(crc: int, value: int) -> int:
    """Extend a CRC with an unsigned int, low byte first, stopping when no bits are left."""
    while value > 0:
        crc = _TABLE[(crc ^ value) & 0xFF] ^ (crc >> 8)
        value >>= 8
    return crc


def sg_key(name: str, clid: int) -> int:
    """StoreGate key (30 bits) of the object recorded as ``name`` with class ID ``clid``."""
    crc = crc64(name)
    if clid:
        crc = crc64_add_int(crc, clid)
    return crc & SGKEY_MASK


# Class IDs (CLASS_DEF in the xAOD headers) of the containers PHYSLITE links point to.
CLIDS = {
    "xAOD::JetContainer": 1244316195,
    "xAOD::ElectronContainer": 1087532415,
    "xAOD::PhotonContainer": 1105575213,
    "xAOD::MuonContainer": 1178459224,
    "xAOD::TauJetContainer": 1177172564,
}


@dataclass(frozen=True)
class LinkTarget:
    """What a persistent key points to: ATLAS container name, metflow key, xAOD object type."""

    atlas_name: str
    clid_name: str
    metflow_key: str
    xaod_type: int


class LinkKeyResolver:
    """Maps persistent keys to their containers; refuses a key that matches none of them."""

    def __init__(self, targets: list[LinkTarget]):
        self.targets = tuple(targets)
        self._by_key: dict[int, LinkTarget] = {}
        for target in targets:
            key = sg_key(target.atlas_name, CLIDS[target.clid_name])
            other = self._by_key.get(key)
            if other is not None and other != target:
                raise ValueError(f"StoreGate key collision: {target} and {other} -> {key}")
            self._by_key[key] = target

    def key_of(self, atlas_name: str) -> int:
        """The persistent key of a known container."""
        for key, target in self._by_key.items():
            if target.atlas_name == atlas_name:
                return key
        raise KeyError(atlas_name)

    def resolve(self, key: int, *, where: str) -> LinkTarget:
        """Target of ``key``; ``where`` (file, branch, event) goes into the error message."""
        target = self._by_key.get(int(key))
        if target is None:
            known = ", ".join(f"{t.atlas_name}={k:#x}" for k, t in sorted(self._by_key.items()))
            raise UnknownLinkKeyError(
                f"{where}: ElementLink persistent key {int(key):#x} ({int(key)}) is none of the "
                f"known containers ({known}); the link points to a container this reader "
                f"does not convert"
            )
        return target


__all__ = [
    "crc64", "crc64_add_int", "sg_key", "CLIDS", "SGKEY_MASK", "INVALID_INDEX", "LinkTarget",
    "LinkKeyResolver",
]
