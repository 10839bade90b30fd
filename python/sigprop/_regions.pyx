# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# distutils: language = c++
"""Compiled walk over the activation regions of a ReLU network along a segment.

Internal: the public function is ``sigprop.papers.milkert.regions.count_linear_regions``,
which validates the arguments, calls :func:`walk` and merges neighbouring
pieces with equal affine maps.

The network is x -> W_L relu(... relu(W_1 x + b_1) ...) + b_L on the path
x(t) = start + t * direction, t in [0, 1]. Every neuron's input is affine in t on
each current piece, so its ReLU switches at most once per piece, at
t* = -alpha / beta. The walk splits the pieces at those roots layer by layer and
decides each neuron's state at the midpoint of each new piece.
"""

from libcpp.algorithm cimport sort
from libcpp.vector cimport vector

import numpy as np


def walk(list weights, list biases, const double[::1] start, const double[::1] direction,
         double split_tol, double t_atol):
    """Activation pieces of the network along the path; outputs affine in t per piece.

    Parameters
    ----------
    weights, biases : list of C-contiguous float64 arrays
        ``weights[l]`` has shape (fan_out, fan_in); ``biases[l]`` shape (fan_out,).
        Validated by the caller.
    start, direction : float64 arrays of length fan_in of the first layer.
    split_tol, t_atol : float
        A root closer than ``max(split_tol * width, t_atol)`` to either end of its
        piece (or to the previous root) does not split it.

    Returns
    -------
    t : ndarray, shape (P + 1,)
        Piece boundaries, t[0] = 0 and t[P] = 1.
    intercept, slope : ndarray, shape (P, n_out)
        The network output on piece j is ``intercept[j] + slope[j] * t``.
    """
    cdef Py_ssize_t n_layers = len(weights)
    cdef vector[double] ts, new_ts, roots
    cdef vector[double] pa, pb, new_pa, new_pb, za, zb
    cdef Py_ssize_t n_cur = start.shape[0]
    cdef Py_ssize_t n_pieces = 1
    cdef Py_ssize_t layer, j, i, k, m, n_roots
    cdef Py_ssize_t n_out = n_cur  # reassigned per layer; weights is never empty
    cdef const double[:, ::1] W
    cdef const double[::1] b
    cdef double acc_a, acc_b, tl, tr, width, snap, r, lo, hi, last, u, v, mid, w_ik

    ts.push_back(0.0)
    ts.push_back(1.0)
    for k in range(n_cur):
        pa.push_back(start[k])
        pb.push_back(direction[k])

    for layer in range(n_layers):
        W = weights[layer]
        b = biases[layer]
        n_out = W.shape[0]
        za.assign(n_pieces * n_out, 0.0)
        zb.assign(n_pieces * n_out, 0.0)
        with nogil:
            for j in range(n_pieces):
                for i in range(n_out):
                    acc_a = b[i]
                    acc_b = 0.0
                    for k in range(n_cur):
                        w_ik = W[i, k]
                        acc_a = acc_a + w_ik * pa[j * n_cur + k]
                        acc_b = acc_b + w_ik * pb[j * n_cur + k]
                    za[j * n_out + i] = acc_a
                    zb[j * n_out + i] = acc_b
        if layer == n_layers - 1:
            break

        new_ts.clear()
        new_pa.clear()
        new_pb.clear()
        new_ts.push_back(ts[0])
        with nogil:
            for j in range(n_pieces):
                tl = ts[j]
                tr = ts[j + 1]
                width = tr - tl
                snap = split_tol * width
                if snap < t_atol:
                    snap = t_atol
                lo = tl + snap
                hi = tr - snap
                roots.clear()
                for i in range(n_out):
                    if zb[j * n_out + i] != 0.0:
                        r = -za[j * n_out + i] / zb[j * n_out + i]
                        if lo < r < hi:
                            roots.push_back(r)
                sort(roots.begin(), roots.end())
                roots.push_back(tr)
                n_roots = roots.size()
                u = tl
                last = tl
                for m in range(n_roots):
                    v = roots[m]
                    if m < n_roots - 1 and v - last <= snap:
                        continue  # coincident roots: one split
                    last = v
                    mid = 0.5 * (u + v)
                    for i in range(n_out):
                        if za[j * n_out + i] + zb[j * n_out + i] * mid > 0.0:
                            new_pa.push_back(za[j * n_out + i])
                            new_pb.push_back(zb[j * n_out + i])
                        else:
                            new_pa.push_back(0.0)
                            new_pb.push_back(0.0)
                    new_ts.push_back(v)
                    u = v
        ts.swap(new_ts)
        pa.swap(new_pa)
        pb.swap(new_pb)
        n_pieces = ts.size() - 1
        n_cur = n_out

    t_out = np.empty(n_pieces + 1, dtype=np.float64)
    a_out = np.empty((n_pieces, n_out), dtype=np.float64)
    b_out = np.empty((n_pieces, n_out), dtype=np.float64)
    cdef double[::1] t_view = t_out
    cdef double[:, ::1] a_view = a_out
    cdef double[:, ::1] b_view = b_out
    for j in range(n_pieces + 1):
        t_view[j] = ts[j]
    for j in range(n_pieces):
        for i in range(n_out):
            a_view[j, i] = za[j * n_out + i]
            b_view[j, i] = zb[j * n_out + i]
    return t_out, a_out, b_out
