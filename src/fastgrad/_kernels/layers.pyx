"""Layer ops: embedding (gather / scatter-add, optional row-sparse gradient), dropout
(inverted, seeded mask), linear (one gemm with the transpose flag + fused bias).
Forward and backward kernels side by side.
"""
from libc.stdint cimport int64_t
from cython cimport floating
cimport cython
cimport numpy as cnp
import numpy as np

from fastgrad._tape cimport Node, grad_enabled
from fastgrad._tensor cimport (Tensor, AccumulateGrad, wrap, attach, recording, recording2,
                               version_of, as_tensor, contiguous, is_float)
from fastgrad._kernels.blas cimport gemm

cnp.import_array()


# ----- kernels --------------------------------------------------------------------------
cdef void embedding_fwd(Py_ssize_t n, Py_ssize_t d, const int64_t* idx, const floating* w,
                        floating* out) noexcept nogil:
    """out[k, :] = w[idx[k], :]."""
    cdef Py_ssize_t k, j
    cdef const floating* row
    for k in range(n):
        row = w + idx[k] * d
        for j in range(d):
            out[k * d + j] = row[j]


cdef void embedding_bwd(Py_ssize_t n, Py_ssize_t d, const int64_t* idx, int64_t pad,
                        const floating* g, floating* gw) noexcept nogil:
    """gw[idx[k], :] += g[k, :] for idx[k] != pad (duplicates sum)."""
    cdef Py_ssize_t k, j
    cdef floating* row
    for k in range(n):
        if idx[k] == pad:
            continue
        row = gw + idx[k] * d
        for j in range(d):
            row[j] += g[k * d + j]


cdef void dropout_fwd(Py_ssize_t n, const floating* x, const double* u, double p, floating scale,
                      floating* out, unsigned char* mask) noexcept nogil:
    """mask = u >= p (kept with probability 1 - p);  out = x * scale where kept, else 0."""
    cdef Py_ssize_t i
    for i in range(n):
        mask[i] = u[i] >= p
        out[i] = x[i] * scale if mask[i] else 0


cdef void dropout_bwd(Py_ssize_t n, const floating* g, const unsigned char* mask, floating scale,
                      floating* gx) noexcept nogil:
    """gx += g * scale where kept."""
    cdef Py_ssize_t i
    for i in range(n):
        if mask[i]:
            gx[i] += g[i] * scale


cdef void bias_fill(Py_ssize_t m, Py_ssize_t n, const floating* b, floating* out) noexcept nogil:
    """out[i, :] = b (the linear output before gemm accumulates x @ W^T with beta = 1)."""
    cdef Py_ssize_t i, j
    for i in range(m):
        for j in range(n):
            out[i * n + j] = b[j]


cdef void zero_fill(Py_ssize_t n, floating* out) noexcept nogil:
    """out[i] = 0."""
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = 0


cdef void column_sums(Py_ssize_t m, Py_ssize_t n, const floating* g, floating* gb) noexcept nogil:
    """gb[j] += sum_i g[i, j]."""
    cdef Py_ssize_t i, j
    for i in range(m):
        for j in range(n):
            gb[j] += g[i * n + j]


cdef void linear_gemm(bint dbl, bint ta, bint tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      const void* a, Py_ssize_t lda, const void* b, Py_ssize_t ldb, double beta,
                      void* c) noexcept nogil:
    """Row-major C (m, n) = op(A) @ op(B) + beta * C, ldc = n."""
    if m == 0 or n == 0:
        return
    if dbl:
        gemm(ta, tb, m, n, k, <double>1.0, <const double*>a, lda, <const double*>b, ldb,
             <double>beta, <double*>c, n)
    else:
        gemm(ta, tb, m, n, k, <float>1.0, <const float*>a, lda, <const float*>b, ldb,
             <float>beta, <float*>c, n)


# ----- embedding ------------------------------------------------------------------------
@cython.no_gc
cdef class EmbeddingBackward(Node):
    cdef cnp.ndarray idx                # private int64 copy of the indices, flattened
    cdef Py_ssize_t d
    cdef int64_t pad                    # padding row (-1: none)
    cdef bint sparse                    # the weight is a leaf: give it a row-sparse gradient

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Py_ssize_t n = cnp.PyArray_SIZE(self.idx)
        cdef Node target = self.next[0]
        if target is None:
            return
        if self.sparse:
            keep = self.idx != self.pad
            (<AccumulateGrad>target).accumulate_sparse(self.idx[keep], g.reshape(n, self.d)[keep])
            return
        cdef cnp.ndarray gw = target.grad_buffer()
        cdef const int64_t* idx = <const int64_t*>cnp.PyArray_DATA(self.idx)
        if cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE:
            with nogil:
                embedding_bwd(n, self.d, idx, self.pad, <const double*>cnp.PyArray_DATA(g),
                              <double*>cnp.PyArray_DATA(gw))
        else:
            with nogil:
                embedding_bwd(n, self.d, idx, self.pad, <const float*>cnp.PyArray_DATA(g),
                              <float*>cnp.PyArray_DATA(gw))

    cdef void release(self):
        Node.release(self)
        self.idx = None


def embedding(input, weight, padding_idx=None, bint sparse=False):
    """Rows of ``weight`` looked up by the integer ``input``: output ``input.shape + (D,)``.

    The gradient scatter-adds into the weight (duplicates sum; the ``padding_idx`` row gets
    none). With ``sparse=True`` and a leaf weight, the weight's ``.grad`` is a row-sparse
    :class:`fastgrad.SparseRowGrad` holding only the looked-up rows.
    """
    cdef str op = "embedding"
    cdef Tensor w = as_tensor(weight, op)
    cdef tuple wshape = (<object>w._data).shape
    if not is_float(w._data):
        raise TypeError(f"{op}: weight must be float32 or float64, got dtype {w._data.dtype}")
    if len(wshape) != 2:
        raise ValueError(f"{op}: weight must be 2-D (num_embeddings, embedding_dim), got shape {wshape}")
    cdef object i = (<Tensor>input)._data if isinstance(input, Tensor) else np.asarray(input)
    if i.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers (int64), got dtype {i.dtype} "
                        f"(indices shape {i.shape}, weight shape {wshape} {w._data.dtype})")
    cdef Py_ssize_t v = wshape[0], d = wshape[1]
    cdef cnp.ndarray idx = np.array(i, dtype=np.int64, copy=True, order="C").reshape(-1)
    bad = (idx < 0) | (idx >= v)
    if bad.any():
        raise IndexError(f"{op}: index {int(idx[bad][0])} is out of range for a weight of shape "
                         f"{wshape} (indices shape {i.shape}, dtype {i.dtype})")
    cdef int64_t pad = -1
    if padding_idx is not None:
        if not -v <= padding_idx < v:
            raise ValueError(f"{op}: padding_idx {padding_idx} is out of range for a weight of "
                             f"shape {wshape}")
        pad = padding_idx % v
    cdef cnp.ndarray dw = contiguous(w)
    cdef cnp.ndarray out = np.empty(i.shape + (d,), dtype=dw.dtype)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(idx)
    cdef const int64_t* ip = <const int64_t*>cnp.PyArray_DATA(idx)
    if cnp.PyArray_TYPE(dw) == cnp.NPY_DOUBLE:
        with nogil:
            embedding_fwd(n, d, ip, <const double*>cnp.PyArray_DATA(dw), <double*>cnp.PyArray_DATA(out))
    else:
        with nogil:
            embedding_fwd(n, d, ip, <const float*>cnp.PyArray_DATA(dw), <float*>cnp.PyArray_DATA(out))
    if not recording(w):
        return wrap(out)
    cdef EmbeddingBackward node = EmbeddingBackward.__new__(EmbeddingBackward)
    node.idx, node.d, node.pad = idx, d, pad
    cdef Tensor result = attach(out, node, (w,))
    node.sparse = sparse and isinstance(node.next[0], AccumulateGrad)
    return result


# ----- dropout --------------------------------------------------------------------------
@cython.no_gc
cdef class DropoutBackward(Node):
    cdef cnp.ndarray mask
    cdef double scale

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is None:
            return
        cdef cnp.ndarray gx = target.grad_buffer()
        cdef Py_ssize_t n = cnp.PyArray_SIZE(g)
        cdef const unsigned char* m = <const unsigned char*>cnp.PyArray_DATA(self.mask)
        if cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE:
            with nogil:
                dropout_bwd(n, <const double*>cnp.PyArray_DATA(g), m, <double>self.scale,
                            <double*>cnp.PyArray_DATA(gx))
        else:
            with nogil:
                dropout_bwd(n, <const float*>cnp.PyArray_DATA(g), m, <float>self.scale,
                            <float*>cnp.PyArray_DATA(gx))

    cdef void release(self):
        Node.release(self)
        self.mask = None


def dropout(input, double p=0.5, bint training=True):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``
    (``p == 1`` zeroes everything); the identity when not training or ``p == 0``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    cdef Tensor a = as_tensor(input, "dropout")
    if not is_float(a._data):
        raise TypeError(f"dropout: input must be float32 or float64, got dtype {a._data.dtype}")
    if not training or p == 0.0:
        return a
    from fastgrad.creation import generator
    cdef cnp.ndarray x = contiguous(a)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef cnp.ndarray u = generator().random(n)
    cdef cnp.ndarray out = np.empty((<object>x).shape, dtype=x.dtype)
    cdef cnp.ndarray mask = np.empty(n, dtype=np.uint8)
    cdef double scale = 1.0 / (1.0 - p) if p < 1.0 else 0.0
    cdef unsigned char* m = <unsigned char*>cnp.PyArray_DATA(mask)
    if cnp.PyArray_TYPE(x) == cnp.NPY_DOUBLE:
        with nogil:
            dropout_fwd(n, <const double*>cnp.PyArray_DATA(x), <const double*>cnp.PyArray_DATA(u), p,
                        <double>scale, <double*>cnp.PyArray_DATA(out), m)
    else:
        with nogil:
            dropout_fwd(n, <const float*>cnp.PyArray_DATA(x), <const double*>cnp.PyArray_DATA(u), p,
                        <float>scale, <float*>cnp.PyArray_DATA(out), m)
    if not recording(a):
        return wrap(out)
    cdef DropoutBackward node = DropoutBackward.__new__(DropoutBackward)
    node.mask, node.scale = mask, scale
    return attach(out, node, (a,))


# ----- linear ---------------------------------------------------------------------------
@cython.no_gc
cdef class LinearBackward(Node):
    cdef cnp.ndarray x2, w          # input as (M, K); weight memory (C order W, or W^T)
    cdef bint w_trans              # True: w's memory is W^T (K, N) in C order
    cdef Py_ssize_t m, n, k

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node tx = self.next[0], tw = self.next[1], tb = self.next[2]
        cdef bint dbl = cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE
        cdef void* gp = cnp.PyArray_DATA(g)
        cdef void* wp = cnp.PyArray_DATA(self.w)
        cdef void* xp = cnp.PyArray_DATA(self.x2)
        cdef Py_ssize_t m = self.m, n = self.n, k = self.k
        cdef bint x_fresh = False, w_fresh = False   # fresh: overwrite (beta = 0), no zero fill
        cdef void* gx = cnp.PyArray_DATA(tx.grad_target(&x_fresh)) if tx is not None and n else (
            cnp.PyArray_DATA(tx.grad_buffer()) if tx is not None else NULL)
        cdef void* gw = cnp.PyArray_DATA(tw.grad_target(&w_fresh)) if tw is not None and m else (
            cnp.PyArray_DATA(tw.grad_buffer()) if tw is not None else NULL)
        cdef void* gb = cnp.PyArray_DATA(tb.grad_buffer()) if tb is not None else NULL
        cdef Py_ssize_t ldw = max(n if self.w_trans else k, 1), ldg = max(n, 1), ldx = max(k, 1)
        with nogil:
            if gx != NULL and n:       # gx (M, K) += g (M, N) @ W (N, K)
                linear_gemm(dbl, False, self.w_trans, m, k, n, gp, ldg, wp, ldw,
                            0.0 if x_fresh else 1.0, gx)
            if gw != NULL and m:       # gW (N, K) += g^T (N, M) @ x (M, K)
                linear_gemm(dbl, True, False, n, k, m, gp, ldg, xp, ldx,
                            0.0 if w_fresh else 1.0, gw)
            if gb != NULL:             # gb (N,) += column sums of g
                if dbl:
                    column_sums(m, n, <const double*>gp, <double*>gb)
                else:
                    column_sums(m, n, <const float*>gp, <float*>gb)

    cdef void release(self):
        Node.release(self)
        self.x2 = None
        self.w = None


def linear(input, weight, bias=None):
    """``input @ weight.T + bias`` as one op: a gemm with the transpose flag (weight is never
    copied) accumulating onto the broadcast bias. ``input`` is ``(..., in)``, ``weight``
    ``(out, in)``, ``bias`` ``(out,)``; the output is ``(..., out)``.
    """
    cdef str op = "linear"
    cdef Tensor a = as_tensor(input, op), w = as_tensor(weight, op)
    cdef Tensor b = as_tensor(bias, op) if bias is not None else None
    dtypes = [a._data.dtype, w._data.dtype] + ([b._data.dtype] if b is not None else [])
    if not all(dt.kind == "f" and dt.itemsize in (4, 8) for dt in dtypes) or len(set(dtypes)) != 1:
        raise TypeError(f"{op}: input, weight and bias must all be float32 or all float64, got "
                        f"{', '.join(str(t) for t in dtypes)}")
    cdef tuple xs = (<object>a._data).shape, ws = (<object>w._data).shape
    if len(ws) != 2 or len(xs) == 0 or xs[-1] != ws[1]:
        raise ValueError(f"{op}: input of shape {xs} and weight of shape {ws} do not match: "
                         "expected input (..., in_features) and weight (out_features, in_features)")
    cdef Py_ssize_t k = ws[1], n = ws[0], m = 1, dim
    for dim in range(len(xs) - 1):
        m *= xs[dim]
    if b is not None and (<object>b._data).shape != (n,):
        raise ValueError(f"{op}: bias of shape {(<object>b._data).shape} does not match weight of "
                         f"shape {ws}: expected ({n},)")
    cdef cnp.ndarray x2 = contiguous(a).reshape(m, k)
    cdef cnp.ndarray wm = w._data
    cdef bint w_trans = False
    if not cnp.PyArray_IS_C_CONTIGUOUS(wm):
        if cnp.PyArray_IS_F_CONTIGUOUS(wm):
            w_trans = True             # wm.T is C-contiguous: its memory is W^T (in, out)
            wm = wm.T
        else:
            wm = np.asarray(wm, order="C")
    cdef cnp.ndarray out = np.empty(xs[:-1] + (n,), dtype=wm.dtype)
    cdef cnp.ndarray bm = contiguous(b) if b is not None else None
    cdef bint dbl = cnp.PyArray_TYPE(wm) == cnp.NPY_DOUBLE
    cdef void* xp = cnp.PyArray_DATA(x2)
    cdef void* wp = cnp.PyArray_DATA(wm)
    cdef void* bp = cnp.PyArray_DATA(bm) if bm is not None else NULL
    cdef void* op_ = cnp.PyArray_DATA(out)
    cdef Py_ssize_t ldw = max(n if w_trans else k, 1)
    with nogil:
        if bp != NULL:
            if dbl:
                bias_fill(m, n, <const double*>bp, <double*>op_)
            else:
                bias_fill(m, n, <const float*>bp, <float*>op_)
        if k == 0 and bp == NULL:      # an empty product: zeros
            if dbl:
                zero_fill(m * n, <double*>op_)
            else:
                zero_fill(m * n, <float*>op_)
        elif k > 0:                    # out (M, N) (+)= x (M, K) @ W^T (K, N)
            linear_gemm(dbl, False, not w_trans, m, n, k, xp, max(k, 1), wp, ldw,
                        1.0 if bp != NULL else 0.0, op_)
    if not ((a._requires_grad or w._requires_grad or (b is not None and b._requires_grad))
            and grad_enabled()):
        return wrap(out)
    cdef LinearBackward node = LinearBackward.__new__(LinearBackward)
    node.x2, node.w, node.w_trans, node.m, node.n, node.k = x2, wm, w_trans, m, n, k
    if w._requires_grad:
        node.save_version(version_of(a))
    if a._requires_grad:
        node.save_version(version_of(w))
    return attach(out, node, (a, w, b))      # edge(None) is None: no bias gradient
