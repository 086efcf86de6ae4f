"""Low-level decoding: StoreGate key hash, member-wise ElementLink vectors, the optional extra."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from metflow.algorithms.physlite import sgkey
from metflow.algorithms.physlite._elementlink import (
    MemberwiseDecodeError, decode_memberwise_links, encode_memberwise_links)
from metflow.algorithms.physlite.errors import UnknownLinkKeyError


def _crc64_bitwise(text: str) -> int:
    """Reference CRC-64: one bit at a time, reflected polynomial, initial all ones."""
    poly = int(f"{0xAD93D23594C935A9:064b}"[::-1], 2)
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in text.encode():
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc


@pytest.mark.parametrize("text", ["", "a", "AnalysisJets", "METAssoc_AnalysisMET", "x" * 100])
def test_crc64_table_matches_bitwise_reference(text):
    assert sgkey.crc64(text) == _crc64_bitwise(text)


def test_sg_key_is_30_bits_and_depends_on_clid():
    a = sgkey.sg_key("AnalysisElectrons", sgkey.CLIDS["xAOD::ElectronContainer"])
    b = sgkey.sg_key("AnalysisElectrons", sgkey.CLIDS["xAOD::PhotonContainer"])
    assert 0 < a <= sgkey.SGKEY_MASK and 0 < b <= sgkey.SGKEY_MASK
    assert a != b
    assert sgkey.sg_key("AnalysisElectrons", 0) == sgkey.crc64("AnalysisElectrons") & sgkey.SGKEY_MASK


def test_resolver_refuses_unknown_key_and_names_where():
    from metflow.algorithms.physlite.convert import link_resolver
    from metflow.algorithms.physlite.naming import ATLAS_NAMING
    resolver = link_resolver(ATLAS_NAMING)
    key = resolver.key_of("AnalysisMuons")
    assert resolver.resolve(key, where="x").metflow_key == "AnalysisMuons"
    unknown = next(k for k in range(1, 100) if k not in {resolver.key_of(t.atlas_name)
                                                           for t in resolver.targets})
    with pytest.raises(UnknownLinkKeyError, match=r"f\.root: branch 'b', event 3.*0x"):
        resolver.resolve(unknown, where="f.root: branch 'b', event 3")


def _random_links(rng, n_entries):
    counts = rng.integers(0, 12, n_entries)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    keys = rng.integers(0, 2**30, offsets[-1]).astype(np.uint32)
    indices = rng.integers(0, 2**32, offsets[-1], dtype=np.uint64).astype(np.uint32)
    return offsets, keys, indices


def test_memberwise_round_trip():
    rng = np.random.default_rng(7)
    offsets, keys, indices = _random_links(rng, 50)
    buf, entry_offsets = encode_memberwise_links(offsets, keys, indices)
    got_offsets, got_keys, got_indices = decode_memberwise_links(buf, entry_offsets)
    np.testing.assert_array_equal(got_offsets, offsets)
    np.testing.assert_array_equal(got_keys, keys)
    np.testing.assert_array_equal(got_indices, indices)


@pytest.mark.parametrize("damage, reason", [
    (lambda b, o: b.__setitem__(o[2], 0x00), "byte count flag"),          # clear 0x40 of entry 2
    (lambda b, o: b.__setitem__(o[2] + 4, 0x00), "member-wise"),          # version without 0x4000
    (lambda b, o: b.__setitem__(o[2] + 15, b[o[2] + 15] + 1), "element count"),
])
def test_memberwise_damage_names_entry(damage, reason):
    offsets = np.array([0, 2, 3, 5], np.int64)
    keys = np.arange(5, dtype=np.uint32)
    buf, entry_offsets = encode_memberwise_links(offsets, keys, keys)
    buf = buf.copy()
    damage(buf, entry_offsets)
    with pytest.raises(MemberwiseDecodeError, match=reason) as info:
        decode_memberwise_links(buf, entry_offsets)
    assert info.value.entry == 2


def test_memberwise_truncated_entry():
    offsets = np.array([0, 3], np.int64)
    buf, entry_offsets = encode_memberwise_links(offsets, np.arange(3, dtype=np.uint32),
                                                 np.arange(3, dtype=np.uint32))
    with pytest.raises(MemberwiseDecodeError, match="byte count disagrees"):
        decode_memberwise_links(buf[:-4], np.array([0, len(buf) - 4]))


def test_missing_extra_names_install_command(monkeypatch):
    from metflow.algorithms.physlite import _deps
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in ("uproot", "awkward"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r'pip install "metflow\[physlite\]"'):
        _deps.uproot_and_awkward()
