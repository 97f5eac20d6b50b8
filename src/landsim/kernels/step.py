"""The urban year's selection in one fused pass: the cells ``urban_potential`` followed
by ``select_top`` would choose, without computing every cell's potential.

``select_urban`` gives exactly the set of ``select_top(urban_potential(…), n)``, bit for
bit the same potentials, draws and tie rule; ``tests/kernels/test_step.py`` checks it
against ``kernels.reference`` on every path below. What it saves:

- **The neighbourhood** comes from the row sums (``neighborhood.row_sums``), which the
  engine keeps between years and corrects around converted cells
  (``neighborhood.update_row_sums``); the column pass is done here, row by row in the
  kernel's order of additions, so the neighbourhood is never written to memory.
- **The potential's log and square root** (most of ``urban_potential``'s time) are
  needed only near the top. A potential is ``B × g(u)``: ``B = S × (floor + keep × N)``
  and the perturbation ``g``, monotone in the draw ``u``. The draw's 53 bits fall in one
  of 3072 bins (its leading bit and the 6 after it), and a table holds, per bin, an upper
  bound of ``g`` over the bin (its two ends, the larger, raised by 2⁻¹⁶ to cover the
  libm's last-bit error and the float32 rounding). A cell whose bound ``B × table[bin]``
  is below a threshold ``L`` has a potential below ``L`` and is skipped after a few
  integer operations; the others (about 2 % of the cells) get their exact potential.
  Before the draw, ``B × max(table)`` with the neighbourhood bounded by its column sum
  (weights >= 0) leaves ~10 % of the cells, in loops the compiler vectorises.
- **The selection** then runs over those cells only. ``L`` comes from a sample (the
  exact potentials of one cell in 257, in runs of 16), set low enough that, with high
  probability, at least ``n`` cells reach it; the run checks that they do. When they do,
  every cell of the top ``n`` (ties included) reaches ``L``, so the exact threshold and
  the tie rule are applied to the complete set. When they do not (an unlucky sample, or
  heavy ties), it lowers ``L`` and tries again, and in the end computes every potential
  and calls ``select_top``: the answer is the same on every path, only the time differs.
- **Few candidates** (a planning boundary: the caller passes their flat indices) are
  visited alone, each given its exact potential, and ranked as above.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange
from numba.cpython.unsafe.numbers import leading_zeros

from landsim.kernels._jit import jit, jit_inline, jit_parallel
from landsim.kernels.allocate import select_top
from landsim.kernels.potential import perturbation
from landsim.kernels.random import _GOLDEN, _INV53, _S11, mix64

_SIGN = np.uint32(0x80000000)
_SUB = 6  # bits of the draw after its leading one that pick its bin
_NBINS = (1 << _SUB) * (53 - _SUB + 1)  # draws below 2**_SUB get a bin each
_MARGIN = 1.0 + 2.0**-16
_STRIDE = 257  # one cell in _STRIDE in the sample; prime, so no column is favoured
_RUN = 16  # the sample's cells come in runs of _RUN (a cache line of float32)
_Z = 4.0  # the sample's margin in standard deviations
_MIN_CELLS = 1 << 16  # smaller grids take the plain path: nothing to gain
_NCHUNKS = 64  # row chunks: balance for a few threads; does not change the result
_LIST_SHARE = 16  # candidates listed and fewer than 1 cell in _LIST_SHARE: visit them only


@jit_inline
def _draw_bits(key: np.uint64, index: np.int64) -> np.uint64:
    """The 53 bits behind ``random.uniform(key, index)``: u = (bits + 0.5) × 2⁻⁵³."""
    z = mix64(np.uint64(key) + (np.uint64(index) + np.uint64(1)) * _GOLDEN)
    return z >> _S11


@jit_inline
def _bits_to_uniform(m: np.uint64) -> float:
    return (np.float64(m) + 0.5) * _INV53  # as random.uniform computes it


@jit_inline
def _bin(m: np.uint64) -> np.int64:
    if m < np.uint64(1 << _SUB):
        return np.int64(m)
    e = 63 - np.int64(leading_zeros(m))  # position of the leading one, _SUB..52
    shift = np.uint64(e - _SUB)
    return (np.int64(1) << _SUB) * (e - _SUB + 1) + np.int64((m >> shift) & np.uint64(63))


@jit
def noise_table(alpha: float) -> np.ndarray:
    """Per bin of the draw, an upper bound of ``perturbation(u, alpha)`` over the bin
    (about 0.1 ms: computed on every call rather than cached)."""
    table = np.empty(_NBINS, dtype=np.float64)
    for m in range(1 << _SUB):
        table[m] = perturbation(_bits_to_uniform(np.uint64(m)), alpha) * _MARGIN
    for e in range(_SUB, 53):
        width = np.uint64(1) << np.uint64(e - _SUB)
        for top in range(1 << _SUB):
            lo = (np.uint64((1 << _SUB) + top)) << np.uint64(e - _SUB)
            hi = lo + width - np.uint64(1)
            g = max(
                perturbation(_bits_to_uniform(lo), alpha),
                perturbation(_bits_to_uniform(hi), alpha),
            )
            table[(1 << _SUB) * (e - _SUB + 1) + top] = g * _MARGIN
    return table


@jit_inline
def _order_key(p: np.float32) -> np.uint32:
    """``select_top``'s order: the bits as uint32, -0.0 as +0.0; >= 2**31 is not eligible."""
    k = np.float32(p).view(np.uint32)
    return np.uint32(0) if k == _SIGN else k


@jit_inline
def _exact(
    landuse: np.ndarray,
    weights: np.ndarray,
    radius: int,
    work: np.ndarray,
    suitability: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    i: np.int64,
    j: np.int64,
) -> np.float32:
    """``urban_potential`` of candidate (i, j), the neighbourhood from the row sums."""
    ny, nx = landuse.shape
    s = suitability[i, j]
    if s == 0:
        return np.float32(0.0)
    acc = np.float32(0.0)
    for ii in range(max(i - radius, 0), min(i + radius + 1, ny)):
        acc += work[ii, j]
    inv = np.float32(1.0 / ((2 * radius + 1) ** 2 - 1))
    neigh = (acc - weights[landuse[i, j]]) * inv
    keep = np.float32(1.0 - floor)
    noise = perturbation(_bits_to_uniform(_draw_bits(key, np.int64(i) * nx + j)), alpha)
    return np.float32(s * (floor + keep * neigh) * noise)


@jit_parallel
def potential_from_row_sums(
    landuse: np.ndarray,
    weights: np.ndarray,
    radius: int,
    work: np.ndarray,
    suitability: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    out: np.ndarray,
) -> None:
    """``urban_potential`` of every cell, the neighbourhood from the row sums: the plain
    path ``select_urban`` falls back on."""
    ny, nx = landuse.shape
    for i in prange(ny):
        for j in range(nx):
            if candidate[i, j]:
                out[i, j] = _exact(
                    landuse, weights, radius, work, suitability, floor, alpha, key, i, j
                )
            else:
                out[i, j] = np.float32(-1.0)


@jit_parallel
def _sample(
    landuse: np.ndarray,
    weights: np.ndarray,
    radius: int,
    work: np.ndarray,
    suitability: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    flat: np.ndarray,
    keys: np.ndarray,
) -> None:
    """Order keys of the potentials of the cells ``flat``; _SIGN where not eligible."""
    nx = landuse.shape[1]
    for k in prange(flat.size):
        i = flat[k] // nx
        j = flat[k] - i * nx
        if candidate[i, j]:
            p = _exact(landuse, weights, radius, work, suitability, floor, alpha, key, i, j)
            keys[k] = _order_key(p)
        else:
            keys[k] = _SIGN


@jit_inline
def _column_sums(work: np.ndarray, i: np.int64, radius: int, acc: np.ndarray) -> None:
    """The column pass of ``neighborhood_effect`` for row ``i``: ``acc[j]`` = the row sums
    of rows i - r .. i + r added top to bottom from 0, the kernel's order of additions,
    four rows a sweep (one sweep each would read and write ``acc`` 2r+1 times)."""
    ny, nx = work.shape
    hi = min(i + radius + 1, ny)
    acc[:] = 0.0
    ii = max(i - radius, 0)
    while ii < hi:
        k = min(4, hi - ii)
        r0 = work[ii]
        if k == 4:
            r1, r2, r3 = work[ii + 1], work[ii + 2], work[ii + 3]
            for j in range(nx):
                acc[j] = (((acc[j] + r0[j]) + r1[j]) + r2[j]) + r3[j]
        elif k == 3:
            r1, r2 = work[ii + 1], work[ii + 2]
            for j in range(nx):
                acc[j] = ((acc[j] + r0[j]) + r1[j]) + r2[j]
        elif k == 2:
            r1 = work[ii + 1]
            for j in range(nx):
                acc[j] = (acc[j] + r0[j]) + r1[j]
        else:
            for j in range(nx):
                acc[j] += r0[j]
        ii += k


@jit_parallel
def _survivors(
    landuse: np.ndarray,
    weights: np.ndarray,
    radius: int,
    work: np.ndarray,
    suitability: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    table: np.ndarray,
    level: float,
    level_key: np.uint32,
    rows: np.ndarray,
    todo: np.ndarray,
    base: np.ndarray,
    cap: np.ndarray,
    kept_index: np.ndarray,
    kept_key: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Per chunk ``c`` in ``todo`` (of rows ``rows[c]:rows[c + 1]``), every cell whose
    potential's order key is >= ``level_key``: its flat index and key, stored from
    ``base[c]`` (at most ``cap[c]``, ascending); ``counts[c]`` is how many there are,
    stored or not.

    Row by row, in three sweeps that leave the rest of the cells behind: the cells whose
    potential could reach ``level`` whatever the draw (``B × max(table)``), then those
    whose draw's bin allows it, then the exact potential of those left.
    """
    nx = landuse.shape[1]
    inv = np.float32(1.0 / ((2 * radius + 1) ** 2 - 1))
    keep = np.float32(1.0 - floor)
    top = table.max()
    upper = keep >= 0 and weights.min() >= 0  # False for a NaN weight
    for t in prange(todo.size):
        c = todo[t]
        acc = np.empty(nx, dtype=np.float32)
        cols = np.empty(nx, dtype=np.int64)
        bs2 = np.empty(nx, dtype=np.float64)
        draws = np.empty(nx, dtype=np.uint64)
        centre = np.empty(nx, dtype=np.float32)
        flag = np.empty(nx, dtype=np.uint8)
        pos = base[c]
        end = base[c] + cap[c]
        found = 0
        for i in range(rows[c], rows[c + 1]):
            _column_sums(work, i, radius, acc)
            # Sweep 1, branch-free, in loops the compiler vectorises. B <= 0
            # (suitability 0 included) gives a potential <= 0, below level > 0, and
            # fails the test like a small B; a NaN passes every "not <" test and is
            # kept, for select_top decides on its bits. With weights >= 0 and keep >= 0,
            # (acc × inv) bounds the neighbourhood from above (rounding is monotone and
            # the centre's weight only lowers it), so the class-weight lookup, a gather
            # that would stop the vectorising, waits for the cells that pass.
            if upper:
                for j in range(nx):
                    b = suitability[i, j] * (floor + keep * (acc[j] * inv))
                    flag[j] = candidate[i, j] & np.uint8(not (b * top < level))
            else:
                for j in range(nx):
                    centre[j] = weights[landuse[i, j]]
                for j in range(nx):
                    b = suitability[i, j] * (floor + keep * ((acc[j] - centre[j]) * inv))
                    flag[j] = candidate[i, j] & np.uint8(not (b * top < level))
            n1 = 0
            for j in range(nx):
                cols[n1] = j
                n1 += flag[j]
            row0 = np.int64(i) * nx
            # Sweep 2: the exact B, and the bound of the draw's bin.
            n2 = 0
            for q in range(n1):
                j = cols[q]
                neigh = (acc[j] - weights[landuse[i, j]]) * inv
                b = suitability[i, j] * (floor + keep * neigh)
                m = _draw_bits(key, row0 + j)
                cols[n2] = j
                bs2[n2] = b
                draws[n2] = m
                n2 += not (b * table[_bin(m)] < level)
            # Sweep 3: the exact potential, as urban_potential computes it.
            for q in range(n2):
                p = np.float32(bs2[q] * perturbation(_bits_to_uniform(draws[q]), alpha))
                k = _order_key(p)
                if k < _SIGN and k >= level_key:
                    if pos < end:
                        kept_index[pos] = row0 + cols[q]
                        kept_key[pos] = k
                        pos += 1
                    found += 1
        counts[c] = found


@jit_parallel
def _list_keys(
    landuse: np.ndarray,
    weights: np.ndarray,
    radius: int,
    work: np.ndarray,
    suitability: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    cells: np.ndarray,
    keys: np.ndarray,
) -> None:
    """Order keys of the exact potentials of the candidate cells ``cells`` (flat)."""
    nx = landuse.shape[1]
    for k in prange(cells.size):
        i = cells[k] // nx
        j = cells[k] - i * nx
        p = _exact(landuse, weights, radius, work, suitability, floor, alpha, key, i, j)
        keys[k] = _order_key(p)


@jit
def _finish(
    n: int,
    base: np.ndarray,
    counts: np.ndarray,
    kept_index: np.ndarray,
    kept_key: np.ndarray,
    out: np.ndarray,
) -> None:
    """The top ``n`` of the kept cells by key, ties to the lower index, into ``out``
    ascending: ``select_top``'s two-level radix threshold over the kept cells only
    (keys >= 2**31, potentials < 0, take no part)."""
    nchunks = counts.size
    hist1 = np.zeros(32768, dtype=np.int64)
    for c in range(nchunks):
        for p in range(base[c], base[c] + counts[c]):
            if kept_key[p] < _SIGN:
                hist1[kept_key[p] >> 16] += 1
    above = 0
    b1 = 32767
    while above + hist1[b1] < n:
        above += hist1[b1]
        b1 -= 1
    hist2 = np.zeros(65536, dtype=np.int64)
    for c in range(nchunks):
        for p in range(base[c], base[c] + counts[c]):
            k = kept_key[p]
            if k < _SIGN and (k >> 16) == b1:
                hist2[k & 0xFFFF] += 1
    b2 = 65535
    while above + hist2[b2] < n:
        above += hist2[b2]
        b2 -= 1
    threshold = np.uint32((b1 << 16) | b2)
    ties_left = n - above
    pos = 0
    for c in range(nchunks):
        for p in range(base[c], base[c] + counts[c]):
            k = kept_key[p]
            if k >= _SIGN:
                continue
            if k > threshold:
                out[pos] = kept_index[p]
                pos += 1
            elif k == threshold and ties_left > 0:
                out[pos] = kept_index[p]
                pos += 1
                ties_left -= 1


def _plain(
    landuse: np.ndarray,
    weights: np.ndarray,
    radius: int,
    work: np.ndarray,
    suitability: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    n: int,
    out: np.ndarray,
) -> None:
    potential = np.empty(landuse.shape, dtype=np.float32)
    potential_from_row_sums(
        landuse, weights, radius, work, suitability, candidate, floor, alpha, key, potential
    )
    select_top(potential, n, out)


def select_urban(
    landuse: np.ndarray,
    weights: np.ndarray,
    radius: int,
    work: np.ndarray,
    suitability: np.ndarray,
    candidate: np.ndarray,
    floor: float,
    alpha: float,
    key: np.uint64,
    n: int,
    out: np.ndarray,
    *,
    stride: int = _STRIDE,
    min_cells: int = _MIN_CELLS,
    z: float = _Z,
    room: float = 2.0,
    cells: np.ndarray | None = None,
    list_share: int = _LIST_SHARE,
) -> None:
    """Write into ``out[:n]`` what ``select_top`` writes for the potential that
    ``urban_potential`` computes from ``neighborhood_effect(landuse, weights, radius)``.

    ``work`` must hold ``row_sums(landuse, weights, radius)`` (it is read, not written);
    ``candidate`` is the mask of cells that may be chosen. The caller guarantees that
    at least ``n`` cells have a potential >= 0, as for ``select_top``.

    ``cells``, when given, must be the flat indices of the nonzero cells of
    ``candidate``, ascending. When they are few (a planning boundary leaves a small part
    of the grid open), only they are visited, each given its exact potential: the cost
    is then in proportion to the candidates, not to the grid.

    The other keyword arguments tune speed, never the result (the tests turn them to
    reach every path): the sample's stride, the grid size below which every potential
    is computed, the sample's margin in standard deviations, the room per chunk, and
    the share of candidates (one cell in ``list_share``) below which ``cells`` is used.
    """
    if n <= 0:
        return
    ny, nx = landuse.shape
    size = ny * nx
    floor, alpha = float(floor), float(alpha)
    if cells is not None and cells.size * list_share <= size:
        keys = np.empty(cells.size, dtype=np.uint32)
        _list_keys(landuse, weights, radius, work, suitability, floor, alpha, key, cells, keys)
        if np.count_nonzero(keys < _SIGN) < n:
            raise ValueError("select_urban: fewer candidate cells than n")  # as select_top
        _finish(n, np.zeros(1, np.int64), np.array([cells.size]), cells, keys, out)
        return
    args = (landuse, weights, radius, work, suitability, candidate, floor, alpha, key)
    if size < min_cells:
        _plain(*args, n, out)
        return
    # Runs of _RUN cells, one run per stride × _RUN cells: one cache line of each array
    # serves a run, where single cells would each cost their own misses.
    starts = np.arange(0, size, stride * _RUN, dtype=np.int64)
    flat = (starts[:, None] + np.arange(_RUN, dtype=np.int64)).reshape(-1)
    flat = flat[flat < size]
    sample = np.empty(flat.size, dtype=np.uint32)
    _sample(*args, flat, sample)
    eligible = sample[sample < _SIGN]
    # Expected sample cells at or above the n-th potential, and a rank a few standard
    # deviations lower, so that at least n cells of the grid reach it.
    mu = n * sample.size / size
    rank = max(1, math.ceil(mu + z * math.sqrt(mu) + 2))
    table = noise_table(alpha)
    nchunks = min(ny, _NCHUNKS)
    rows = np.array([c * ny // nchunks for c in range(nchunks + 1)], dtype=np.int64)
    chunk_of_sample = np.searchsorted(rows, flat // nx, side="right") - 1
    while rank <= eligible.size:
        level_key = np.partition(eligible, eligible.size - rank)[eligible.size - rank]
        level = float(np.uint32(level_key).view(np.float32))
        if not (1e-30 <= level < math.inf):
            break  # a level of 0 or inf prunes nothing; subnormals void the bound's proof
        # Room per chunk from the sample's share of kept cells in it, with slack: a
        # chunk that overflows is counted, and the pass is rerun with the exact room.
        in_chunk = np.bincount(
            chunk_of_sample[(sample >= level_key) & (sample < _SIGN)], minlength=nchunks
        )
        cap = (room * stride * (in_chunk + 2 * np.sqrt(in_chunk + 1)) + 256 * room).astype(np.int64)
        base = np.zeros(nchunks, dtype=np.int64)
        base[1:] = np.cumsum(cap)[:-1]
        kept_index = np.empty(int(cap.sum()), dtype=np.int64)
        kept_key = np.empty(kept_index.size, dtype=np.uint32)
        counts = np.zeros(nchunks, dtype=np.int64)
        todo = np.arange(nchunks)
        ranked = (table, level, np.uint32(level_key), rows)
        _survivors(*args, *ranked, todo, base, cap, kept_index, kept_key, counts)
        over = np.flatnonzero(counts > cap)
        if over.size:
            # Rerun only the chunks that overflowed, with room for what they counted.
            fits = counts <= cap
            cap2 = counts.copy()
            base2 = np.zeros(nchunks, dtype=np.int64)
            base2[1:] = np.cumsum(cap2)[:-1]
            index2 = np.empty(int(cap2.sum()), dtype=np.int64)
            key2 = np.empty(index2.size, dtype=np.uint32)
            for c in np.flatnonzero(fits):
                index2[base2[c] : base2[c] + counts[c]] = kept_index[base[c] : base[c] + counts[c]]
                key2[base2[c] : base2[c] + counts[c]] = kept_key[base[c] : base[c] + counts[c]]
            _survivors(*args, *ranked, over, base2, cap2, index2, key2, counts)
            base, kept_index, kept_key = base2, index2, key2
        if counts.sum() >= n:
            _finish(n, base, counts, kept_index, kept_key, out)
            return
        rank *= 4  # too few reached the level: a lower one
    _plain(*args, n, out)
