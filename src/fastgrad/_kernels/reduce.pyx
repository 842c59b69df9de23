"""Reductions sum, mean, max, min over one, several or all dims.

A reduction over one dim (or a run of adjacent dims) sees the input as (outer, R, inner)
and produces (outer, inner). max/min route the gradient to the extreme elements; ties
split it evenly.
"""
from cython cimport floating
cimport cython
cimport numpy as cnp
import builtins
import numpy as np

from fastgrad._tape cimport Node
from fastgrad._tensor cimport version_of
from fastgrad._tensor cimport Tensor, wrap, attach, recording, as_tensor, contiguous, is_float

cnp.import_array()

cdef enum:
    SUM, MEAN, MAX, MIN


cdef floating sum_run(const floating* x, Py_ssize_t n) noexcept nogil:
    """Sum of n contiguous values: blocks of 8 independent partial sums (vectorizable),
    combined pairwise over blocks of 1024, so rounding error grows like log(n)."""
    cdef Py_ssize_t i, j, half
    cdef floating acc[8]
    cdef floating total
    if n > 1024:
        half = (n // 2 + 7) // 8 * 8
        return sum_run(x, half) + sum_run(x + half, n - half)
    for j in range(8):
        acc[j] = 0
    i = 0
    while i + 8 <= n:
        for j in range(8):
            acc[j] += x[i + j]
        i += 8
    total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    while i < n:
        total += x[i]
        i += 1
    return total


cdef void reduce_fwd(int op, Py_ssize_t n_outer, Py_ssize_t n_red, Py_ssize_t n_inner,
                     const floating* x, floating* out) noexcept nogil:
    """out[o, i] = reduce_r x[o, r, i] (sum, mean, max or min)."""
    cdef Py_ssize_t o, r, i
    cdef const floating* px
    cdef floating* po
    if n_inner == 1 and (op == SUM or op == MEAN):
        for o in range(n_outer):
            out[o] = sum_run(x + o * n_red, n_red)
            if op == MEAN:
                out[o] /= n_red
        return
    for o in range(n_outer):
        po = out + o * n_inner
        px = x + o * n_red * n_inner
        for i in range(n_inner):
            po[i] = px[i]
        for r in range(1, n_red):
            px = x + (o * n_red + r) * n_inner
            if op == SUM or op == MEAN:
                for i in range(n_inner):
                    po[i] += px[i]
            elif op == MAX:
                for i in range(n_inner):
                    if px[i] > po[i]: po[i] = px[i]
            else:
                for i in range(n_inner):
                    if px[i] < po[i]: po[i] = px[i]
        if op == MEAN:
            for i in range(n_inner):
                po[i] /= n_red


cdef void reduce_bwd(int op, Py_ssize_t n_outer, Py_ssize_t n_red, Py_ssize_t n_inner,
                     const floating* g, const floating* x, const floating* out,
                     floating* gx) noexcept nogil:
    """gx[o, r, i] += g[o, i] (sum), g/R (mean), or g/ties where x == out (max/min)."""
    cdef Py_ssize_t o, r, i, ties
    cdef floating scale = 1
    if op == MEAN:
        scale = 1.0 / n_red
    for o in range(n_outer):
        for i in range(n_inner):
            if op == SUM or op == MEAN:
                for r in range(n_red):
                    gx[(o * n_red + r) * n_inner + i] += g[o * n_inner + i] * scale
            else:
                ties = 0
                for r in range(n_red):
                    ties += x[(o * n_red + r) * n_inner + i] == out[o * n_inner + i]
                for r in range(n_red):
                    if x[(o * n_red + r) * n_inner + i] == out[o * n_inner + i]:
                        gx[(o * n_red + r) * n_inner + i] += g[o * n_inner + i] / ties


@cython.no_gc
cdef class ReduceBackward(Node):
    cdef int op
    cdef Py_ssize_t n_outer, n_red, n_inner
    cdef cnp.ndarray x, out

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is None:
            return
        cdef cnp.ndarray gx = target.grad_buffer()
        g = np.asarray(g, order="C")
        cdef void* px = cnp.PyArray_DATA(self.x if self.x is not None else g)
        cdef void* po = cnp.PyArray_DATA(self.out if self.out is not None else g)
        if cnp.PyArray_TYPE(gx) == cnp.NPY_DOUBLE:
            with nogil:
                reduce_bwd(self.op, self.n_outer, self.n_red, self.n_inner,
                           <const double*>cnp.PyArray_DATA(g), <const double*>px,
                           <const double*>po, <double*>cnp.PyArray_DATA(gx))
        else:
            with nogil:
                reduce_bwd(self.op, self.n_outer, self.n_red, self.n_inner,
                           <const float*>cnp.PyArray_DATA(g), <const float*>px,
                           <const float*>po, <float*>cnp.PyArray_DATA(gx))

    cdef void release(self):
        Node.release(self)
        self.x = None
        self.out = None

    def name(self):
        return ("SumBackward", "MeanBackward", "MaxBackward", "MinBackward")[self.op]


cdef tuple NAMES = ("sum", "mean", "max", "min")


cdef tuple normalize_dims(str name, object dim, int nd, tuple shape):
    if dim is None or (not isinstance(dim, (int, np.integer)) and len(dim) == 0):
        return tuple(range(nd))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)) or not -builtins.max(nd, 1) <= d < builtins.max(nd, 1):
            raise IndexError(f"{name}: dim {d} is out of range for a tensor of shape {shape}")
        out.append(int(d) % builtins.max(nd, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: dim {dim} repeats a dimension")
    return tuple(sorted(out))


cdef Tensor reduce_run(int op, Tensor a, Py_ssize_t lo, Py_ssize_t hi):
    """Reduce the adjacent dims [lo, hi) of ``a`` (keepdim=False)."""
    cdef cnp.ndarray x = contiguous(a)
    cdef tuple shape = (<object>x).shape
    cdef Py_ssize_t n_outer = 1, n_red = 1, n_inner = 1, d
    for d in range(lo):
        n_outer *= shape[d]
    for d in range(lo, hi):
        n_red *= shape[d]
    for d in range(hi, len(shape)):
        n_inner *= shape[d]
    if n_red == 0 and op >= MAX:
        raise ValueError(f"{NAMES[op]}: cannot reduce an empty dimension (shape {shape})")
    cdef cnp.ndarray out = np.empty(shape[:lo] + shape[hi:], dtype=x.dtype)
    if n_red == 0:
        out[...] = 0 if op == SUM else np.nan
    elif cnp.PyArray_TYPE(x) == cnp.NPY_DOUBLE:
        with nogil:
            reduce_fwd(op, n_outer, n_red, n_inner, <const double*>cnp.PyArray_DATA(x),
                       <double*>cnp.PyArray_DATA(out))
    else:
        with nogil:
            reduce_fwd(op, n_outer, n_red, n_inner, <const float*>cnp.PyArray_DATA(x),
                       <float*>cnp.PyArray_DATA(out))
    if not recording(a):
        return wrap(out)
    cdef ReduceBackward node = ReduceBackward.__new__(ReduceBackward)
    node.op = op
    node.n_outer, node.n_red, node.n_inner = n_outer, n_red, n_inner
    if op >= MAX:
        node.x = x
        node.out = out
        node.save_version(version_of(a))
    return attach(out, node, (a,))


cdef object reduce(int op, object x, object dim, bint keepdim, object axis, object keepdims):
    cdef str name = NAMES[op]
    cdef Tensor a = as_tensor(x, name)
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{name}: give dim or axis, not both")
        dim = axis
    if keepdims is not None:
        keepdim = keepdims
    cdef tuple shape = (<object>a._data).shape
    cdef int nd = len(shape)
    cdef tuple dims = normalize_dims(name, dim, nd, shape)
    if not is_float(a._data):
        fn = (np.sum, np.mean, np.max, np.min)[op]
        return wrap(np.asarray(fn(a._data, axis=dims if nd else None, keepdims=keepdim)))
    cdef Tensor result = a
    if nd == 0:
        result = reduce_run(op, a, 0, 0)
    elif op <= MEAN or len(dims) == 1 or dims == tuple(range(dims[0], dims[-1] + 1)):
        runs = []
        for d in dims:
            if runs and runs[-1][1] == d:
                runs[-1][1] = d + 1
            else:
                runs.append([d, d + 1])
        for lo, hi in reversed(runs):         # a mean of equal-sized means is the mean
            result = reduce_run(op, result, lo, hi)
    else:
        for d in reversed(dims):
            result = reduce_run(op, result, d, d + 1)
    if keepdim and nd:
        from fastgrad._kernels.shape import reshape
        result = reshape(result, tuple(1 if d in dims else s for d, s in enumerate(shape)))
    return result


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Sum over ``dim`` (an int, a tuple, or None for all dims)."""
    return reduce(SUM, x, dim, keepdim, axis, keepdims)

def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Mean over ``dim`` (an int, a tuple, or None for all dims)."""
    return reduce(MEAN, x, dim, keepdim, axis, keepdims)

def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Maximum over ``dim``; the gradient goes to the maxima, split evenly between ties.

    Unlike ``torch.max(x, dim)``, returns only the values (use ``argmax`` for indices).
    """
    return reduce(MAX, x, dim, keepdim, axis, keepdims)

def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Minimum over ``dim``; the gradient goes to the minima, split evenly between ties."""
    return reduce(MIN, x, dim, keepdim, axis, keepdims)

def argmax(x, dim=None, keepdim=False):
    """Indices of the maxima (int64, not differentiable)."""
    cdef Tensor a = as_tensor(x, "argmax")
    return wrap(np.asarray(np.argmax(a._data, axis=dim, keepdims=keepdim)))

def argmin(x, dim=None, keepdim=False):
    """Indices of the minima (int64, not differentiable)."""
    cdef Tensor a = as_tensor(x, "argmin")
    return wrap(np.asarray(np.argmin(a._data, axis=dim, keepdims=keepdim)))
