"""Losses: cross_entropy (fused log_softmax + NLL), nll_loss, mse_loss,
binary_cross_entropy_with_logits. Forward and backward kernels side by side.

Every loss kernel writes the per-element (or per-sample) losses when reduction='none'
and always returns the total; the backward reads the upstream gradient with stride 0
(a reduced scalar) or 1 ('none') times a scale (1, 1/n or 1/sum of weights).
Class targets are validated (integer dtype, shape, range or ignore_index) before a
kernel sees them.
"""
from libc.math cimport exp as c_exp, log as c_log, log1p, fabs, NAN
from libc.stdint cimport int64_t
from cython cimport floating
cimport cython
cimport numpy as cnp
import numpy as np

from fastgrad._tape cimport Node
from fastgrad._tensor cimport (Tensor, wrap, attach, recording, recording2, version_of,
                               as_tensor, contiguous, is_float)

cnp.import_array()

cdef enum:
    NONE, MEAN, SUM


# ----- kernels --------------------------------------------------------------------------
cdef void cross_entropy_fwd(Py_ssize_t n, Py_ssize_t c, const floating* x, const int64_t* t,
                            const floating* w, int64_t ignore, double* lse, floating* loss,
                            double* total, double* total_w) noexcept nogil:
    """loss[i] = w[t_i] * (logsumexp(x[i]) - x[i, t_i]) (0 where t_i == ignore); lse saved
    in double, so that the backward's exp(x - lse) keeps float32 precision at |x| ~ 1e4."""
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef floating m
    cdef double s, wi, li
    total[0] = 0
    total_w[0] = 0
    for i in range(n):
        if t[i] == ignore:
            lse[i] = 0
            if loss != NULL:
                loss[i] = 0
            continue
        row = x + i * c
        m = row[0]
        for j in range(1, c):
            if row[j] > m:
                m = row[j]
        s = 0
        for j in range(c):
            s += c_exp(row[j] - m)
        lse[i] = m + c_log(s)
        wi = w[t[i]] if w != NULL else 1.0
        li = wi * ((m - row[t[i]]) + c_log(s))
        if loss != NULL:
            loss[i] = <floating>li
        total[0] += li
        total_w[0] += wi


cdef void cross_entropy_bwd(Py_ssize_t n, Py_ssize_t c, const floating* g, Py_ssize_t g_step,
                            double scale, const floating* x, const int64_t* t, const floating* w,
                            int64_t ignore, const double* lse, floating* gx) noexcept nogil:
    """gx[i, j] += g_i * scale * w[t_i] * (softmax(x[i])_j - [j == t_i])."""
    cdef Py_ssize_t i, j
    cdef double gi
    for i in range(n):
        if t[i] == ignore:
            continue
        gi = g[i * g_step] * scale * (w[t[i]] if w != NULL else 1.0)
        for j in range(c):
            gx[i * c + j] += <floating>(gi * c_exp(<double>x[i * c + j] - lse[i]))
        gx[i * c + t[i]] -= <floating>gi


cdef void nll_fwd(Py_ssize_t n, Py_ssize_t c, const floating* x, const int64_t* t,
                  const floating* w, int64_t ignore, floating* loss,
                  double* total, double* total_w) noexcept nogil:
    """loss[i] = -w[t_i] * x[i, t_i] (0 where t_i == ignore)."""
    cdef Py_ssize_t i
    cdef double wi, li
    total[0] = 0
    total_w[0] = 0
    for i in range(n):
        if t[i] == ignore:
            if loss != NULL:
                loss[i] = 0
            continue
        wi = w[t[i]] if w != NULL else 1.0
        li = -wi * x[i * c + t[i]]
        if loss != NULL:
            loss[i] = <floating>li
        total[0] += li
        total_w[0] += wi


cdef void nll_bwd(Py_ssize_t n, Py_ssize_t c, const floating* g, Py_ssize_t g_step, double scale,
                  const int64_t* t, const floating* w, int64_t ignore, floating* gx) noexcept nogil:
    """gx[i, t_i] -= g_i * scale * w[t_i]."""
    cdef Py_ssize_t i
    for i in range(n):
        if t[i] != ignore:
            gx[i * c + t[i]] -= <floating>(g[i * g_step] * scale * (w[t[i]] if w != NULL else 1.0))


cdef void mse_fwd(Py_ssize_t n, const floating* x, const floating* y, floating* loss,
                  double* total) noexcept nogil:
    """loss[i] = (x[i] - y[i])^2; total = sum."""
    cdef Py_ssize_t i
    cdef double d
    total[0] = 0
    for i in range(n):
        d = <double>x[i] - <double>y[i]
        if loss != NULL:
            loss[i] = <floating>(d * d)
        total[0] += d * d


cdef void mse_bwd(Py_ssize_t n, const floating* g, Py_ssize_t g_step, double scale,
                  const floating* x, const floating* y, floating* gx, floating* gy) noexcept nogil:
    """gx += 2 (x - y) g scale;  gy -= the same (NULL: skipped)."""
    cdef Py_ssize_t i
    cdef floating v
    for i in range(n):
        v = <floating>(2 * (<double>x[i] - <double>y[i]) * g[i * g_step] * scale)
        if gx != NULL:
            gx[i] += v
        if gy != NULL:
            gy[i] -= v


cdef inline double softplus_neg(double v) noexcept nogil:
    """log(1 + exp(-v)), stable for any v."""
    return log1p(c_exp(-fabs(v))) + (-v if v < 0 else 0.0)


cdef void bce_logits_fwd(Py_ssize_t n, const floating* x, const floating* y, const floating* w,
                         const floating* pw, floating* loss, double* total) noexcept nogil:
    """loss = w * ((1 - y) x + (1 + (pw - 1) y) log(1 + exp(-x))) (w, pw NULL: 1)."""
    cdef Py_ssize_t i
    cdef double li, lw
    total[0] = 0
    for i in range(n):
        lw = 1.0 + ((pw[i] - 1.0) * y[i] if pw != NULL else 0.0)
        li = (1.0 - y[i]) * x[i] + lw * softplus_neg(x[i])
        if w != NULL:
            li *= w[i]
        if loss != NULL:
            loss[i] = <floating>li
        total[0] += li


cdef void bce_logits_bwd(Py_ssize_t n, const floating* g, Py_ssize_t g_step, double scale,
                         const floating* x, const floating* y, const floating* w,
                         const floating* pw, floating* gx, floating* gy) noexcept nogil:
    """gx += gw ((1 - y) - (1 + (pw - 1) y) sigmoid(-x));  gy += gw (-x + (pw - 1) log(1 + exp(-x)))."""
    cdef Py_ssize_t i
    cdef double gi, lw, sig_neg, e
    for i in range(n):
        gi = g[i * g_step] * scale * (w[i] if w != NULL else 1.0)
        if gx != NULL:
            lw = 1.0 + ((pw[i] - 1.0) * y[i] if pw != NULL else 0.0)
            if x[i] >= 0:
                e = c_exp(-<double>x[i])
                sig_neg = e / (1.0 + e)
            else:
                sig_neg = 1.0 / (1.0 + c_exp(<double>x[i]))
            gx[i] += <floating>(gi * ((1.0 - y[i]) - lw * sig_neg))
        if gy != NULL:
            gy[i] += <floating>(gi * (-<double>x[i] + ((pw[i] - 1.0) * softplus_neg(x[i]) if pw != NULL else 0.0)))


# ----- helpers --------------------------------------------------------------------------
cdef int reduction_code(str op, object reduction) except -1:
    if reduction == "mean":
        return MEAN
    if reduction == "sum":
        return SUM
    if reduction == "none":
        return NONE
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


cdef Tensor float_tensor(object x, str op, str what):
    cdef Tensor t = as_tensor(x, op)
    if not is_float(t._data):
        raise TypeError(f"{op}: {what} must be float32 or float64, got dtype {t._data.dtype} "
                        f"(shape {(<object>t._data).shape})")
    return t


cdef cnp.ndarray constant(object x, object dtype, tuple shape, str op, str what, tuple against):
    """A weight-like constant (no gradient) as a contiguous array of ``dtype`` and ``shape``."""
    cdef object a = (<Tensor>x)._data if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{op}: {what} must be numeric, got dtype {a.dtype}")
    try:
        a = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"{op}: {what} of shape {a.shape} does not match input of shape "
                         f"{against}") from None
    return np.array(a, dtype=dtype, order="C", copy=True)    # (ascontiguousarray makes 0-d 1-d)


cdef cnp.ndarray class_targets(str op, object target, tuple x_shape, object x_dtype,
                               Py_ssize_t c, Py_ssize_t ignore_index):
    """Validate class-index targets: integer dtype, shape (N,) (or () for 1-D input),
    every value in [0, C) or equal to ignore_index. Returns a private int64 copy."""
    cdef object t = (<Tensor>target)._data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices (int64), got dtype "
                        f"{t.dtype} (target shape {t.shape}, input shape {x_shape} {x_dtype}); "
                        "class-probability targets are not supported")
    expected = x_shape[:1] if len(x_shape) == 2 else ()
    if t.shape != expected:
        raise ValueError(f"{op}: target of shape {t.shape} does not match input of shape "
                         f"{x_shape}: expected target shape {expected}")
    cdef cnp.ndarray out = np.array(t, dtype=np.int64, copy=True, order="C").reshape(-1)
    bad = (out != ignore_index) & ((out < 0) | (out >= c))
    if bad.any():
        raise IndexError(f"{op}: target value {int(out[bad][0])} is out of range for {c} classes "
                         f"(input shape {x_shape}, target shape {t.shape}, dtype {t.dtype}; "
                         f"ignore_index={ignore_index})")
    return out


cdef cnp.ndarray reduced(int red, double total, double count, cnp.ndarray loss, object dtype):
    """The op's output: the per-element losses, their sum or their mean (total / count)."""
    if red == NONE:
        return loss
    if red == SUM:
        return np.array(total, dtype=dtype)
    return np.array(total / count if count != 0 else NAN, dtype=dtype)


# ----- cross_entropy and nll_loss ---------------------------------------------------------
@cython.no_gc
cdef class ClassLossBackward(Node):
    cdef bint fused                    # cross_entropy (log_softmax + nll) or plain nll
    cdef cnp.ndarray x, t, w, lse      # logits (CE only), targets, class weights (or None)
    cdef Py_ssize_t n, c
    cdef int64_t ignore
    cdef int red
    cdef double scale

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is None:
            return
        cdef cnp.ndarray gx = target.grad_buffer()
        cdef Py_ssize_t g_step = 1 if self.red == NONE else 0
        cdef void* w = cnp.PyArray_DATA(self.w) if self.w is not None else NULL
        cdef const int64_t* t = <const int64_t*>cnp.PyArray_DATA(self.t)
        cdef bint dbl = cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE
        if self.fused and dbl:
            with nogil:
                cross_entropy_bwd(self.n, self.c, <const double*>cnp.PyArray_DATA(g), g_step, self.scale,
                                  <const double*>cnp.PyArray_DATA(self.x), t, <const double*>w,
                                  self.ignore, <const double*>cnp.PyArray_DATA(self.lse),
                                  <double*>cnp.PyArray_DATA(gx))
        elif self.fused:
            with nogil:
                cross_entropy_bwd(self.n, self.c, <const float*>cnp.PyArray_DATA(g), g_step, self.scale,
                                  <const float*>cnp.PyArray_DATA(self.x), t, <const float*>w,
                                  self.ignore, <const double*>cnp.PyArray_DATA(self.lse),
                                  <float*>cnp.PyArray_DATA(gx))
        elif dbl:
            with nogil:
                nll_bwd(self.n, self.c, <const double*>cnp.PyArray_DATA(g), g_step, self.scale, t,
                        <const double*>w, self.ignore, <double*>cnp.PyArray_DATA(gx))
        else:
            with nogil:
                nll_bwd(self.n, self.c, <const float*>cnp.PyArray_DATA(g), g_step, self.scale, t,
                        <const float*>w, self.ignore, <float*>cnp.PyArray_DATA(gx))

    cdef void release(self):
        Node.release(self)
        self.x = self.t = self.w = self.lse = None

    def name(self):
        return "CrossEntropyBackward" if self.fused else "NllLossBackward"


cdef Tensor class_loss(bint fused, object input, object target, object weight,
                       Py_ssize_t ignore_index, object reduction):
    cdef str op = "cross_entropy" if fused else "nll_loss"
    cdef int red = reduction_code(op, reduction)
    cdef Tensor a = float_tensor(input, op, "input")
    cdef tuple shape = (<object>a._data).shape
    if len(shape) not in (1, 2):
        raise ValueError(f"{op}: input must have shape (N, C) or (C,), got {shape}")
    cdef Py_ssize_t c = shape[-1], n = shape[0] if len(shape) == 2 else 1
    cdef cnp.ndarray t = class_targets(op, target, shape, a._data.dtype, c, ignore_index)
    cdef cnp.ndarray w = None
    if weight is not None:
        wshape = np.shape((<Tensor>weight)._data) if isinstance(weight, Tensor) else np.shape(weight)
        if tuple(wshape) != (c,):
            raise ValueError(f"{op}: weight of shape {tuple(wshape)} does not match input of shape "
                             f"{shape}: expected ({c},), one weight per class")
        w = constant(weight, a._data.dtype, (c,), op, "weight", shape)
    cdef cnp.ndarray x = contiguous(a)
    cdef cnp.ndarray lse = np.empty(n, dtype=np.float64) if fused else None
    cdef cnp.ndarray loss = np.empty(shape[:1] if len(shape) == 2 else (), dtype=x.dtype)
    cdef void* lp = cnp.PyArray_DATA(loss) if red == NONE else NULL
    cdef void* wp = cnp.PyArray_DATA(w) if w is not None else NULL
    cdef const int64_t* tp = <const int64_t*>cnp.PyArray_DATA(t)
    cdef int64_t ignore = ignore_index
    cdef double total = 0, total_w = 0
    cdef bint dbl = cnp.PyArray_TYPE(x) == cnp.NPY_DOUBLE
    if fused and dbl:
        with nogil:
            cross_entropy_fwd(n, c, <const double*>cnp.PyArray_DATA(x), tp, <const double*>wp, ignore,
                              <double*>cnp.PyArray_DATA(lse), <double*>lp, &total, &total_w)
    elif fused:
        with nogil:
            cross_entropy_fwd(n, c, <const float*>cnp.PyArray_DATA(x), tp, <const float*>wp, ignore,
                              <double*>cnp.PyArray_DATA(lse), <float*>lp, &total, &total_w)
    elif dbl:
        with nogil:
            nll_fwd(n, c, <const double*>cnp.PyArray_DATA(x), tp, <const double*>wp, ignore,
                    <double*>lp, &total, &total_w)
    else:
        with nogil:
            nll_fwd(n, c, <const float*>cnp.PyArray_DATA(x), tp, <const float*>wp, ignore,
                    <float*>lp, &total, &total_w)
    cdef cnp.ndarray out = reduced(red, total, total_w, loss, x.dtype)
    if not recording(a):
        return wrap(out)
    cdef ClassLossBackward node = ClassLossBackward.__new__(ClassLossBackward)
    node.fused, node.t, node.w, node.n, node.c, node.ignore, node.red = fused, t, w, n, c, ignore, red
    node.scale = (1.0 / total_w if total_w != 0 else 0.0) if red == MEAN else 1.0
    if fused:
        node.x, node.lse = x, lse
        node.save_version(version_of(a))
    return attach(out, node, (a,))


def cross_entropy(input, target, weight=None, Py_ssize_t ignore_index=-100, reduction="mean"):
    """``nll_loss(log_softmax(input, 1), target)`` in one fused, max-shifted kernel pair.

    mean divides by the sum of the weights of the non-ignored targets (torch's semantics;
    NaN when every target is ignored).
    """
    return class_loss(True, input, target, weight, ignore_index, reduction)


def nll_loss(input, target, weight=None, Py_ssize_t ignore_index=-100, reduction="mean"):
    """``-weight[t] * input[i, t]`` per sample; mean divides by the sum of used weights."""
    return class_loss(False, input, target, weight, ignore_index, reduction)


# ----- mse_loss -------------------------------------------------------------------------
@cython.no_gc
cdef class MseBackward(Node):
    cdef cnp.ndarray x, y
    cdef int red
    cdef double scale

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node tx = self.next[0], ty = self.next[1]
        cdef void* gx = cnp.PyArray_DATA(tx.grad_buffer()) if tx is not None else NULL
        cdef void* gy = cnp.PyArray_DATA(ty.grad_buffer()) if ty is not None else NULL
        cdef Py_ssize_t n = cnp.PyArray_SIZE(self.x), g_step = 1 if self.red == NONE else 0
        if cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE:
            with nogil:
                mse_bwd(n, <const double*>cnp.PyArray_DATA(g), g_step, self.scale,
                        <const double*>cnp.PyArray_DATA(self.x), <const double*>cnp.PyArray_DATA(self.y),
                        <double*>gx, <double*>gy)
        else:
            with nogil:
                mse_bwd(n, <const float*>cnp.PyArray_DATA(g), g_step, self.scale,
                        <const float*>cnp.PyArray_DATA(self.x), <const float*>cnp.PyArray_DATA(self.y),
                        <float*>gx, <float*>gy)

    cdef void release(self):
        Node.release(self)
        self.x = self.y = None


cdef tuple same_float_pair(str op, object input, object target):
    cdef Tensor a = float_tensor(input, op, "input")
    cdef Tensor b = as_tensor(target, op)
    if not is_float(b._data):
        if b._data.dtype.kind not in "iub":
            raise TypeError(f"{op}: target must be numeric, got dtype {b._data.dtype}")
        b = wrap(b._data.astype(a._data.dtype))
    if (<object>a._data).shape != (<object>b._data).shape:
        raise ValueError(f"{op}: input of shape {(<object>a._data).shape} and target of shape "
                         f"{(<object>b._data).shape} must have the same shape")
    if a._data.dtype != b._data.dtype:
        raise TypeError(f"{op}: input ({a._data.dtype}) and target ({b._data.dtype}) must have "
                        "the same dtype")
    return a, b


def mse_loss(input, target, reduction="mean"):
    """``(input - target) ** 2``, averaged, summed or per element."""
    cdef int red = reduction_code("mse_loss", reduction)
    cdef Tensor a, b
    a, b = same_float_pair("mse_loss", input, target)
    cdef cnp.ndarray x = contiguous(a), y = contiguous(b)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef cnp.ndarray loss = np.empty((<object>x).shape, dtype=x.dtype)
    cdef void* lp = cnp.PyArray_DATA(loss) if red == NONE else NULL
    cdef double total = 0
    if cnp.PyArray_TYPE(x) == cnp.NPY_DOUBLE:
        with nogil:
            mse_fwd(n, <const double*>cnp.PyArray_DATA(x), <const double*>cnp.PyArray_DATA(y),
                    <double*>lp, &total)
    else:
        with nogil:
            mse_fwd(n, <const float*>cnp.PyArray_DATA(x), <const float*>cnp.PyArray_DATA(y),
                    <float*>lp, &total)
    cdef cnp.ndarray out = reduced(red, total, n, loss, x.dtype)
    if not recording2(a, b):
        return wrap(out)
    cdef MseBackward node = MseBackward.__new__(MseBackward)
    node.x, node.y, node.red = x, y, red
    node.scale = (1.0 / n if n else 0.0) if red == MEAN else 1.0
    node.save_version(version_of(a))
    node.save_version(version_of(b))
    return attach(out, node, (a, b))


# ----- binary_cross_entropy_with_logits ------------------------------------------------------
@cython.no_gc
cdef class BceWithLogitsBackward(Node):
    cdef cnp.ndarray x, y, w, pw
    cdef int red
    cdef double scale

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node tx = self.next[0], ty = self.next[1]
        cdef void* gx = cnp.PyArray_DATA(tx.grad_buffer()) if tx is not None else NULL
        cdef void* gy = cnp.PyArray_DATA(ty.grad_buffer()) if ty is not None else NULL
        cdef void* w = cnp.PyArray_DATA(self.w) if self.w is not None else NULL
        cdef void* pw = cnp.PyArray_DATA(self.pw) if self.pw is not None else NULL
        cdef Py_ssize_t n = cnp.PyArray_SIZE(self.x), g_step = 1 if self.red == NONE else 0
        if cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE:
            with nogil:
                bce_logits_bwd(n, <const double*>cnp.PyArray_DATA(g), g_step, self.scale,
                               <const double*>cnp.PyArray_DATA(self.x), <const double*>cnp.PyArray_DATA(self.y),
                               <const double*>w, <const double*>pw, <double*>gx, <double*>gy)
        else:
            with nogil:
                bce_logits_bwd(n, <const float*>cnp.PyArray_DATA(g), g_step, self.scale,
                               <const float*>cnp.PyArray_DATA(self.x), <const float*>cnp.PyArray_DATA(self.y),
                               <const float*>w, <const float*>pw, <float*>gx, <float*>gy)

    cdef void release(self):
        Node.release(self)
        self.x = self.y = self.w = self.pw = None


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """``-w [pw y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]``, computed stably from logits."""
    cdef str op = "binary_cross_entropy_with_logits"
    cdef int red = reduction_code(op, reduction)
    cdef Tensor a, b
    a, b = same_float_pair(op, input, target)
    cdef cnp.ndarray x = contiguous(a), y = contiguous(b), w = None, pw = None
    cdef tuple shape = (<object>x).shape
    if weight is not None:
        w = constant(weight, x.dtype, shape, op, "weight", shape)
    if pos_weight is not None:
        pw = constant(pos_weight, x.dtype, shape, op, "pos_weight", shape)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef cnp.ndarray loss = np.empty(shape, dtype=x.dtype)
    cdef void* lp = cnp.PyArray_DATA(loss) if red == NONE else NULL
    cdef void* wp = cnp.PyArray_DATA(w) if w is not None else NULL
    cdef void* pwp = cnp.PyArray_DATA(pw) if pw is not None else NULL
    cdef double total = 0
    if cnp.PyArray_TYPE(x) == cnp.NPY_DOUBLE:
        with nogil:
            bce_logits_fwd(n, <const double*>cnp.PyArray_DATA(x), <const double*>cnp.PyArray_DATA(y),
                           <const double*>wp, <const double*>pwp, <double*>lp, &total)
    else:
        with nogil:
            bce_logits_fwd(n, <const float*>cnp.PyArray_DATA(x), <const float*>cnp.PyArray_DATA(y),
                           <const float*>wp, <const float*>pwp, <float*>lp, &total)
    cdef cnp.ndarray out = reduced(red, total, n, loss, x.dtype)
    if not recording2(a, b):
        return wrap(out)
    cdef BceWithLogitsBackward node = BceWithLogitsBackward.__new__(BceWithLogitsBackward)
    node.x, node.y, node.w, node.pw, node.red = x, y, w, pw, red
    node.scale = (1.0 / n if n else 0.0) if red == MEAN else 1.0
    node.save_version(version_of(a))
    node.save_version(version_of(b))
    return attach(out, node, (a, b))
