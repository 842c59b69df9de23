"""Activations: hardtanh, leaky_relu, prelu (learnable slope), softmax, log_softmax.

sigmoid, tanh and relu live in elementwise.pyx. softmax/log_softmax see the input as
(outer, n, inner) with the softmax taken over n; both subtract the maximum of each slice
first, so they are finite for any finite input. Forward and backward side by side.
"""
from libc.math cimport exp as c_exp, log as c_log
from cython cimport floating
cimport cython
cimport numpy as cnp
import warnings
import numpy as np

from fastgrad._tape cimport Node
from fastgrad._tensor cimport (Tensor, wrap, attach, recording, recording2, version_of,
                               as_tensor, contiguous, is_float)

cnp.import_array()

cdef enum:
    HARDTANH, LEAKY_RELU


# ----- kernels --------------------------------------------------------------------------
cdef void pointwise_fwd(int op, Py_ssize_t n, const floating* x, floating* out,
                        double a, double b) noexcept nogil:
    """hardtanh: out = min(max(x, a), b); leaky_relu: out = x if x > 0 else a * x."""
    cdef Py_ssize_t i
    cdef floating v
    for i in range(n):
        v = x[i]
        if op == HARDTANH:
            out[i] = <floating>a if v < a else (<floating>b if v > b else v)
        else:
            out[i] = v if v > 0 else <floating>(a * v)


cdef void pointwise_bwd(int op, Py_ssize_t n, const floating* g, const floating* x,
                        floating* gx, double a, double b) noexcept nogil:
    """hardtanh: gx += g where a < x < b; leaky_relu: gx += g * (1 if x > 0 else a)."""
    cdef Py_ssize_t i
    for i in range(n):
        if op == HARDTANH:
            if x[i] > a and x[i] < b:
                gx[i] += g[i]
        else:
            gx[i] += g[i] if x[i] > 0 else <floating>(a * g[i])


cdef void prelu_fwd(Py_ssize_t n_outer, Py_ssize_t n_ch, Py_ssize_t n_inner, const floating* x,
                    const floating* w, Py_ssize_t w_step, floating* out) noexcept nogil:
    """out[o, c, i] = x if x > 0 else w[c * w_step] * x."""
    cdef Py_ssize_t o, c, i, k
    cdef floating wc
    for o in range(n_outer):
        for c in range(n_ch):
            wc = w[c * w_step]
            k = (o * n_ch + c) * n_inner
            for i in range(n_inner):
                out[k + i] = x[k + i] if x[k + i] > 0 else wc * x[k + i]


cdef void prelu_bwd(Py_ssize_t n_outer, Py_ssize_t n_ch, Py_ssize_t n_inner, const floating* g,
                    const floating* x, const floating* w, Py_ssize_t w_step,
                    floating* gx, floating* gw) noexcept nogil:
    """gx += g * (1 if x > 0 else w[c]);  gw[c] += sum of g * x where x <= 0 (NULL: skipped)."""
    cdef Py_ssize_t o, c, i, k
    cdef floating wc
    cdef double acc
    for o in range(n_outer):
        for c in range(n_ch):
            wc = w[c * w_step]
            k = (o * n_ch + c) * n_inner
            acc = 0
            for i in range(n_inner):
                if x[k + i] > 0:
                    if gx != NULL:
                        gx[k + i] += g[k + i]
                else:
                    if gx != NULL:
                        gx[k + i] += wc * g[k + i]
                    acc += g[k + i] * x[k + i]
            if gw != NULL:
                gw[c * w_step] += <floating>acc


cdef void softmax_fwd(bint logs, Py_ssize_t n_outer, Py_ssize_t n, Py_ssize_t n_inner,
                      const floating* x, floating* out) noexcept nogil:
    """out = exp(x - m) / s, or x - m - log(s) (logs); m = max_r x, s = sum_r exp(x - m)."""
    cdef Py_ssize_t o, r, i, base
    cdef floating m
    cdef double s, ls
    if n == 0:
        return
    for o in range(n_outer):
        for i in range(n_inner):
            base = o * n * n_inner + i
            m = x[base]
            for r in range(1, n):
                if x[base + r * n_inner] > m:
                    m = x[base + r * n_inner]
            s = 0
            for r in range(n):
                s += c_exp(x[base + r * n_inner] - m)
            if logs:
                ls = c_log(s)
                for r in range(n):
                    out[base + r * n_inner] = <floating>(x[base + r * n_inner] - m - ls)
            else:
                for r in range(n):
                    out[base + r * n_inner] = <floating>(c_exp(x[base + r * n_inner] - m) / s)


cdef void softmax_bwd(bint logs, Py_ssize_t n_outer, Py_ssize_t n, Py_ssize_t n_inner,
                      const floating* g, const floating* y, floating* gx) noexcept nogil:
    """softmax: gx += y * (g - sum_r g y);  log_softmax: gx += g - exp(y) * sum_r g."""
    cdef Py_ssize_t o, r, i, base, k
    cdef double s
    for o in range(n_outer):
        for i in range(n_inner):
            base = o * n * n_inner + i
            s = 0
            for r in range(n):
                k = base + r * n_inner
                s += g[k] if logs else g[k] * y[k]
            for r in range(n):
                k = base + r * n_inner
                if logs:
                    gx[k] += <floating>(g[k] - c_exp(y[k]) * s)
                else:
                    gx[k] += <floating>(y[k] * (g[k] - s))


# ----- helpers --------------------------------------------------------------------------
cdef Tensor float_input(object x, str op):
    """The op's input as a float tensor (integers become float32, as in elementwise)."""
    cdef Tensor a = as_tensor(x, op)
    if not is_float(a._data):
        if a._data.dtype.kind not in "iub":
            raise TypeError(f"{op}: expected a float32 or float64 tensor, got dtype {a._data.dtype}")
        from fastgrad._kernels.elementwise import to_dtype
        a = to_dtype(a, np.float32)
    return a


# ----- hardtanh, leaky_relu -------------------------------------------------------------
@cython.no_gc
cdef class PointwiseBackward(Node):
    cdef int op
    cdef double a, b
    cdef cnp.ndarray x

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is None:
            return
        cdef cnp.ndarray gx = target.grad_buffer()
        cdef Py_ssize_t n = cnp.PyArray_SIZE(g)
        if cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE:
            with nogil:
                pointwise_bwd(self.op, n, <const double*>cnp.PyArray_DATA(g),
                              <const double*>cnp.PyArray_DATA(self.x), <double*>cnp.PyArray_DATA(gx),
                              self.a, self.b)
        else:
            with nogil:
                pointwise_bwd(self.op, n, <const float*>cnp.PyArray_DATA(g),
                              <const float*>cnp.PyArray_DATA(self.x), <float*>cnp.PyArray_DATA(gx),
                              self.a, self.b)

    cdef void release(self):
        Node.release(self)
        self.x = None

    def name(self):
        return ("HardtanhBackward", "LeakyReluBackward")[self.op]


cdef Tensor pointwise(int op, str name, object x, double a, double b):
    cdef Tensor t = float_input(x, name)
    cdef cnp.ndarray dx = contiguous(t)
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(dx), cnp.PyArray_DIMS(dx),
                                             cnp.PyArray_TYPE(dx), 0)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(dx)
    if cnp.PyArray_TYPE(dx) == cnp.NPY_DOUBLE:
        with nogil:
            pointwise_fwd(op, n, <const double*>cnp.PyArray_DATA(dx), <double*>cnp.PyArray_DATA(out), a, b)
    else:
        with nogil:
            pointwise_fwd(op, n, <const float*>cnp.PyArray_DATA(dx), <float*>cnp.PyArray_DATA(out), a, b)
    if not recording(t):
        return wrap(out)
    cdef PointwiseBackward node = PointwiseBackward.__new__(PointwiseBackward)
    node.op, node.a, node.b, node.x = op, a, b, dx
    node.save_version(version_of(t))
    return attach(out, node, (t,))


def hardtanh(x, double min_val=-1.0, double max_val=1.0):
    """``clamp(x, min_val, max_val)``; gradient 1 strictly inside the interval, else 0."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return pointwise(HARDTANH, "hardtanh", x, min_val, max_val)


def leaky_relu(x, double negative_slope=0.01):
    """``x if x > 0 else negative_slope * x``."""
    return pointwise(LEAKY_RELU, "leaky_relu", x, negative_slope, 0.0)


# ----- prelu ----------------------------------------------------------------------------
@cython.no_gc
cdef class PreluBackward(Node):
    cdef cnp.ndarray x, w
    cdef Py_ssize_t n_outer, n_ch, n_inner, w_step

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node tx = self.next[0], tw = self.next[1]
        cdef void* gx = NULL
        cdef void* gw = NULL
        if tx is not None:
            gx = cnp.PyArray_DATA(tx.grad_buffer())
        if tw is not None:
            gw = cnp.PyArray_DATA(tw.grad_buffer())
        if gx == NULL and gw == NULL:
            return
        if cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE:
            with nogil:
                prelu_bwd(self.n_outer, self.n_ch, self.n_inner, <const double*>cnp.PyArray_DATA(g),
                          <const double*>cnp.PyArray_DATA(self.x), <const double*>cnp.PyArray_DATA(self.w),
                          self.w_step, <double*>gx, <double*>gw)
        else:
            with nogil:
                prelu_bwd(self.n_outer, self.n_ch, self.n_inner, <const float*>cnp.PyArray_DATA(g),
                          <const float*>cnp.PyArray_DATA(self.x), <const float*>cnp.PyArray_DATA(self.w),
                          self.w_step, <float*>gx, <float*>gw)

    cdef void release(self):
        Node.release(self)
        self.x = None
        self.w = None


def prelu(x, weight):
    """``x if x > 0 else weight[c] * x`` with a learnable slope: one (``weight.numel() == 1``)
    or one per channel (dim 1 of ``x``, as torch; inputs with fewer than 2 dims have 1 channel).
    """
    cdef Tensor t = float_input(x, "prelu"), w = as_tensor(weight, "prelu")
    if not is_float(w._data):
        raise TypeError(f"prelu: weight must be float32 or float64, got dtype {w._data.dtype}")
    if t._data.dtype != w._data.dtype:
        raise TypeError(f"prelu: input ({t._data.dtype}) and weight ({w._data.dtype}) must have "
                        "the same dtype")
    cdef tuple shape = (<object>t._data).shape
    cdef Py_ssize_t nw = cnp.PyArray_SIZE(w._data), channels = shape[1] if len(shape) >= 2 else 1
    if cnp.PyArray_NDIM(w._data) > 1 or (nw != 1 and nw != channels):
        raise ValueError(f"prelu: weight of shape {(<object>w._data).shape} does not match input of "
                         f"shape {shape}: expected 1 parameter or {channels} (one per channel, dim 1)")
    cdef Py_ssize_t n_outer = shape[0] if len(shape) >= 2 else 1, n_ch = nw, n_inner = 1, d
    for d in range(2 if len(shape) >= 2 else 0, len(shape)):
        n_inner *= shape[d]
    if nw == 1:                         # a single slope: one channel spanning everything
        n_outer, n_inner = 1, cnp.PyArray_SIZE(t._data)
    cdef cnp.ndarray dx = contiguous(t), dw = contiguous(w)
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(dx), cnp.PyArray_DIMS(dx),
                                             cnp.PyArray_TYPE(dx), 0)
    if cnp.PyArray_TYPE(dx) == cnp.NPY_DOUBLE:
        with nogil:
            prelu_fwd(n_outer, n_ch, n_inner, <const double*>cnp.PyArray_DATA(dx),
                      <const double*>cnp.PyArray_DATA(dw), 1, <double*>cnp.PyArray_DATA(out))
    else:
        with nogil:
            prelu_fwd(n_outer, n_ch, n_inner, <const float*>cnp.PyArray_DATA(dx),
                      <const float*>cnp.PyArray_DATA(dw), 1, <float*>cnp.PyArray_DATA(out))
    if not recording2(t, w):
        return wrap(out)
    cdef PreluBackward node = PreluBackward.__new__(PreluBackward)
    node.x, node.w = dx, dw
    node.n_outer, node.n_ch, node.n_inner, node.w_step = n_outer, n_ch, n_inner, 1
    node.save_version(version_of(t))
    node.save_version(version_of(w))
    return attach(out, node, (t, w))


# ----- softmax, log_softmax -------------------------------------------------------------
@cython.no_gc
cdef class SoftmaxBackward(Node):
    cdef bint logs
    cdef Py_ssize_t n_outer, n, n_inner
    cdef cnp.ndarray out

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is None:
            return
        cdef cnp.ndarray gx = target.grad_buffer()
        if cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE:
            with nogil:
                softmax_bwd(self.logs, self.n_outer, self.n, self.n_inner,
                            <const double*>cnp.PyArray_DATA(g), <const double*>cnp.PyArray_DATA(self.out),
                            <double*>cnp.PyArray_DATA(gx))
        else:
            with nogil:
                softmax_bwd(self.logs, self.n_outer, self.n, self.n_inner,
                            <const float*>cnp.PyArray_DATA(g), <const float*>cnp.PyArray_DATA(self.out),
                            <float*>cnp.PyArray_DATA(gx))

    cdef void release(self):
        Node.release(self)
        self.out = None

    def name(self):
        return "LogSoftmaxBackward" if self.logs else "SoftmaxBackward"


cdef Tensor softmax_op(bint logs, object x, object dim):
    cdef str name = "log_softmax" if logs else "softmax"
    cdef Tensor t = float_input(x, name)
    cdef tuple shape = (<object>t._data).shape
    cdef Py_ssize_t nd = len(shape), d, n_outer = 1, n = 1, n_inner = 1
    if dim is None:                     # torch's legacy implicit choice
        dim = 0 if nd in (0, 1, 3) else 1
        warnings.warn(f"{name}: implicit dimension choice is deprecated; pass dim= "
                      f"(using dim={dim})", UserWarning, stacklevel=3)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{name}: dim must be an int, got {type(dim).__name__}")
    if not -max(nd, 1) <= dim < max(nd, 1):
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor of shape {shape}")
    cdef Py_ssize_t axis = dim % max(nd, 1)
    for d in range(nd):
        if d < axis:
            n_outer *= shape[d]
        elif d == axis:
            n = shape[d]
        else:
            n_inner *= shape[d]
    cdef cnp.ndarray dx = contiguous(t)
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(dx), cnp.PyArray_DIMS(dx),
                                             cnp.PyArray_TYPE(dx), 0)
    if cnp.PyArray_TYPE(dx) == cnp.NPY_DOUBLE:
        with nogil:
            softmax_fwd(logs, n_outer, n, n_inner, <const double*>cnp.PyArray_DATA(dx),
                        <double*>cnp.PyArray_DATA(out))
    else:
        with nogil:
            softmax_fwd(logs, n_outer, n, n_inner, <const float*>cnp.PyArray_DATA(dx),
                        <float*>cnp.PyArray_DATA(out))
    if not recording(t):
        return wrap(out)
    cdef SoftmaxBackward node = SoftmaxBackward.__new__(SoftmaxBackward)
    node.logs, node.n_outer, node.n, node.n_inner, node.out = logs, n_outer, n, n_inner, out
    cdef Tensor result = attach(out, node, (t,))
    node.save_version(version_of(result))      # backward reads the output: guard in-place edits
    return result


def softmax(x, dim=None):
    """``exp(x - max) / sum(exp(x - max))`` along ``dim``."""
    return softmax_op(False, x, dim)


def log_softmax(x, dim=None):
    """``x - max - log(sum(exp(x - max)))`` along ``dim``."""
    return softmax_op(True, x, dim)
