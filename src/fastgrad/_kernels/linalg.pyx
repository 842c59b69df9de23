"""matmul over BLAS gemm: 2-D @ 2-D, the 1-D cases, and batched N-D @ 2-D.

An operand that is a transposed view (Fortran order) is passed to gemm with the
transpose flag instead of being copied; the backward's two products
(gA += g @ B^T, gB += A^T @ g) are gemm calls with beta = 1 into the gradient buffers.
"""
cimport cython
cimport numpy as cnp
import numpy as np

from fastgrad._tape cimport Node
from fastgrad._tensor cimport version_of
from fastgrad._tensor cimport Tensor, wrap, attach, recording, recording2, as_tensor, is_float
from fastgrad._kernels.blas cimport gemm, scipy_openblas_get_num_threads, \
    scipy_openblas_get_config, scipy_openblas_set_num_threads

cnp.import_array()


cdef struct Operand:
    void* data
    bint trans            # memory holds the operand transposed (row-major)
    Py_ssize_t ld         # leading dimension of the memory


cdef cnp.ndarray as_2d(cnp.ndarray x, Operand* op):
    """View a 2-D array for gemm: C order as is, Fortran order as a transpose; else copy."""
    if not cnp.PyArray_IS_C_CONTIGUOUS(x) and cnp.PyArray_IS_F_CONTIGUOUS(x) and (<object>x).shape[0] > 1 and (<object>x).shape[1] > 1:
        op.trans = True
        op.ld = max((<object>x).shape[0], 1)
    else:
        if not cnp.PyArray_IS_C_CONTIGUOUS(x):
            x = np.asarray(x, order="C")
        op.trans = False
        op.ld = max((<object>x).shape[1], 1)
    op.data = cnp.PyArray_DATA(x)
    return x


cdef void run_gemm(bint dbl, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, Operand a, Operand b,
                   double beta, void* c) noexcept nogil:
    if dbl:
        gemm(a.trans, b.trans, m, n, k, <double>1.0, <const double*>a.data, a.ld,
             <const double*>b.data, b.ld, <double>beta, <double*>c, n)
    else:
        gemm(a.trans, b.trans, m, n, k, <float>1.0, <const float*>a.data, a.ld,
             <const float*>b.data, b.ld, <float>beta, <float*>c, n)


@cython.no_gc
cdef class MatmulBackward(Node):
    cdef cnp.ndarray a2, b2           # the operands as 2-D (M, K) and (K, N) arrays
    cdef Operand a, b
    cdef Py_ssize_t m, n, k

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node ta = self.next[0], tb = self.next[1]
        cdef Operand go, flipped
        cdef cnp.ndarray gx
        cdef bint dbl = cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE
        g = np.asarray(g, order="C")
        go.data = cnp.PyArray_DATA(g)
        go.trans = False
        go.ld = max(self.n, 1)
        cdef bint fresh = False           # fresh: overwrite (beta = 0), no zero fill
        if ta is not None:                # gA (M, K) += g (M, N) @ B^T
            gx = ta.grad_target(&fresh) if self.n else ta.grad_buffer()
            flipped = self.b
            flipped.trans = not self.b.trans
            with nogil:
                run_gemm(dbl, self.m, self.k, self.n, go, flipped, 0.0 if fresh else 1.0,
                         cnp.PyArray_DATA(gx))
        if tb is not None:                # gB (K, N) += A^T @ g (M, N)
            gx = tb.grad_target(&fresh) if self.m else tb.grad_buffer()
            flipped = self.a
            flipped.trans = not self.a.trans
            with nogil:
                run_gemm(dbl, self.k, self.n, self.m, flipped, go, 0.0 if fresh else 1.0,
                         cnp.PyArray_DATA(gx))

    cdef void release(self):
        Node.release(self)
        self.a2 = None
        self.b2 = None


def matmul(x, y):
    """Matrix product with numpy's matmul shape rules for 1-D and 2-D operands, and an
    N-D left operand (a batch of matrices) times a 2-D right operand.
    """
    cdef Tensor a = as_tensor(x, "matmul"), b = as_tensor(y, "matmul")
    cdef cnp.ndarray da = a._data, db = b._data
    if da.ndim == 0 or db.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{(<object>da).shape} and {(<object>db).shape}")
    if not (is_float(da) and is_float(db)):
        raise TypeError(f"matmul: operands must be float32 or float64, got {da.dtype} and {db.dtype}")
    if da.dtype != db.dtype:
        from fastgrad._kernels.elementwise import to_dtype
        common = np.result_type(da, db)
        return matmul(to_dtype(a, common), to_dtype(b, common))
    if db.ndim > 2:
        raise ValueError(f"matmul: the right operand must be 1-D or 2-D, got shape {(<object>db).shape} "
                         "(batched right operands are not supported)")
    cdef Py_ssize_t k = (<object>da).shape[-1]
    cdef Py_ssize_t kb = (<object>db).shape[0]
    if k != kb:
        raise ValueError(f"matmul: shapes {(<object>da).shape} and {(<object>db).shape} are not aligned "
                         f"({k} != {kb}) for {da.dtype} operands")
    cdef Py_ssize_t n = (<object>db).shape[1] if db.ndim == 2 else 1
    out_shape = (<object>da).shape[:-1] + (<object>db).shape[1:]
    # left operand as (M, K): a row vector, a matrix, or a batch flattened into rows
    cdef cnp.ndarray a2 = da.reshape(1, k) if da.ndim == 1 else (
        da if da.ndim == 2 else np.asarray(da, order="C").reshape(-1, k))
    cdef cnp.ndarray b2 = db.reshape(k, 1) if db.ndim == 1 else db
    cdef Py_ssize_t m = (<object>a2).shape[0]
    cdef Operand oa, ob
    a2 = as_2d(a2, &oa)
    b2 = as_2d(b2, &ob)
    cdef cnp.ndarray out = np.empty(out_shape, dtype=da.dtype)
    cdef bint dbl = cnp.PyArray_TYPE(da) == cnp.NPY_DOUBLE
    if k == 0:
        out[...] = 0
    elif m and n:
        with nogil:
            run_gemm(dbl, m, n, k, oa, ob, 0.0, cnp.PyArray_DATA(out))
    if not recording2(a, b):
        return wrap(out)
    cdef MatmulBackward node = MatmulBackward.__new__(MatmulBackward)
    node.a2, node.b2, node.a, node.b = a2, b2, oa, ob
    node.m, node.n, node.k = m, n, k
    if b._requires_grad:
        node.save_version(version_of(a))
    if a._requires_grad:
        node.save_version(version_of(b))
    return attach(out, node, (a, b))


def blas_info() -> dict:
    """The BLAS library in use and its thread count."""
    return {"library": "scipy-openblas32",
            "config": scipy_openblas_get_config().decode(),
            "threads": scipy_openblas_get_num_threads()}


def set_num_threads(int n) -> None:
    """Set the number of BLAS threads."""
    scipy_openblas_set_num_threads(n)
