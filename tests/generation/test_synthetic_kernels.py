"""The synthetic generator's kernels on their own, each against a plain-Python or NumPy reference.

The source as a whole is tested in test_synthetic.py; here each concept module's building blocks
(random streams, kinematics, link bookkeeping, block buffers, fault draws) are checked alone,
and whole generated blocks against digests recorded before the kernels were split.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from metflow.algorithms.generation import (_synthetic_buffers as buffers, _synthetic_faults as faults,
                                           _synthetic_kinematics as kin, _synthetic_links as links,
                                           _synthetic_random as rnd)
from metflow.algorithms.generation._synthetic_layout import C_L

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _stream_state(seed: int, event: int, stream: int) -> int:
    h = _mix64(seed ^ GOLDEN)
    h = _mix64(h ^ event)
    return _mix64((h + stream * GOLDEN) & MASK)


def _u01_sequence(state: int, n: int) -> list[float]:
    out = []
    for _ in range(n):
        state = (state + GOLDEN) & MASK
        out.append(((_mix64(state) >> 11) + 0.5) / 9007199254740992.0)
    return out


# ---------------------------------------------------------------------------------------------
# random streams


@pytest.mark.parametrize("seed, event, stream", [(1, 0, 0), (7, 123456, 4), (2**63 + 5, 2**40, 3)])
def test_stream_state_and_u01_equal_the_python_splitmix64(seed, event, stream):
    state = int(rnd.stream_state(np.uint64(seed), event, stream))
    assert state == _stream_state(seed, event, stream)
    st = np.array([state], np.uint64)
    drawn = [rnd.u01(st) for _ in range(100)]
    assert drawn == _u01_sequence(state, 100)   # bit-exact
    assert int(st[0]) == (state + 100 * GOLDEN) & MASK


def test_streams_of_different_events_and_streams_differ():
    states = {int(rnd.stream_state(np.uint64(1), e, s)) for e in range(50) for s in range(5)}
    assert len(states) == 250


def test_distributions_have_their_moments():
    st = np.array([rnd.stream_state(np.uint64(3), 0, 0)], np.uint64)
    n = 20000
    u = np.array([rnd.uniform(st, -2.0, 3.0) for _ in range(n)])
    g = np.array([rnd.normal(st) for _ in range(n)])
    s = np.array([rnd.gauss(st) for _ in range(n)])
    x = np.array([rnd.expo(st, 2.5) for _ in range(n)])
    p = np.array([rnd.poisson(st, 4.0, 100) for _ in range(n)])
    big = np.array([rnd.poisson(st, 50.0, 1000) for _ in range(n)])
    assert u.min() > -2.0 and u.max() < 3.0 and abs(u.mean() - 0.5) < 0.05
    assert abs(g.mean()) < 0.03 and abs(g.std() - 1.0) < 0.03
    assert abs(s.mean()) < 0.03 and abs(s.std() - 1.0) < 0.03 and np.abs(s).max() < 2 * math.sqrt(3)
    assert abs(x.mean() - 2.5) < 0.1
    assert abs(p.mean() - 4.0) < 0.1 and abs(p.var() - 4.0) < 0.3
    assert abs(big.mean() - 50.0) < 0.3 and abs(big.std() - math.sqrt(50.0)) < 0.3
    assert rnd.poisson(st, 1000.0, 7) == 7 and rnd.poisson(st, 0.0, 7) == 0
    bw = np.array([rnd.breit_wigner(st, 91.0, 2.5, 50.0, 150.0) for _ in range(n)])
    assert bw.min() >= 50.0 and bw.max() <= 150.0 and abs(np.median(bw) - 91.0) < 0.1


# ---------------------------------------------------------------------------------------------
# kinematics


def test_four_vectors_equal_numpy():
    rng = np.random.default_rng(1)
    for pt, eta, phi, m in zip(rng.uniform(1, 500, 50), rng.uniform(-4, 4, 50), rng.uniform(-3, 3, 50),
                               rng.uniform(0, 100, 50)):
        px, py, pz, e = kin.p4_ptetaphim(pt, eta, phi, m)
        ref = (pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta))
        np.testing.assert_allclose([px, py, pz], ref, rtol=1e-12)
        np.testing.assert_allclose(e, np.sqrt(np.sum(np.square(ref)) + m * m), rtol=1e-12)
        np.testing.assert_allclose(kin.ptetaphi(px, py, pz), (pt, eta, phi), rtol=1e-9, atol=1e-12)
        y = 0.5 * eta
        q = kin.p4_ptyphim(pt, y, phi, m)
        np.testing.assert_allclose(0.5 * np.log((q[3] + q[2]) / (q[3] - q[2])), y, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(q[3] ** 2 - q[0] ** 2 - q[1] ** 2 - q[2] ** 2, m * m, rtol=1e-6, atol=1e-6)


def test_wrap_and_dr2():
    for phi in np.linspace(-20, 20, 401):
        w = kin.wrap(phi)
        assert -math.pi < w <= math.pi
        np.testing.assert_allclose(math.cos(w), math.cos(phi), atol=1e-12)
    np.testing.assert_allclose(kin.dr2(0.5, 3.1, -0.5, -3.1), 1.0 + (2 * math.pi - 6.2) ** 2, rtol=1e-12)


def test_two_body_conserves_four_momentum_and_masses():
    st = np.array([rnd.stream_state(np.uint64(5), 0, 0)], np.uint64)
    parent = kin.p4_ptyphim(40e3, 0.7, 1.0, 91e3)
    for m1, m2 in ((0.0, 0.0), (105.66, 105.66), (4.8e3, 80e3)):
        d1, d2 = kin.two_body(st, parent, m1, m2)
        np.testing.assert_allclose(np.add(d1, d2), parent, rtol=1e-9)
        for d, m in ((d1, m1), (d2, m2)):
            np.testing.assert_allclose(d[3] ** 2 - d[0] ** 2 - d[1] ** 2 - d[2] ** 2, m * m, rtol=1e-6, atol=1.0)


# ---------------------------------------------------------------------------------------------
# link bookkeeping


def _split_links_reference(rows: np.ndarray, n_objects: np.ndarray):
    values, list_offsets = [], []
    for k in range(n_objects.size):
        mine = rows[rows[:, 0] == k]     # row order kept
        values.append(mine[:, 2])
        counts = np.bincount(mine[:, 1], minlength=n_objects[k])
        list_offsets.append(np.concatenate([[0], np.cumsum(counts)]))
    return values, list_offsets


def test_split_links_equals_numpy():
    rng = np.random.default_rng(2)
    n_objects = rng.integers(0, 6, links.N_LINK_KINDS)
    rows = []
    for k in np.flatnonzero(n_objects):
        for _ in range(rng.integers(0, 12)):
            rows.append((k, rng.integers(0, n_objects[k]), rng.integers(0, 1000)))
    rows = np.array(rows, np.int32).reshape(-1, 3)[rng.permutation(len(rows))]
    values, vb, list_offsets, ob = links.split_links(rows, n_objects)
    ref_values, ref_offsets = _split_links_reference(rows, n_objects)
    for k in range(links.N_LINK_KINDS):
        np.testing.assert_array_equal(values[vb[k]:vb[k + 1]], ref_values[k])
        np.testing.assert_array_equal(list_offsets[ob[k]:ob[k + 1]], ref_offsets[k])


def test_emit_grouped_is_a_stable_sort_by_jet():
    rng = np.random.default_rng(3)
    nj, n_obj = 5, 40
    obj_jet = rng.integers(-1, nj, n_obj)
    Lk = np.zeros((100, 3), np.int32)
    cnt = np.zeros(8, np.int64)
    cnt[C_L] = 3     # rows already in the table stay
    links.emit_grouped(Lk, cnt, 11, obj_jet, n_obj, nj, np.empty(nj + 1, np.int64))
    kept = np.flatnonzero(obj_jet >= 0)
    order = kept[np.argsort(obj_jet[kept], kind="stable")]
    assert cnt[C_L] == 3 + kept.size
    np.testing.assert_array_equal(Lk[3:cnt[C_L]], np.stack([np.full(order.size, 11), obj_jet[order], order], 1))


# ---------------------------------------------------------------------------------------------
# block buffers


def test_append_columns_transposes_and_grows():
    rng = np.random.default_rng(4)
    dst = np.zeros((3, 4), np.float32)
    total = []
    n = 0
    for size in (3, 0, 5, 9):
        src = rng.normal(size=(size, 6)).astype(np.float32)
        dst = buffers.append_columns(dst, n, src, size)
        total.append(src[:, :3])
        n += size
    assert dst.shape[0] == 3 and dst.shape[1] >= n
    np.testing.assert_array_equal(dst[:, :n], np.concatenate(total).T)


def test_append_rows_grows():
    dst = np.zeros((2, 3))
    src = np.arange(15.0).reshape(5, 3)
    dst = buffers.append(dst, 1, src, 4, 3)
    np.testing.assert_array_equal(dst[1:5], src[:4])


# ---------------------------------------------------------------------------------------------
# fault draws


def test_fault_draws_are_in_range_and_from_the_fault_stream():
    st = np.empty(1, np.uint64)
    draws = faults.draw_faults(np.uint64(9), 17, st)
    assert draws._fields == faults.FaultDraws._fields
    u = _u01_sequence(_stream_state(9, 17, faults.FAULT_STREAM), 3)
    assert (draws.u_noisy, draws.u_dead, draws.u_mismeasured) == tuple(u)
    assert abs(draws.dead_deta) < faults.DEAD_CENTRE_JITTER and abs(draws.dead_dphi) < faults.DEAD_CENTRE_JITTER
    assert draws.noisy_pt > faults.NOISY_PT_MIN and abs(draws.noisy_eta) < faults.NOISY_ETA_MAX
    assert faults.MISMEASURED_SCALE[0] < draws.mismeasured_scale < faults.MISMEASURED_SCALE[1]


# ---------------------------------------------------------------------------------------------
# the whole block, bit for bit

# (seed, process, mu, lrt, fault rates, first, n) -> sha256 of the pileup library and of every
# generated block buffer (filled part), offsets, links and event records, recorded with the
# single-file _synthetic_kernels.py before it was split into the _synthetic_* modules (issue 17).
# Like tests/test_reference_outputs.py, the digests assume this platform's libm.
BLOCK_DIGESTS = [
    ((1, 8, 40.0, False, (0.0, 0.0, 0.0), 0, 64),
     "3fc60bfe27aabc7e7f76e7f63de288b931f4428f13b63b3a3aa3303d712736d9"),
    ((7, 7, 60.0, True, (0.0, 0.0, 0.0), 1000, 32),
     "b125bfa4f01049ee4923e0a2851221c22e41b59f277b0c6897954252fae878b3"),
    ((2**63 + 5, 8, 20.0, True, (0.5, 0.5, 0.5), 12345, 48),
     "11b3ebb1e51845deaa7fe093930d4a1c7a6e4bbf4bdbf913f235fe9add72f330"),
    ((3, 5, 0.0, False, (1.0, 1.0, 1.0), 7, 16),
     "96173a5b3489e901e39eff5a8320d7a9274377e7d75f16cad440b2c72bd88d8b"),
]


@pytest.mark.parametrize("config, digest", BLOCK_DIGESTS)
def test_generated_blocks_equal_the_recorded_digests(config, digest):
    import hashlib

    from metflow.algorithms.generation._synthetic_block import generate_block
    from metflow.algorithms.generation._synthetic_pileup_library import LIB_SIZE, build_pileup_library

    seed, process, mu, lrt, rates, first, n = config
    h = hashlib.sha256()
    lib = build_pileup_library(np.uint64(seed), LIB_SIZE)
    ends = lib[0][-1]
    for a in (lib[0], lib[5], *(t[:ends[k]] for k, t in enumerate(lib[1:5]))):
        h.update(np.ascontiguousarray(a).tobytes())
    bufs, offsets, block_links, events = generate_block(np.uint64(seed), first, n, process, mu, lrt, lib,
                                                        *buffers.allocate_outputs(n, mu), *rates)
    for k, b in enumerate(bufs):
        h.update(np.ascontiguousarray(b[:, :offsets[-1, k]]).tobytes())
    for a in (offsets, block_links, events):
        h.update(np.ascontiguousarray(a).tobytes())
    assert h.hexdigest() == digest
