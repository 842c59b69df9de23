# distutils: extra_compile_args = -fno-math-errno
"""Fused optimizer update kernels.

Each ``*_update`` kernel is ``noexcept nogil`` over raw pointers and updates a
parameter and its state in one pass, reading param, grad and state once per
element (Adafactor needs global norms, so it makes three passes). The ``def``
wrappers below take flat C-contiguous buffers of one dtype (float32 or
float64), check sizes with the GIL, turn the step count into the scalar
constants of the documented algorithm, then run the kernel in one ``with nogil``
block. Formulas follow torch.optim's documented algorithms; the Python layer
(``fastgrad.optim``) owns hyper-parameter validation and state bookkeeping.
"""
from cython cimport floating
from libc.math cimport sqrt, sqrtf
from libc.stdint cimport int64_t

import numpy as np


# ---------------------------------------------------------------- kernels
# Loop bodies are branch-free so that gcc vectorizes them: options enter as
# coefficients (sign = -1 for maximize, a weight decay of 0 adds 0 * p, ...) that
# give bit-identical results for finite values; optional state buffers select
# a loop specialisation through an inline element function with constant flags.

cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef void sgd_update(floating* p, const floating* g, floating* buf, Py_ssize_t n, double lr,
                     double sign, double weight_decay, double mu_buf, double keep,
                     double mix_d, double mix_b) noexcept nogil:
    """d = sign g + wd p; b = mu_buf b + keep d; p -= lr (mix_d d + mix_b b) (buf NULL: p -= lr d)."""
    cdef Py_ssize_t i
    cdef floating d, b
    cdef floating lr_ = <floating>lr, sg = <floating>sign, wd = <floating>weight_decay
    cdef floating mb = <floating>mu_buf, kp = <floating>keep
    cdef floating md = <floating>mix_d, mx = <floating>mix_b
    if buf == NULL:
        for i in range(n):
            p[i] = p[i] - lr_ * (sg * g[i] + wd * p[i])
        return
    for i in range(n):
        d = sg * g[i] + wd * p[i]
        b = mb * buf[i] + kp * d
        buf[i] = b
        p[i] = p[i] - lr_ * (md * d + mx * b)


cdef void adagrad_update(floating* p, const floating* g, floating* acc, Py_ssize_t n,
                         double clr, double sign, double weight_decay, double eps) noexcept nogil:
    """d = sign g + wd p; s += d^2; p -= clr d / (sqrt(s) + eps)."""
    cdef Py_ssize_t i
    cdef floating d, s
    cdef floating clr_ = <floating>clr, sg = <floating>sign, wd = <floating>weight_decay
    cdef floating eps_ = <floating>eps
    for i in range(n):
        d = sg * g[i] + wd * p[i]
        s = acc[i] + d * d
        acc[i] = s
        p[i] = p[i] - clr_ * (d / (_sqrt(s) + eps_))


cdef void adadelta_update(floating* p, const floating* g, floating* sq, floating* acc,
                          Py_ssize_t n, double lr, double rho, double eps, double sign,
                          double weight_decay) noexcept nogil:
    """d = sign g + wd p; v = rho v + (1-rho) d^2; dx = sqrt(u+eps)/sqrt(v+eps) d;
    u = rho u + (1-rho) dx^2; p -= lr dx."""
    cdef Py_ssize_t i
    cdef floating d, v, dx
    cdef floating lr_ = <floating>lr, rho_ = <floating>rho, one_rho = <floating>(1.0 - rho)
    cdef floating eps_ = <floating>eps, sg = <floating>sign, wd = <floating>weight_decay
    for i in range(n):
        d = sg * g[i] + wd * p[i]
        v = rho_ * sq[i] + one_rho * (d * d)
        sq[i] = v
        dx = _sqrt(acc[i] + eps_) / _sqrt(v + eps_) * d
        acc[i] = rho_ * acc[i] + one_rho * (dx * dx)
        p[i] = p[i] - lr_ * dx


cdef inline void _rmsprop_elem(floating* p, const floating* g, floating* sq, floating* gavg,
                               floating* buf, Py_ssize_t i, floating lr, floating a,
                               floating one_a, floating eps, floating sg, floating wd,
                               floating mu, bint centered, bint momentum) noexcept nogil:
    cdef floating d, v, ga, avg
    d = sg * g[i] + wd * p[i]
    v = a * sq[i] + one_a * (d * d)
    sq[i] = v
    if centered:
        ga = a * gavg[i] + one_a * d
        gavg[i] = ga
        v = v - ga * ga
    avg = _sqrt(v) + eps
    if momentum:
        buf[i] = mu * buf[i] + d / avg
        p[i] = p[i] - lr * buf[i]
    else:
        p[i] = p[i] - lr * (d / avg)


cdef void rmsprop_update(floating* p, const floating* g, floating* sq, floating* gavg,
                         floating* buf, Py_ssize_t n, double lr, double alpha, double eps,
                         double sign, double weight_decay, double momentum) noexcept nogil:
    """d = sign g + wd p; v = a v + (1-a) d^2; (gavg: ga = a ga + (1-a) d, v~ = v - ga^2);
    s = d / (sqrt(v~) + eps); (buf: b = mu b + s, p -= lr b) else p -= lr s."""
    cdef Py_ssize_t i
    cdef floating lr_ = <floating>lr, a = <floating>alpha, one_a = <floating>(1.0 - alpha)
    cdef floating eps_ = <floating>eps, sg = <floating>sign, wd = <floating>weight_decay
    cdef floating mu = <floating>momentum
    if gavg == NULL and buf == NULL:
        for i in range(n):
            _rmsprop_elem(p, g, sq, gavg, buf, i, lr_, a, one_a, eps_, sg, wd, mu, False, False)
    elif gavg == NULL:
        for i in range(n):
            _rmsprop_elem(p, g, sq, gavg, buf, i, lr_, a, one_a, eps_, sg, wd, mu, False, True)
    elif buf == NULL:
        for i in range(n):
            _rmsprop_elem(p, g, sq, gavg, buf, i, lr_, a, one_a, eps_, sg, wd, mu, True, False)
    else:
        for i in range(n):
            _rmsprop_elem(p, g, sq, gavg, buf, i, lr_, a, one_a, eps_, sg, wd, mu, True, True)


cdef inline void _adam_elem(floating* p, const floating* g, floating* m, floating* v,
                            floating* vmax, Py_ssize_t i, floating b1, floating one_b1,
                            floating b2, floating one_b2, floating ss, floating bc,
                            floating eps, floating sg, floating l2, floating decay,
                            bint amsgrad) noexcept nogil:
    cdef floating d, mi, vi, pi
    pi = p[i] * decay
    d = sg * g[i] + l2 * pi
    mi = b1 * m[i] + one_b1 * d
    m[i] = mi
    vi = b2 * v[i] + one_b2 * (d * d)
    v[i] = vi
    if amsgrad:
        vi = vmax[i] if vmax[i] > vi else vi
        vmax[i] = vi
    p[i] = pi - ss * (mi / (_sqrt(vi) / bc + eps))


cdef void adam_update(floating* p, const floating* g, floating* m, floating* v, floating* vmax,
                      Py_ssize_t n, double step_size, double bc2_sqrt, double beta1,
                      double beta2, double eps, double sign, double l2,
                      double decay) noexcept nogil:
    """p *= decay (AdamW); d = sign g + l2 p; m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2;
    (vmax: vmax = max(vmax, v), v = vmax); p -= step_size m / (sqrt(v) / sqrt(bc2) + eps)."""
    cdef Py_ssize_t i
    cdef floating b1 = <floating>beta1, one_b1 = <floating>(1.0 - beta1)
    cdef floating b2 = <floating>beta2, one_b2 = <floating>(1.0 - beta2)
    cdef floating ss = <floating>step_size, bc = <floating>bc2_sqrt, eps_ = <floating>eps
    cdef floating sg = <floating>sign, l2_ = <floating>l2, decay_ = <floating>decay
    if vmax == NULL:
        for i in range(n):
            _adam_elem(p, g, m, v, vmax, i, b1, one_b1, b2, one_b2, ss, bc, eps_, sg, l2_,
                       decay_, False)
    else:
        for i in range(n):
            _adam_elem(p, g, m, v, vmax, i, b1, one_b1, b2, one_b2, ss, bc, eps_, sg, l2_,
                       decay_, True)


cdef void adafactor_moments(const floating* g, floating* row, floating* col, double* colsum,
                            Py_ssize_t batches, Py_ssize_t rows, Py_ssize_t cols,
                            double w) noexcept nogil:
    """Factored (col != NULL, per batch of rows x cols): R = (1-w) R + w mean_c g^2,
    C = (1-w) C + w mean_r g^2. Full (col == NULL): V = (1-w) V + w g^2 in `row`."""
    cdef Py_ssize_t b, r, c, k, n = batches * rows * cols
    cdef double acc, gi, keep = 1.0 - w
    if col == NULL:
        for k in range(n):
            gi = g[k]
            row[k] = <floating>(keep * row[k] + w * (gi * gi))
        return
    for b in range(batches):
        for c in range(cols):
            colsum[c] = 0.0
        for r in range(rows):
            acc = 0.0
            for c in range(cols):
                gi = g[(b * rows + r) * cols + c]
                acc += gi * gi
                colsum[c] += gi * gi
            k = b * rows + r
            row[k] = <floating>(keep * row[k] + w * (acc / cols))
        for c in range(cols):
            k = b * cols + c
            col[k] = <floating>(keep * col[k] + w * (colsum[c] / rows))


cdef double adafactor_apply(floating* p, const floating* g, const floating* row,
                            const floating* col, Py_ssize_t batches, Py_ssize_t rows,
                            Py_ssize_t cols, double eps1, double decay, double coef,
                            bint maximize, bint apply) noexcept nogil:
    """U = g / sqrt(max(V, eps1^2)), V = R C / max(mean R, eps1) (factored) or V (full).
    apply=0: return sum U^2; apply=1: p = decay p - coef U, return 0."""
    cdef Py_ssize_t b, r, c, k
    cdef double v, u, rmean = 1.0, total = 0.0, eps1sq = eps1 * eps1
    for b in range(batches):
        if col != NULL:
            rmean = 0.0
            for r in range(rows):
                rmean += row[b * rows + r]
            rmean = rmean / rows
            if rmean < eps1:
                rmean = eps1
        for r in range(rows):
            for c in range(cols):
                k = (b * rows + r) * cols + c
                if col != NULL:
                    v = <double>row[b * rows + r] * col[b * cols + c] / rmean
                else:
                    v = row[k]
                if v < eps1sq:
                    v = eps1sq
                u = g[k] / sqrt(v)
                if maximize:
                    u = -u
                if apply:
                    p[k] = <floating>(decay * p[k] - coef * u)
                else:
                    total += u * u
    return total


cdef void sparse_adam_update(floating* p, const int64_t* idx, const floating* vals,
                             floating* m, floating* v, Py_ssize_t nnz, Py_ssize_t width,
                             double step_size, double beta1, double beta2, double eps,
                             bint maximize) noexcept nogil:
    """For each (unique) touched row: m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
    p -= step_size m / (sqrt(v) + eps) with step_size = lr sqrt(bc2) / bc1; other rows untouched."""
    cdef Py_ssize_t j, c, k, o
    cdef floating gi, mi, vi
    cdef floating one_b1 = <floating>(1.0 - beta1), one_b2 = <floating>(1.0 - beta2)
    cdef floating ss = <floating>step_size, eps_ = <floating>eps
    for j in range(nnz):
        o = idx[j] * width
        for c in range(width):
            k = o + c
            gi = -vals[j * width + c] if maximize else vals[j * width + c]
            mi = m[k] + (gi - m[k]) * one_b1
            m[k] = mi
            vi = v[k] + (gi * gi - v[k]) * one_b2
            v[k] = vi
            p[k] = p[k] - ss * (mi / (sqrt(vi) + eps_))


# ---------------------------------------------------------------- wrappers

cdef inline floating* _ptr(floating[::1] a) noexcept:
    """Data pointer of an optional buffer (NULL for None or empty)."""
    if a is None or a.shape[0] == 0:
        return NULL
    return &a[0]


def _check(str op, Py_ssize_t n, *others):
    """Raise ValueError unless every buffer in `others` (None skipped) holds n elements."""
    for name, size in others:
        if size is not None and size != n:
            raise ValueError(f"{op}: {name} has {size} elements, the parameter has {n}")


def _n(a):
    return None if a is None else a.shape[0]


cdef inline double _sign(bint maximize) noexcept nogil:
    return -1.0 if maximize else 1.0


def sgd(floating[::1] p, const floating[::1] g, floating[::1] buf, double lr, double momentum,
        double dampening, double weight_decay, bint nesterov, bint maximize, bint first):
    """SGD step in place on flat buffers; `buf` is the momentum buffer or None (momentum 0)."""
    _check("sgd", p.shape[0], ("grad", g.shape[0]), ("momentum_buffer", _n(buf)))
    cdef floating* bp = _ptr(buf)
    cdef double mu_buf = 0.0 if first else momentum    # first step: b = d
    cdef double keep = 1.0 if first else 1.0 - dampening
    cdef double mix_d = 1.0 if nesterov else 0.0       # nesterov: d + mu b, else b
    cdef double mix_b = momentum if nesterov else 1.0
    with nogil:
        sgd_update(&p[0], &g[0], bp, p.shape[0], lr, _sign(maximize), weight_decay, mu_buf,
                   keep, mix_d, mix_b)


def adagrad(floating[::1] p, const floating[::1] g, floating[::1] acc, Py_ssize_t step,
            double lr, double lr_decay, double weight_decay, double eps, bint maximize):
    """Adagrad step `step` (1-based) in place; clr = lr / (1 + (step-1) lr_decay)."""
    _check("adagrad", p.shape[0], ("grad", g.shape[0]), ("sum", acc.shape[0]))
    cdef double clr = lr / (1.0 + (step - 1) * lr_decay)
    with nogil:
        adagrad_update(&p[0], &g[0], &acc[0], p.shape[0], clr, _sign(maximize), weight_decay,
                       eps)


def adadelta(floating[::1] p, const floating[::1] g, floating[::1] square_avg,
             floating[::1] acc_delta, double lr, double rho, double eps, double weight_decay,
             bint maximize):
    """Adadelta step in place on flat buffers."""
    _check("adadelta", p.shape[0], ("grad", g.shape[0]), ("square_avg", square_avg.shape[0]),
           ("acc_delta", acc_delta.shape[0]))
    with nogil:
        adadelta_update(&p[0], &g[0], &square_avg[0], &acc_delta[0], p.shape[0], lr, rho, eps,
                        _sign(maximize), weight_decay)


def rmsprop(floating[::1] p, const floating[::1] g, floating[::1] square_avg,
            floating[::1] grad_avg, floating[::1] buf, double lr, double alpha, double eps,
            double weight_decay, double momentum, bint maximize):
    """RMSprop step in place; grad_avg is None unless centered, buf None unless momentum > 0."""
    _check("rmsprop", p.shape[0], ("grad", g.shape[0]), ("square_avg", square_avg.shape[0]),
           ("grad_avg", _n(grad_avg)), ("momentum_buffer", _n(buf)))
    cdef floating* gap = _ptr(grad_avg)
    cdef floating* bp = _ptr(buf)
    with nogil:
        rmsprop_update(&p[0], &g[0], &square_avg[0], gap, bp, p.shape[0], lr, alpha, eps,
                       _sign(maximize), weight_decay, momentum)


def adam(floating[::1] p, const floating[::1] g, floating[::1] exp_avg, floating[::1] exp_avg_sq,
         floating[::1] max_exp_avg_sq, Py_ssize_t step, double lr, double beta1, double beta2,
         double eps, double weight_decay, bint decoupled, bint maximize):
    """Adam (decoupled=False, L2 weight decay) or AdamW (decoupled=True) step `step` (1-based)
    in place; max_exp_avg_sq is None unless amsgrad."""
    _check("adam", p.shape[0], ("grad", g.shape[0]), ("exp_avg", exp_avg.shape[0]),
           ("exp_avg_sq", exp_avg_sq.shape[0]), ("max_exp_avg_sq", _n(max_exp_avg_sq)))
    cdef double step_size = lr / (1.0 - beta1 ** step)
    cdef double bc2_sqrt = sqrt(1.0 - beta2 ** step)
    cdef double l2 = 0.0 if decoupled else weight_decay
    cdef double decay = 1.0 - lr * weight_decay if decoupled else 1.0
    cdef floating* vp = _ptr(max_exp_avg_sq)
    with nogil:
        adam_update(&p[0], &g[0], &exp_avg[0], &exp_avg_sq[0], vp, p.shape[0], step_size,
                    bc2_sqrt, beta1, beta2, eps, _sign(maximize), l2, decay)


def adafactor(floating[::1] p, const floating[::1] g, floating[::1] row, floating[::1] col,
              Py_ssize_t batches, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t step, double lr,
              double beta2_decay, double eps1, double eps2, double d, double weight_decay,
              bint maximize):
    """Adafactor step `step` (1-based) in place. Factored: p is `batches` C-order matrices
    rows x cols, row has batches*rows and col batches*cols elements. Full (col None): row is
    the second moment with as many elements as p."""
    cdef Py_ssize_t n = p.shape[0]
    if batches * rows * cols != n:
        raise ValueError(f"adafactor: {batches}x{rows}x{cols} does not match {n} elements")
    if col is None:
        _check("adafactor", n, ("grad", g.shape[0]), ("variance", row.shape[0]))
    else:
        _check("adafactor", n, ("grad", g.shape[0]))
        _check("adafactor", batches * rows, ("row_var", row.shape[0]))
        _check("adafactor", batches * cols, ("col_var", col.shape[0]))
    cdef double[::1] colsum = np.empty(cols if col is not None else 1, dtype=np.float64)
    cdef double t = <double>step
    cdef double w = t ** beta2_decay
    cdef double rho = min(lr, 1.0 / sqrt(t))
    cdef double decay = 1.0 - lr * weight_decay
    cdef floating* cp = _ptr(col)
    cdef double pnorm = 0.0, alpha, unorm, denom
    cdef Py_ssize_t k
    with nogil:
        for k in range(n):
            pnorm += <double>p[k] * p[k]
        alpha = max(eps2, sqrt(pnorm) / sqrt(<double>n)) * rho
        adafactor_moments(&g[0], &row[0], cp, &colsum[0], batches, rows, cols, w)
        unorm = adafactor_apply(&p[0], &g[0], &row[0], cp, batches, rows, cols, eps1, 1.0, 0.0,
                                maximize, False)
        denom = max(1.0, sqrt(unorm) / (sqrt(<double>n) * d))
        adafactor_apply(&p[0], &g[0], &row[0], cp, batches, rows, cols, eps1, decay,
                        alpha / denom, maximize, True)


def sparse_adam(floating[::1] p, const int64_t[::1] indices, const floating[::1] values,
                floating[::1] exp_avg, floating[::1] exp_avg_sq, Py_ssize_t width,
                Py_ssize_t step, double lr, double beta1, double beta2, double eps,
                bint maximize):
    """Lazy Adam step on the rows `indices` (strictly increasing, in range) of a flat
    (rows x width) parameter; `values` holds len(indices) x width gradient entries."""
    cdef Py_ssize_t n = p.shape[0], nnz = indices.shape[0], j
    _check("sparse_adam", n, ("exp_avg", exp_avg.shape[0]), ("exp_avg_sq", exp_avg_sq.shape[0]))
    if width <= 0 or n % width != 0:
        raise ValueError(f"sparse_adam: row width {width} does not divide {n} elements")
    _check("sparse_adam", nnz * width, ("values", values.shape[0]))
    for j in range(nnz):
        if indices[j] < 0 or indices[j] * width >= n or (j > 0 and indices[j] <= indices[j - 1]):
            raise ValueError("sparse_adam: indices must be strictly increasing and within "
                             f"[0, {n // width}), got {indices[j]} at position {j}")
    if nnz == 0:
        return
    cdef double step_size = lr * sqrt(1.0 - beta2 ** step) / (1.0 - beta1 ** step)
    with nogil:
        sparse_adam_update(&p[0], &indices[0], &values[0], &exp_avg[0], &exp_avg_sq[0], nnz,
                           width, step_size, beta1, beta2, eps, maximize)
