"""Bin event lists into square counts images: integer pixel indices and one bincount per block.

Stamp pixel (row j, column i) counts the events with emin <= E <= emax and
x0 + i*w <= x < x0 + (i+1)*w, y0 + j*w <= y < y0 + (j+1)*w, where (x0, y0) is the field's
lower-left corner and w its pixel size; as numpy.histogram2d, the field's upper edges belong
to the last column and row. Row j is y, column i is x: image[j, i], so that
`imshow(image, origin="lower")` shows the sky as the detector sees it.

The events are read in blocks of at most `block_events` rows (or one stored chunk, where the
writer made chunks longer than that): a worker's memory is bounded by the block, whatever the
number of events of a cluster.

`bin_events` is one pass over the events, compiled with numba: per tile of TILE events, a loop
that the compiler vectorises computes each event's pixel index, then the tile's indices are added into
four interleaved int32 copies of the image (consecutive events often hit one pixel; four copies break
that dependency chain, and int32 keeps them in the L2 cache). Indices are unsigned, so that numba adds
no wrap-around of negative indices, which kept the loads from being vectorised. For float32 events (the
store's) on a field whose float32 grid is exact (`float32_grid`, checked once per field; it holds for the
fields the stamps stage makes), the index is a float32 product, eight events per AVX2 instruction, and
the kernel ran at 1.5x the float64 one (benchmarks/bench_stamps.py); otherwise the index is the
reference's float64 division and range tests. Either way the result is the reference's, bit for bit.
`bin_events_numpy` is the reference it is tested against: the same arithmetic in numpy, in
sub-blocks of SUB_BLOCK events whose temporaries stay in cache, one bincount per sub-block.
"""
from __future__ import annotations

import threading
from functools import cached_property
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Iterable

import numba
import numpy as np

SUB_BLOCK = 1 << 16  # events per vectorised pass of the reference: float64 temporaries of 512 KiB stay in cache
TILE = 4096  # events per tile of the compiled kernel: its int32 indices (16 KiB) stay in L1
COPIES = 4  # interleaved image copies of the compiled kernel (its scatter loop is unrolled for four)
PIECE = 1 << 30  # events per call of the compiled kernel: its int32 counts cannot overflow


class Field:
    """A square field of `npix` x `npix` stamp pixels, lower-left corner (x0, y0), pixel size w
    (all in detector pixels)."""

    def __init__(self, x0: float, y0: float, width: float, npix: int):
        if not width > 0:
            raise ValueError(f"field width must be positive, got {width}")
        self.x0, self.y0, self.npix = float(x0), float(y0), int(npix)
        self.width = float(width)
        self.pixel = self.width / self.npix

    @classmethod
    def centred(cls, centre_pix: Iterable[float], width: float, npix: int) -> "Field":
        cx, cy = (float(c) for c in centre_pix)
        return cls(cx - width / 2, cy - width / 2, width, npix)

    @cached_property
    def grids32(self) -> tuple | None:
        """The float32 grids of `_bin_kernel32` along x and y, or None where either is not exact (float32_grid)."""
        gx, gy = float32_grid(self.x0, self.pixel, self.npix), float32_grid(self.y0, self.pixel, self.npix)
        return None if gx is None or gy is None else (gx, gy)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel edges along x and y, as numpy.histogram2d would take them."""
        k = np.arange(self.npix + 1)
        return self.x0 + k * self.pixel, self.y0 + k * self.pixel


def bin_events(x: np.ndarray, y: np.ndarray, energy: np.ndarray, field: Field, emin_kev: float,
               emax_kev: float, out: np.ndarray | None = None) -> np.ndarray:
    """Add the events in the band emin..emax (inclusive) to `out` and return it.

    Parameters
    ----------
    x, y : numpy.ndarray
        Event positions in detector pixels, pixel centres at i + 0.5 (float32 or float64).
    energy : numpy.ndarray
        Event energies in keV; the band edges are compared in this array's dtype, as numpy
        compares an array with a Python float.
    field : Field
        The stamp's field and pixel grid.
    emin_kev, emax_kev : float
        The band, keV, both edges included.
    out : numpy.ndarray, optional
        An int64 [npix, npix] image to add to.

    Returns
    -------
    numpy.ndarray
        int64 [npix, npix] counts, row y, column x; equal, bit for bit, to `bin_events_numpy`.
    """
    npix = field.npix
    x, y, energy = np.ascontiguousarray(x), np.ascontiguousarray(y), np.ascontiguousarray(energy)
    if not (len(x) == len(y) == len(energy)):
        raise ValueError(f"x, y and energy differ in length: {len(x)}, {len(y)}, {len(energy)}")
    band = energy.dtype.type
    # int32 copies (4 x 64 KiB for 128 x 128) stay in the core's L2 cache, where int64 ones did not; each
    # call adds at most PIECE events to them, so that no count can overflow
    image = np.zeros((npix, npix), np.int64) if out is None else out
    grids = field.grids32 if x.dtype == y.dtype == np.float32 else None
    copies, total = _workspace(npix)
    for lo in range(0, len(x), PIECE):
        copies.fill(0)  # the last column takes what is dropped
        if grids is not None:  # float32 events on a field whose float32 grid is exact: the faster kernel
            _bin_kernel32(x[lo:lo + PIECE], y[lo:lo + PIECE], energy[lo:lo + PIECE], *grids, npix, band(emin_kev),
                          band(emax_kev), copies)
        else:
            _bin_kernel(x[lo:lo + PIECE], y[lo:lo + PIECE], energy[lo:lo + PIECE], field.x0, field.y0, field.pixel,
                        npix, band(emin_kev), band(emax_kev), copies)
        np.sum(copies[:, :-1], axis=0, dtype=np.int64, out=total)
        np.add(image, total.reshape(npix, npix), out=image)
    return image


def _workspace(npix: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's image copies and their int64 total, reused call after call: malloc maps and unmaps new
    arrays of this size on each call; with the reader of bin_projections reusing its arrays too, binning from
    the store went from 0.45 to 0.56 of the kernel's rate (benchmarks/bench_stamps.py, README)."""
    spaces = _THREADS.__dict__.setdefault("workspaces", {})
    if npix not in spaces:
        spaces[npix] = (np.zeros((COPIES, npix * npix + 1), np.int32), np.zeros(npix * npix, np.int64))
    return spaces[npix]


@numba.njit(inline="always", boundscheck=False)
def _scatter(flat, m, c0, c1, c2, c3):  # pragma: no cover - compiled
    """Count flat[:m] into the four copies in turn, unrolled: no chain of increments to one address."""
    j = 0
    while j + 4 <= m:
        c0[flat[j]] += 1
        c1[flat[j + 1]] += 1
        c2[flat[j + 2]] += 1
        c3[flat[j + 3]] += 1
        j += 4
    while j < m:
        c0[flat[j]] += 1
        j += 1


@numba.njit(nogil=True, boundscheck=False, error_model="numpy")
def _bin_kernel(x, y, energy, x0, y0, pixel, npix, emin, emax, copies):  # pragma: no cover - compiled
    """Count events into copies[k, row * npix + column] (k = event number mod COPIES within a tile); events
    outside the field or band go to the last column. The arithmetic is _flat_indices', event by event."""
    size = float(npix)
    dump = npix * npix
    # unsigned indices throughout: numba wraps a signed index that may be negative (a shift and a mask per
    # access), which turned the loads below into one-by-one gathers and cost a third of the rate
    flat = np.empty(TILE, np.uint32)
    c0, c1, c2, c3 = copies[0], copies[1], copies[2], copies[3]
    n = x.shape[0]
    for lo in range(0, n, TILE):
        m = min(TILE, n - lo)
        xs, ys, es = x[lo:lo + m], y[lo:lo + m], energy[lo:lo + m]
        for j in range(m):  # vectorised: contiguous loads, no stores but flat[j]
            e = es[j]
            u = (np.float64(xs[j]) - x0) / pixel
            v = (np.float64(ys[j]) - y0) / pixel
            keep = (e >= emin) & (e <= emax) & (u >= 0.0) & (u <= size) & (v >= 0.0) & (v <= size)
            # clamped before the cast, so that NaN or far-away events never make an undefined cast
            column = np.int32(min(max(u, 0.0), size - 0.5))
            row = np.int32(min(max(v, 0.0), size - 0.5))
            flat[j] = np.uint32(row * npix + column) if keep else np.uint32(dump)
        _scatter(flat, m, c0, c1, c2, c3)


@numba.njit(inline="always")
def _column32(v, origin, inverse, last):  # pragma: no cover - compiled
    """The float32 column of coordinate v: what `float32_grid` checks, and what `_bin_kernel32` computes."""
    return np.int32(min(max((v - origin) * inverse, np.float32(0.0)), last))


@numba.njit(nogil=True, boundscheck=False)
def _columns32(values, origin, inverse, last):  # pragma: no cover - compiled
    out = np.empty(values.shape[0], np.int32)
    for j in range(values.shape[0]):
        out[j] = _column32(values[j], origin, inverse, last)
    return out


def float32_grid(origin: float, pixel: float, npix: int) -> tuple | None:
    """(origin, 1/pixel, lo, hi) in float32 such that, for every float32 coordinate v, lo <= v <= hi is the
    reference's range test (0 <= (v - origin) / pixel <= npix, in float64) and `_column32` its column; None
    where no such float32 grid holds.

    Both columns are non-decreasing functions of v, so they agree everywhere when the float32 one steps
    from k-1 to k at the same float32 value as the float64 one, for each inner edge k: 2 (npix - 1) values
    checked. The float64 column's steps are found by walking float32 values from origin + k * pixel. On the
    fields the stamps stage makes (centre at a whole or half detector pixel, 2400 pixels wide) the float32
    grid holds; elsewhere `bin_events` uses the float64 kernel."""
    up, down = np.float32(np.inf), np.float32(-np.inf)
    o, inverse, last = np.float32(origin), np.float32(1.0 / pixel), np.float32(npix - 0.5)

    def u(v):  # the reference's float64 arithmetic
        return (float(v) - origin) / pixel

    def first(k):  # the least float32 v with u(v) >= k, or None
        v = np.float32(origin + k * pixel)
        for _ in range(64):
            if not np.isfinite(v):
                return None
            if u(v) < k:
                v = np.nextafter(v, up)
            elif u(np.nextafter(v, down)) >= k:
                v = np.nextafter(v, down)
            else:
                return v
        return None

    if not (np.isfinite(o) and np.isfinite(inverse) and inverse > 0):
        return None
    steps = [first(k) for k in range(npix + 1)]
    if any(v is None for v in steps):
        return None
    lo, hi = steps[0], steps[npix]  # hi: the greatest float32 with u <= npix
    if u(hi) > npix:
        hi = np.nextafter(hi, down)
    while u(np.nextafter(hi, up)) <= npix:  # u == npix at a few values at most
        hi = np.nextafter(hi, up)
    inner = np.array(steps[1:npix], np.float32)
    below = np.nextafter(inner, down)
    k = np.arange(1, npix, dtype=np.int32)
    if not (np.array_equal(_columns32(inner, o, inverse, last), k)
            and np.array_equal(_columns32(below, o, inverse, last), k - 1)):
        return None
    return o, inverse, lo, hi


@numba.njit(nogil=True, boundscheck=False, error_model="numpy")
def _bin_kernel32(x, y, energy, gx, gy, npix, emin, emax, copies):  # pragma: no cover - compiled
    """`_bin_kernel` for float32 events on float32 grids (float32_grid): eight events per vector instruction
    where the float64 kernel computes four, and no division."""
    ox, ix, xlo, xhi = gx
    oy, iy, ylo, yhi = gy
    last = np.float32(npix - 0.5)
    dump = npix * npix
    flat = np.empty(TILE, np.uint32)
    c0, c1, c2, c3 = copies[0], copies[1], copies[2], copies[3]
    n = x.shape[0]
    for lo in range(0, n, TILE):
        m = min(TILE, n - lo)
        xs, ys, es = x[lo:lo + m], y[lo:lo + m], energy[lo:lo + m]
        for j in range(m):
            e, u, v = es[j], xs[j], ys[j]
            keep = (e >= emin) & (e <= emax) & (u >= xlo) & (u <= xhi) & (v >= ylo) & (v <= yhi)
            column = _column32(u, ox, ix, last)
            row = _column32(v, oy, iy, last)
            flat[j] = np.uint32(row * npix + column) if keep else np.uint32(dump)
        _scatter(flat, m, c0, c1, c2, c3)


def bin_events_numpy(x: np.ndarray, y: np.ndarray, energy: np.ndarray, field: Field, emin_kev: float,
                     emax_kev: float, out: np.ndarray | None = None) -> np.ndarray:
    """The reference of `bin_events` in numpy (same arguments, same result)."""
    npix = field.npix
    dump = npix * npix  # every event outside the field or band is counted here, then dropped
    counts = np.zeros(dump + 1, np.int64)
    for lo in range(0, len(x), SUB_BLOCK):
        hi = lo + SUB_BLOCK
        flat = _flat_indices(x[lo:hi], y[lo:hi], energy[lo:hi], field, emin_kev, emax_kev, dump)
        counts += np.bincount(flat, minlength=dump + 1)
    image = counts[:dump].reshape(npix, npix)
    return image if out is None else np.add(out, image, out=out)


def _flat_indices(x, y, energy, field: Field, emin: float, emax: float, dump: int) -> np.ndarray:
    """Row-major stamp pixel index of each event; `dump` for events outside the field or band."""
    npix = field.npix
    keep = energy >= emin
    keep &= energy <= emax
    u = np.subtract(x, field.x0, dtype=np.float64)
    u /= field.pixel  # a division, not a product with 1/w: events on an edge land on it exactly
    keep &= u >= 0
    keep &= u <= npix
    v = np.subtract(y, field.y0, dtype=np.float64)
    v /= field.pixel
    keep &= v >= 0
    keep &= v <= npix
    with np.errstate(invalid="ignore"):  # NaN or far-away events: cast to anything, then dumped
        ix = u.astype(np.intp)  # intp: what bincount takes without another conversion
        flat = v.astype(np.intp)
    np.minimum(ix, npix - 1, out=ix)  # the upper edge belongs to the last pixel
    np.minimum(flat, npix - 1, out=flat)
    flat *= npix
    flat += ix
    np.logical_not(keep, out=keep)
    np.putmask(flat, keep, dump)
    return flat


def bin_projections(x, y, energy, offsets: list[int], field: Field, emin_kev: float, emax_kev: float,
                    block_events: int) -> np.ndarray:
    """One image per projection ([P, npix, npix] int64) from (Zarr or numpy) event arrays whose rows
    offsets[p]:offsets[p+1] are projection p, reading each stored chunk once, a block at a time.

    A reader thread reads the next block while this one is binned (the kernel releases the GIL), so
    reading and binning overlap. The blocks are a quarter of block_events, rounded up to whole chunks
    (one chunk of the events layout), so that a halo of one block_events still overlaps its reading
    and binning; memory holds two blocks."""
    images = np.zeros((len(offsets) - 1, field.npix, field.npix), np.int64)
    blocks = read_blocks(x, offsets[0], offsets[-1], max(block_events // 4, 1))
    if not blocks:
        return images
    longest = max(hi - lo for lo, hi in blocks)
    buffers: list[list | None] = [None, None]  # two blocks' arrays, in turn: read into, where the reader can

    def read(k: int):
        lo, hi = blocks[k]
        if buffers[k % 2] is None:
            buffers[k % 2] = [np.empty(longest, a.dtype) if hasattr(a, "read_into") else None for a in (x, y, energy)]
        return lo, hi, *(a.read_into(lo, hi, into) if into is not None else np.asarray(a[lo:hi])
                         for a, into in zip((x, y, energy), buffers[k % 2]))

    reader = _reader_thread()
    pending = reader.submit(read, 0)
    try:
        for k in range(len(blocks)):
            lo, hi, xb, yb, eb = pending.result()
            if k + 1 < len(blocks):
                pending = reader.submit(read, k + 1)
            _bin_block(xb, yb, eb, lo, hi, offsets, field, emin_kev, emax_kev, images)
    finally:
        pending.cancel()
        wait([pending])  # nothing of this call still reads when it returns or raises
    return images


_THREADS = threading.local()


def _reader_thread():
    """The calling thread's own reader thread, started once: a halo of a few hundred thousand events is
    binned in about a millisecond, what starting a thread for it cost."""
    if getattr(_THREADS, "reader", None) is None:
        _THREADS.reader = ThreadPoolExecutor(1, thread_name_prefix="xraymass-read")
    return _THREADS.reader


def _bin_block(xb, yb, eb, lo: int, hi: int, offsets: list[int], field: Field, emin_kev: float, emax_kev: float,
               images: np.ndarray) -> None:
    """Add the block of rows lo:hi to the images of the projections it overlaps."""
    for p in range(len(offsets) - 1):
        a, b = max(offsets[p], lo), min(offsets[p + 1], hi)
        if a < b:
            bin_events(xb[a - lo:b - lo], yb[a - lo:b - lo], eb[a - lo:b - lo], field, emin_kev, emax_kev,
                       out=images[p])


def bin_projections_bands(x, y, energy, offsets: list[int], field: Field, bands: list, block_events: int) -> np.ndarray:
    """As bin_projections, one image per projection and band ([P, C, npix, npix] int64; bands [[emin, emax], ...]
    keV), reading each stored chunk once for all bands. A band is emin <= E < emax, the last one emin <= E <= emax
    (as the single band): an event on a shared edge is counted once, in the upper band."""
    images = np.zeros((len(offsets) - 1, len(bands), field.npix, field.npix), np.int64)
    for lo, hi in read_blocks(x, offsets[0], offsets[-1], block_events):
        xb, yb, eb = np.asarray(x[lo:hi]), np.asarray(y[lo:hi]), np.asarray(energy[lo:hi])
        edges = half_open(bands, eb.dtype)
        for p in range(len(offsets) - 1):
            a, b = max(offsets[p], lo), min(offsets[p + 1], hi)
            if a < b:
                for c, (emin_kev, emax_kev) in enumerate(edges):
                    bin_events(xb[a - lo:b - lo], yb[a - lo:b - lo], eb[a - lo:b - lo], field, float(emin_kev),
                               float(emax_kev), out=images[p, c])
    return images


def half_open(bands: list, dtype) -> list[tuple]:
    """Band edges for bin_events' inclusive test in the events' own precision: [emin, emax) for every band but
    the last, [emin, emax] for the last (numpy compares float32 energies with a Python float in float32)."""
    kind = np.dtype(dtype)
    if kind.kind != "f":
        kind = np.dtype(np.float64)
    out = []
    for c, (lo, hi) in enumerate(bands):
        top = kind.type(hi) if c == len(bands) - 1 else np.nextafter(kind.type(hi), kind.type(-np.inf))
        out.append((kind.type(lo), top))
    return out


def read_blocks(array, start: int, stop: int, block_events: int) -> list[tuple[int, int]]:
    """Row ranges covering start:stop, at most `block_events` rows each, cut at the array's chunk
    boundaries so that no chunk is decoded twice. A chunk longer than block_events is read whole:
    a worker then holds one chunk (the writer's choice) rather than one block."""
    chunk = int(getattr(array, "chunks", (block_events,))[0]) or block_events
    step = max(block_events // chunk, 1) * chunk
    first = start // step * step
    return [(max(lo, start), min(lo + step, stop)) for lo in range(first, stop, step)]
