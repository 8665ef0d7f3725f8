"""Exact nearest passages over the saved vectors, reading a half of each vector per question beside a large library.

Dense search over the saved vectors (``keyword_index._save_vectors``) reads every passage's vector: 139 MB for the
law library's 67,853 passages, 14–16 ms a question on this machine, bound by memory, not arithmetic. The vectors'
leading principal directions carry most of their length (the first 256 of 512: 96 %), so a first pass over those
coordinates alone, with a bound on what the other coordinates can add (Cauchy–Schwarz: ``|q_r·v_r| ≤ |q_r| |v_r|``,
both unit vectors), leaves the few hundred rows that can still be among the best; only they are scored in full. The
answer is the full search's, not an approximation (docs/benchmarks.md, 'Warm latency beside the library').
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

COARSE = "vectors-coarse.npy"  # each passage's coordinates on the leading directions, in row order
#: those directions (dimension × coordinates, orthonormal columns), and each row's length outside them
BASIS = "vectors-basis.npz"
_BATCH = 4096  # rows read at a time while writing: the ingest's peak memory does not grow by the matrix
#: Added to the bound: the full scores are summed in another order than the bound's terms, so a row exactly at the
#: threshold could otherwise be dropped by float rounding.
_SLACK = 1e-5
#: Gathering scattered rows costs about this many times reading them in order: past 1 in 8 rows, one full pass.
FULL_PASS_SHARE = 8


def write_coarse(vectors: np.ndarray, folder: Path, dims: int) -> None:
    """The leading ``dims`` directions of ``vectors`` (unit rows) and every row's coordinates on them, beside them."""
    n, d = vectors.shape
    moments = np.zeros((d, d), dtype=np.float64)
    for a in range(0, n, _BATCH):
        part = np.asarray(vectors[a : a + _BATCH], dtype=np.float32)
        moments += part.T @ part
    _, directions = np.linalg.eigh(moments)  # ascending: the last columns are the leading directions
    basis = np.ascontiguousarray(directions[:, ::-1][:, :dims], dtype=np.float32)
    rest = np.empty(n, dtype=np.float32)
    tmp = folder / f"{COARSE}.tmp"
    try:
        with open(tmp, "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, dims)})
            for a in range(0, n, _BATCH):
                part = np.asarray(vectors[a : a + _BATCH], dtype=np.float32) @ basis
                rest[a : a + len(part)] = np.sqrt(np.maximum(1.0 - np.einsum("ij,ij->i", part, part), 0.0))
                f.write(part.astype("<f4").tobytes())
        np.savez(folder / BASIS, basis=basis, rest=rest)
        os.replace(tmp, folder / COARSE)
    finally:
        tmp.unlink(missing_ok=True)


class CoarseVectors:
    """The saved coordinates on the leading directions, and the search that uses them to skip most full rows."""

    def __init__(self, basis: np.ndarray, coarse: np.ndarray, rest: np.ndarray) -> None:
        #: the leading directions; each row's coordinates on them; each row's length outside them (the bound's factor)
        self.basis, self.coarse, self.rest = basis, coarse, rest

    @classmethod
    def open(cls, folder: Path, rows: int, dim: int) -> CoarseVectors | None:
        try:
            with np.load(folder / BASIS) as saved:
                basis, rest = saved["basis"], saved["rest"]
            coarse = np.load(folder / COARSE, mmap_mode="r")
        except (OSError, ValueError, KeyError):
            return None
        if basis.shape != (dim, coarse.shape[1]) or coarse.shape[0] != rows or rest.shape != (rows,):
            return None
        return cls(basis, coarse, rest)

    def scores(self, vectors: np.ndarray, q: np.ndarray, served: np.ndarray | None, pools: list[np.ndarray | None],
               n: int, shortlist: int) -> np.ndarray:
        """Full cosines of every row that can be among the best ``n`` served rows of each pool, -inf elsewhere.

        Per pool: the ``shortlist`` rows best on the leading coordinates are scored in full; the ``n``-th best of
        those is a score the pool's top ``n`` reach, so a row whose bound stays below it cannot be among them.
        """
        qc = q @ self.basis
        q_rest = float(np.sqrt(max(1.0 - float(qc @ qc), 0.0)))
        coarse = self.coarse @ qc
        if served is not None:
            coarse = np.where(served, coarse, -np.inf)
        bound = coarse + (q_rest * self.rest + _SLACK)
        keep = []
        for pool in pools:
            c = coarse if pool is None else np.where(pool, coarse, -np.inf)
            live = int(np.isfinite(c).sum())
            if live <= max(shortlist, n):  # a small pool: every row in full
                keep.append(np.flatnonzero(np.isfinite(c)))
            else:
                short = np.argpartition(-c, shortlist)[:shortlist]
                full = vectors[np.sort(short)] @ q
                threshold = np.partition(full, len(full) - n)[len(full) - n]
                keep.append(np.flatnonzero(np.isfinite(c) & (bound >= threshold)))
        rows = np.concatenate(keep)
        if len(rows) * FULL_PASS_SHARE > len(coarse):
            # no row stands out (红烧肉怎么做 beside a law library: 20,000 rows passed, 52 ms to gather): one full pass
            full = vectors @ q
            return full if served is None else np.where(served, full, -np.inf)
        out = np.full(len(coarse), -np.inf, dtype=np.float32)
        out[rows] = vectors[rows] @ q
        return out
