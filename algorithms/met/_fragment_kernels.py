"""What the MET reconstruction kernels share (private): status codes, constituent kinds, the
scalar helpers, block-global links and the packed fragment layout of ObjectAssociations.

Conventions of every reconstruction kernel: see :mod:`._reco_kernels`.
"""

import numpy as np

from metflow.framework.jit import kernel

KIND_CAL = 0  # calorimeter-like signal: TopoCluster or PFO
KIND_TRK = 1  # InDet track

OK = 0
ERR_LINK_RANGE = 1  # a link points outside its target container (event-local)
ERR_SHARED_CONSTITUENT = 2  # a constituent belongs to two jets
ERR_TOO_MANY_OBJECTS = 3  # more than 64 objects in one association
ERR_INPUTS = 4  # inputs of different blocks (event or object counts differ); the caller names them



@kernel
def _pt(x, y):
    """sqrt(x^2 + y^2) of float64 values widened from float32: the squares are exact, so this is
    as accurate as np.hypot (no overflow possible) and several times faster (hypot is a libm call)."""
    return np.sqrt(x * x + y * y)


@kernel
def block_global_links(offsets, links, target_offsets):
    """Event-local links (-1 = none) of objects in events ``offsets`` -> block-global indices
    into a container with ``target_offsets`` (still -1 for none)."""
    out = np.empty(links.shape[0], dtype=np.int32)
    for ev in range(offsets.shape[0] - 1):
        base = target_offsets[ev]
        for i in range(offsets[ev], offsets[ev + 1]):
            out[i] = links[i] + base if links[i] >= 0 else -1
    return out


@kernel
def _add_vec(target, a, px, py, pz, e):
    x = np.float64(px)
    y = np.float64(py)
    target[0, a] += x
    target[1, a] += y
    target[2, a] += np.float64(pz)
    target[3, a] += np.float64(e)
    target[4, a] += _pt(x, y)


# header of a packed fragment: object type, n_events, n_objects, n_pieces, n_constituents
FRAGMENT_HEADER = 5


@kernel(inline="always")
def fragment_segments(n_events, n_sel, n_piece, n_const):
    """Start of each column in a packed fragment: obj_offsets, obj_index, piece_offsets,
    piece_assoc, const_offsets, const_kind, const_index, and the end."""
    out = np.empty(8, dtype=np.int64)
    out[0] = FRAGMENT_HEADER
    out[1] = out[0] + n_events + 1
    out[2] = out[1] + n_sel
    out[3] = out[2] + n_sel + 1
    out[4] = out[3] + n_piece
    out[5] = out[4] + n_piece + 1
    out[6] = out[5] + n_const
    out[7] = out[6] + n_const
    return out


@kernel(inline="always")
def _copy_into(out, start, values):
    for i in range(values.shape[0]):
        out[start + i] = values[i]


@kernel(inline="always")
def pack_fragment(object_type, obj_offsets, obj_index, piece_offsets, piece_assoc, const_offsets, const_kind,
                  const_index):
    """One associator's output in one int64 buffer (one array to return, freeze, concatenate):
    header (object_type, n_events, n_objects, n_pieces, n_constituents), then the columns of
    ``ObjectAssociations`` at :func:`fragment_segments`."""
    n_events = obj_offsets.shape[0] - 1
    seg = fragment_segments(n_events, obj_index.shape[0], piece_assoc.shape[0], const_index.shape[0])
    out = np.empty(seg[7], dtype=np.int64)
    out[0] = object_type
    out[1] = n_events
    out[2] = obj_index.shape[0]
    out[3] = piece_assoc.shape[0]
    out[4] = const_index.shape[0]
    _copy_into(out, seg[0], obj_offsets)
    _copy_into(out, seg[1], obj_index)
    _copy_into(out, seg[2], piece_offsets[:obj_index.shape[0] + 1])
    _copy_into(out, seg[3], piece_assoc)
    _copy_into(out, seg[4], const_offsets[:piece_assoc.shape[0] + 1])
    _copy_into(out, seg[5], const_kind)
    _copy_into(out, seg[6], const_index)
    return out


@kernel(inline="always")
def unpack_fragments(packed, n_fragments):
    """Concatenation of :func:`pack_fragment` buffers -> block-wide piece columns.

    Returns (piece_fragment, piece_obj_type, piece_obj_index, piece_assoc, const_offsets (global),
    const_kind, const_index), pieces in fragment order.
    """
    n_pieces = 0
    n_const = 0
    pos = 0
    for f in range(n_fragments):
        n_pieces += packed[pos + 3]
        n_const += packed[pos + 4]
        pos += fragment_segments(packed[pos + 1], packed[pos + 2], packed[pos + 3], packed[pos + 4])[7]
    p_frag = np.empty(n_pieces, dtype=np.int64)
    p_type = np.empty(n_pieces, dtype=np.uint8)
    p_obj = np.empty(n_pieces, dtype=np.int32)
    p_assoc = np.empty(n_pieces, dtype=np.int64)
    p_const = np.empty(n_pieces + 1, dtype=np.int64)
    c_kind = np.empty(n_const, dtype=np.uint8)
    c_index = np.empty(n_const, dtype=np.int32)
    p_const[0] = 0
    pos = 0
    p = 0
    c = 0
    for f in range(n_fragments):
        obj_type = packed[pos]
        n_sel = packed[pos + 2]
        n_piece = packed[pos + 3]
        n_c = packed[pos + 4]
        seg = pos + fragment_segments(packed[pos + 1], n_sel, n_piece, n_c)
        for s in range(n_sel):
            for q in range(packed[seg[2] + s], packed[seg[2] + s + 1]):
                p_frag[p + q] = f
                p_type[p + q] = obj_type
                p_obj[p + q] = packed[seg[1] + s]
        for q in range(n_piece):
            p_assoc[p + q] = packed[seg[3] + q]
            p_const[p + q + 1] = packed[seg[4] + q + 1] + c
        for k in range(n_c):
            c_kind[c + k] = packed[seg[5] + k]
            c_index[c + k] = packed[seg[6] + k]
        p += n_piece
        c += n_c
        pos = seg[7]
    return p_frag, p_type, p_obj, p_assoc, p_const, c_kind, c_index
