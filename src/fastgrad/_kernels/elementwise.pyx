"""Elementwise ops: add sub mul div maximum minimum (broadcasting), neg exp log sqrt abs
tanh sigmoid relu pow, cast. Forward and backward kernels side by side.

Broadcasting: a binary op's operands are planned onto one (outer, inner) iteration
space; each operand walks it with an outer stride (0, 1 or inner size) and an inner
stride (0 or 1). The backward kernel walks the same space with the input's strides, so
``gx[i*os + j*is] += ...`` sums the gradient back over broadcast dimensions for free.
Shapes that do not fit one split (e.g. (A,1,C) with (1,B,1)) are expanded first.
"""
from libc.math cimport exp as c_exp, log as c_log, sqrt as c_sqrt, tanh as c_tanh, pow as c_pow, fabs
from cython cimport floating
cimport cython
cimport numpy as cnp
import numpy as np

from fastgrad._tape cimport Node, VersionCounter, grad_enabled
from fastgrad._tensor cimport (Tensor, wrap, attach, recording, recording2, version_of,
                               as_tensor, as_operand, contiguous, is_float)

cnp.import_array()

cdef enum:
    ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM

cdef enum:
    NEG, EXP, LOG, SQRT, ABS, TANH, SIGMOID, RELU, POW

cdef double ZERO_D = 0.0
cdef float ZERO_F = 0.0


# ----- kernels --------------------------------------------------------------------------
cdef inline floating binary_value(int op, floating x, floating y) noexcept nogil:
    """out = x (op) y."""
    if op == ADD: return x + y
    if op == SUB: return x - y
    if op == MUL: return x * y
    if op == DIV: return x / y
    if op == MAXIMUM: return x if x >= y else y
    return x if x <= y else y


cdef inline floating binary_local(int op, int wrt, floating x, floating y) noexcept nogil:
    """d(x op y)/dx (wrt=0) or d/dy (wrt=1); ties of maximum/minimum split evenly."""
    if op == MUL: return y if wrt == 0 else x
    if op == DIV: return 1 / y if wrt == 0 else -x / (y * y)
    if op == MAXIMUM:
        if x == y: return 0.5
        return (x > y) if wrt == 0 else (y > x)
    if x == y: return 0.5                           # MINIMUM
    return (x < y) if wrt == 0 else (y < x)


cdef void binary_fwd(int op, Py_ssize_t n_outer, Py_ssize_t n_inner,
                     const floating* a, Py_ssize_t a_os, Py_ssize_t a_is,
                     const floating* b, Py_ssize_t b_os, Py_ssize_t b_is,
                     floating* out) noexcept nogil:
    """out[i, j] = a[i*a_os + j*a_is] (op) b[i*b_os + j*b_is]."""
    cdef Py_ssize_t i, j
    cdef const floating* pa
    cdef const floating* pb
    cdef floating* po
    for i in range(n_outer):
        pa = a + i * a_os
        pb = b + i * b_os
        po = out + i * n_inner
        if a_is == 1 and b_is == 1:
            for j in range(n_inner):
                po[j] = binary_value(op, pa[j], pb[j])
        elif a_is == 1:
            for j in range(n_inner):
                po[j] = binary_value(op, pa[j], pb[0])
        elif b_is == 1:
            for j in range(n_inner):
                po[j] = binary_value(op, pa[0], pb[j])
        else:
            for j in range(n_inner):
                po[j] = binary_value(op, pa[0], pb[0])


cdef void binary_bwd(int op, int wrt, Py_ssize_t n_outer, Py_ssize_t n_inner,
                     const floating* g,
                     const floating* a, Py_ssize_t a_os, Py_ssize_t a_is,
                     const floating* b, Py_ssize_t b_os, Py_ssize_t b_is,
                     floating* gx, Py_ssize_t x_os, Py_ssize_t x_is) noexcept nogil:
    """gx[i*x_os + j*x_is] += g[i, j] * d(a op b)/d(input wrt) (sums over broadcasts)."""
    cdef Py_ssize_t i, j
    cdef floating sign = -1 if (op == SUB and wrt == 1) else 1
    cdef const floating* pg
    cdef floating* px
    for i in range(n_outer):
        pg = g + i * n_inner
        px = gx + i * x_os
        if op == ADD or op == SUB:
            if x_is == 1:
                for j in range(n_inner):
                    px[j] += sign * pg[j]
            else:
                for j in range(n_inner):
                    px[0] += sign * pg[j]
        elif x_is == 1:
            for j in range(n_inner):
                px[j] += pg[j] * binary_local(op, wrt, a[i * a_os + j * a_is], b[i * b_os + j * b_is])
        else:
            for j in range(n_inner):
                px[0] += pg[j] * binary_local(op, wrt, a[i * a_os + j * a_is], b[i * b_os + j * b_is])


cdef void unary_fwd(int op, Py_ssize_t n, const floating* x, floating* out, double p) noexcept nogil:
    """out[i] = f(x[i]); one loop per op so that the simple ones vectorize."""
    cdef Py_ssize_t i
    cdef floating e, q = <floating>p
    if op == NEG:
        for i in range(n): out[i] = -x[i]
    elif op == EXP:
        for i in range(n): out[i] = c_exp(x[i])
    elif op == LOG:
        for i in range(n): out[i] = c_log(x[i])
    elif op == SQRT:
        for i in range(n): out[i] = c_sqrt(x[i])
    elif op == ABS:
        for i in range(n): out[i] = fabs(x[i])
    elif op == TANH:
        for i in range(n): out[i] = c_tanh(x[i])
    elif op == SIGMOID:
        for i in range(n):
            e = c_exp(-fabs(x[i]))                      # stable for large |x|
            out[i] = 1 / (1 + e) if x[i] >= 0 else e / (1 + e)
    elif op == RELU:                                    # NaN passes through, as in PyTorch
        for i in range(n): out[i] = 0 if x[i] <= 0 else x[i]
    elif p == 2:
        for i in range(n): out[i] = x[i] * x[i]
    else:
        for i in range(n): out[i] = c_pow(x[i], q)


cdef void unary_bwd(int op, Py_ssize_t n, const floating* g, const floating* x,
                    const floating* out, floating* gx, double p) noexcept nogil:
    """gx[i] += g[i] * f'(x[i]) (written with out = f(x) where that is cheaper)."""
    cdef Py_ssize_t i
    cdef floating q = <floating>p
    if op == NEG:
        for i in range(n): gx[i] -= g[i]
    elif op == EXP:
        for i in range(n): gx[i] += g[i] * out[i]
    elif op == LOG:
        for i in range(n): gx[i] += g[i] / x[i]
    elif op == SQRT:
        for i in range(n): gx[i] += g[i] * 0.5 / out[i]
    elif op == ABS:
        for i in range(n): gx[i] += g[i] * ((x[i] > 0) - (x[i] < 0))
    elif op == TANH:
        for i in range(n): gx[i] += g[i] * (1 - out[i] * out[i])
    elif op == SIGMOID:
        for i in range(n): gx[i] += g[i] * out[i] * (1 - out[i])
    elif op == RELU:
        for i in range(n): gx[i] += g[i] * (x[i] > 0)
    elif p == 2:
        for i in range(n): gx[i] += g[i] * 2 * x[i]
    else:
        for i in range(n): gx[i] += g[i] * q * c_pow(x[i], q - 1)


# ----- broadcasting plan ----------------------------------------------------------------
cdef struct Plan:
    Py_ssize_t n_outer, n_inner, a_os, a_is, b_os, b_is


cdef tuple broadcast_shape(str op, tuple sa, tuple sb):
    cdef Py_ssize_t n = max(len(sa), len(sb)), d, x, y
    out = []
    for d in range(n):
        x = sa[len(sa) - n + d] if d >= n - len(sa) else 1
        y = sb[len(sb) - n + d] if d >= n - len(sb) else 1
        if x != y and x != 1 and y != 1:
            raise ValueError(f"{op}: shapes {sa} and {sb} cannot be broadcast together")
        out.append(x if y == 1 else y)
    return tuple(out)


cdef int classify(tuple s, tuple out, Py_ssize_t lo, Py_ssize_t hi):
    """Over out dims [lo, hi): 1 if s spans them fully, 0 if it is all ones, -1 if mixed."""
    cdef Py_ssize_t d, k = len(out) - len(s)
    cdef bint full = False, ones = False
    for d in range(lo, hi):
        if out[d] == 1:
            continue
        if d >= k and s[d - k] == out[d]:
            full = True
        else:
            ones = True
    return -1 if (full and ones) else (1 if full else 0)


cdef bint make_plan(tuple sa, tuple sb, tuple out, Plan* p):
    """Find a split of ``out`` into (outer, inner) that both operands walk with strides."""
    cdef Py_ssize_t k, d, nd = len(out), n_in
    cdef int ap, asuf, bp, bsuf
    for k in range(nd + 1):
        ap = classify(sa, out, 0, k); asuf = classify(sa, out, k, nd)
        bp = classify(sb, out, 0, k); bsuf = classify(sb, out, k, nd)
        if ap < 0 or asuf < 0 or bp < 0 or bsuf < 0:
            continue
        n_in = 1
        for d in range(k, nd):
            n_in *= out[d]
        p.n_inner = n_in
        p.n_outer = 1
        for d in range(k):
            p.n_outer *= out[d]
        p.a_is = asuf
        p.b_is = bsuf
        p.a_os = (n_in if asuf else 1) if ap else 0
        p.b_os = (n_in if bsuf else 1) if bp else 0
        return True
    return False


# ----- the ops --------------------------------------------------------------------------
@cython.no_gc
cdef class BinaryBackward(Node):
    cdef int op
    cdef Plan plan
    cdef cnp.ndarray a, b          # saved operands (None where no gradient needs them)

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target
        cdef int wrt
        cdef Plan p = self.plan
        cdef Py_ssize_t x_os, x_is, a_os = 0, a_is = 0, b_os = 0, b_is = 0
        cdef cnp.ndarray gx
        cdef void* pa
        cdef void* pb
        cdef bint dbl = cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE
        pa = cnp.PyArray_DATA(self.a) if self.a is not None else (<void*>&ZERO_D if dbl else <void*>&ZERO_F)
        pb = cnp.PyArray_DATA(self.b) if self.b is not None else (<void*>&ZERO_D if dbl else <void*>&ZERO_F)
        if self.a is not None:
            a_os = p.a_os; a_is = p.a_is
        if self.b is not None:
            b_os = p.b_os; b_is = p.b_is
        for wrt in range(2):
            target = self.next[wrt]
            if target is None:
                continue
            gx = target.grad_buffer()
            x_os = p.a_os if wrt == 0 else p.b_os
            x_is = p.a_is if wrt == 0 else p.b_is
            if dbl:
                with nogil:
                    binary_bwd(self.op, wrt, p.n_outer, p.n_inner, <const double*>cnp.PyArray_DATA(g),
                               <const double*>pa, a_os, a_is, <const double*>pb, b_os, b_is,
                               <double*>cnp.PyArray_DATA(gx), x_os, x_is)
            else:
                with nogil:
                    binary_bwd(self.op, wrt, p.n_outer, p.n_inner, <const float*>cnp.PyArray_DATA(g),
                               <const float*>pa, a_os, a_is, <const float*>pb, b_os, b_is,
                               <float*>cnp.PyArray_DATA(gx), x_os, x_is)

    cdef void release(self):
        Node.release(self)
        self.a = None
        self.b = None

    def name(self):
        return ("AddBackward", "SubBackward", "MulBackward", "DivBackward",
                "MaximumBackward", "MinimumBackward")[self.op]


cdef object NUMPY_BINARY = (np.add, np.subtract, np.multiply, np.true_divide, np.maximum, np.minimum)
cdef tuple BINARY_NAMES = ("add", "sub", "mul", "div", "maximum", "minimum")


cdef Tensor binary(int op, object x, object y):
    cdef str name = BINARY_NAMES[op]
    cdef Tensor a = as_operand(x, y if isinstance(y, Tensor) else None, name)
    cdef Tensor b = as_operand(y, a, name)
    cdef cnp.ndarray da = a._data, db = b._data
    if cnp.PyArray_TYPE(da) != cnp.PyArray_TYPE(db):
        common = np.result_type(da, db)
        if common.kind == "f":
            if da.dtype != common: a = cast(a, common); da = a._data
            if db.dtype != common: b = cast(b, common); db = b._data
    if not is_float(da) or not is_float(db):
        return wrap(np.asarray(NUMPY_BINARY[op](da, db)))    # integer math: no gradients

    cdef tuple sa = (<object>da).shape, sb = (<object>db).shape, out_shape
    cdef Plan p
    cdef Py_ssize_t n
    if sa == sb:
        out_shape = sa
        n = cnp.PyArray_SIZE(da)
        p = Plan(1, n, 0, 1, 0, 1)
    elif cnp.PyArray_SIZE(db) == 1 and cnp.PyArray_NDIM(db) <= cnp.PyArray_NDIM(da):
        out_shape = sa
        p = Plan(1, cnp.PyArray_SIZE(da), 0, 1, 0, 0)
    elif cnp.PyArray_SIZE(da) == 1 and cnp.PyArray_NDIM(da) <= cnp.PyArray_NDIM(db):
        out_shape = sb
        p = Plan(1, cnp.PyArray_SIZE(db), 0, 0, 0, 1)
    else:
        out_shape = broadcast_shape(name, sa, sb)
        if not make_plan(sa, sb, out_shape, &p):
            return binary(op, expand(a, out_shape) if sa != out_shape else a,
                          expand(b, out_shape) if sb != out_shape else b)
    da = contiguous(a)
    db = contiguous(b)
    cdef cnp.ndarray out
    if out_shape is sa:
        out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(da), cnp.PyArray_DIMS(da), cnp.PyArray_TYPE(da), 0)
    elif out_shape is sb:
        out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(db), cnp.PyArray_DIMS(db), cnp.PyArray_TYPE(db), 0)
    else:
        out = np.empty(out_shape, dtype=da.dtype)
    if cnp.PyArray_TYPE(da) == cnp.NPY_DOUBLE:
        with nogil:
            binary_fwd(op, p.n_outer, p.n_inner, <const double*>cnp.PyArray_DATA(da), p.a_os, p.a_is,
                       <const double*>cnp.PyArray_DATA(db), p.b_os, p.b_is, <double*>cnp.PyArray_DATA(out))
    else:
        with nogil:
            binary_fwd(op, p.n_outer, p.n_inner, <const float*>cnp.PyArray_DATA(da), p.a_os, p.a_is,
                       <const float*>cnp.PyArray_DATA(db), p.b_os, p.b_is, <float*>cnp.PyArray_DATA(out))
    if not recording2(a, b):
        return wrap(out)
    cdef BinaryBackward node = BinaryBackward.__new__(BinaryBackward)
    node.op = op
    node.plan = p
    if op != ADD and op != SUB:
        need_a = b._requires_grad or op >= MAXIMUM
        need_b = a._requires_grad or op >= DIV
        if need_a:
            node.a = da
            if isinstance(x, Tensor):          # a Python number can't change: no version
                node.save_version(version_of(a))
        if need_b:
            node.b = db
            if isinstance(y, Tensor):
                node.save_version(version_of(b))
    return attach(out, node, (a, b))


def add(a, b):
    """Elementwise ``a + b`` with numpy broadcasting."""
    return binary(ADD, a, b)

def sub(a, b):
    """Elementwise ``a - b`` with numpy broadcasting."""
    return binary(SUB, a, b)

def mul(a, b):
    """Elementwise ``a * b`` with numpy broadcasting."""
    return binary(MUL, a, b)

def div(a, b):
    """Elementwise ``a / b`` with numpy broadcasting."""
    return binary(DIV, a, b)

def maximum(a, b):
    """Elementwise maximum; where ``a == b`` the gradient is split evenly (0.5 each)."""
    return binary(MAXIMUM, a, b)

def minimum(a, b):
    """Elementwise minimum; where ``a == b`` the gradient is split evenly (0.5 each)."""
    return binary(MINIMUM, a, b)


@cython.no_gc
cdef class UnaryBackward(Node):
    cdef int op
    cdef double p
    cdef cnp.ndarray x, out         # saved input / output (whichever the derivative uses)

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is None:
            return
        cdef cnp.ndarray gx = target.grad_buffer()
        cdef cnp.ndarray x = self.x if self.x is not None else (self.out if self.out is not None else g)
        cdef cnp.ndarray out = self.out if self.out is not None else x
        cdef Py_ssize_t n = cnp.PyArray_SIZE(g)
        if cnp.PyArray_TYPE(g) == cnp.NPY_DOUBLE:
            with nogil:
                unary_bwd(self.op, n, <const double*>cnp.PyArray_DATA(g), <const double*>cnp.PyArray_DATA(x),
                          <const double*>cnp.PyArray_DATA(out), <double*>cnp.PyArray_DATA(gx), self.p)
        else:
            with nogil:
                unary_bwd(self.op, n, <const float*>cnp.PyArray_DATA(g), <const float*>cnp.PyArray_DATA(x),
                          <const float*>cnp.PyArray_DATA(out), <float*>cnp.PyArray_DATA(gx), self.p)

    cdef void release(self):
        Node.release(self)
        self.x = None
        self.out = None

    def name(self):
        return ("NegBackward", "ExpBackward", "LogBackward", "SqrtBackward", "AbsBackward",
                "TanhBackward", "SigmoidBackward", "ReluBackward", "PowBackward")[self.op]


cdef tuple UNARY_NAMES = ("neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "pow")


cdef Tensor unary(int op, object x, double p=0):
    cdef Tensor a = as_tensor(x, UNARY_NAMES[op])
    if not is_float(a._data):
        if op == NEG or op == ABS:
            return wrap(np.negative(a._data) if op == NEG else np.abs(a._data))
        a = cast(a, np.float32)
    cdef cnp.ndarray da = contiguous(a)
    cdef cnp.ndarray out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(da), cnp.PyArray_DIMS(da), cnp.PyArray_TYPE(da), 0)
    cdef Py_ssize_t n = cnp.PyArray_SIZE(da)
    if cnp.PyArray_TYPE(da) == cnp.NPY_DOUBLE:
        with nogil:
            unary_fwd(op, n, <const double*>cnp.PyArray_DATA(da), <double*>cnp.PyArray_DATA(out), p)
    else:
        with nogil:
            unary_fwd(op, n, <const float*>cnp.PyArray_DATA(da), <float*>cnp.PyArray_DATA(out), p)
    if not recording(a):
        return wrap(out)
    cdef UnaryBackward node = UnaryBackward.__new__(UnaryBackward)
    node.op = op
    node.p = p
    if op == LOG or op == ABS or op == RELU or op == POW:
        node.x = da
        node.save_version(version_of(a))
    elif op != NEG:
        node.out = out
    return attach(out, node, (a,))


def neg(x):
    """``-x``."""
    return unary(NEG, x)

def exp(x):
    """``e ** x``."""
    return unary(EXP, x)

def log(x):
    """Natural logarithm."""
    return unary(LOG, x)

def sqrt(x):
    """Square root."""
    return unary(SQRT, x)

def abs(x):
    """Absolute value (gradient 0 at 0, as PyTorch)."""
    return unary(ABS, x)

def tanh(x):
    """Hyperbolic tangent."""
    return unary(TANH, x)

def sigmoid(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed stably for large |x|."""
    return unary(SIGMOID, x)

def relu(x):
    """``max(x, 0)`` (gradient 0 at 0)."""
    return unary(RELU, x)

def pow(x, exponent):
    """``x ** exponent`` for a Python-number exponent."""
    if isinstance(exponent, Tensor) or isinstance(exponent, np.ndarray):
        if np.ndim(exponent) == 0 and not getattr(exponent, "requires_grad", False):
            exponent = float(np.asarray(exponent))
        else:
            raise TypeError("pow: only a Python-number exponent is supported; "
                            "write exp(y * log(x)) for a tensor exponent")
    if not isinstance(exponent, (int, float)):
        raise TypeError(f"pow: unsupported exponent type {type(exponent).__name__!r}")
    if exponent == 1:
        return mul(x, 1.0)
    return unary(POW, x, exponent)

def rpow(base, x):
    """``base ** x`` for a Python-number base: ``exp(x * log(base))``."""
    if not isinstance(base, (int, float)):
        raise TypeError(f"pow: unsupported base type {type(base).__name__!r}")
    return exp(mul(x, np.log(base)))


@cython.no_gc
cdef class CastBackward(Node):
    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is not None:
            gx = target.grad_buffer()
            np.add(gx, g, out=gx, casting="unsafe")


cdef Tensor cast(Tensor a, object dtype):
    dtype = np.dtype(dtype)
    cdef cnp.ndarray out = a._data.astype(dtype)
    if dtype.kind == "f" and recording(a):
        return attach(out, CastBackward.__new__(CastBackward), (a,))
    return wrap(out)


def to_dtype(x, dtype):
    """A copy of ``x`` converted to ``dtype``; differentiable between float dtypes."""
    return cast(as_tensor(x, "cast"), dtype)


def clone(x):
    """A differentiable copy."""
    cdef Tensor a = as_tensor(x, "clone")
    return mul(a, 1.0) if is_float(a._data) else wrap(a._data.copy())


def compare(ufunc, x, y):
    """Comparison ``ufunc(x, y)`` as a bool tensor (not differentiable)."""
    xa = (<Tensor>x)._data if isinstance(x, Tensor) else x
    ya = (<Tensor>y)._data if isinstance(y, Tensor) else y
    return wrap(np.asarray(ufunc(xa, ya)))


from fastgrad._kernels.shape import expand

cdef extern from *:
    int FASTGRAD_OPENMP           # defined by setup.py's OpenMP probe

OPENMP = bool(FASTGRAD_OPENMP)
