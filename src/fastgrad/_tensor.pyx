"""Tensor: a numpy buffer, its gradient, and its link to the tape.

Op implementations (``_kernels/*.pyx``) use the cdef helpers here: ``as_tensor`` to
accept Python scalars and arrays, ``recording`` to decide whether to build a node,
``edge`` for an input's node, and ``attach`` to wrap an op's output.
"""
cimport cython
cimport numpy as cnp
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
import numpy as np

from fastgrad._tape cimport Node, VersionCounter, grad_enabled, accumulate
from fastgrad._tape import run_backward

cnp.import_array()

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
_default_dtype = float32

# The op modules register themselves here (see fastgrad/__init__.py): Tensor's operators
# and methods delegate to them, so each op is written once, in its family's module.
cdef object _ops = None


def _bind_ops(namespace) -> None:
    global _ops
    _ops = namespace


cdef inline bint is_float(cnp.ndarray a) noexcept:
    cdef int t = cnp.PyArray_TYPE(a)
    return t == cnp.NPY_FLOAT or t == cnp.NPY_DOUBLE


cdef Tensor wrap(cnp.ndarray data):
    """A new tensor over ``data`` that is not part of any graph."""
    cdef Tensor t = Tensor.__new__(Tensor)
    t._data = data
    return t


cdef Tensor attach(cnp.ndarray data, Node node, tuple inputs):
    """The output of an op: records ``node`` (with edges to ``inputs``) when given."""
    cdef Tensor t = Tensor.__new__(Tensor)
    t._data = data
    if node is not None:
        node.shape = (<object>data).shape
        node.typenum = cnp.PyArray_TYPE(data)
        node.next = edges(inputs)
        t._node = node
        t._requires_grad = True
    return t


cdef tuple edges(tuple inputs):
    """One edge per input (a plain loop: a comprehension would allocate a function object)."""
    cdef Py_ssize_t i, n = len(inputs)
    cdef tuple out = PyTuple_New(n)
    cdef Node e
    for i in range(n):
        e = edge(<Tensor>inputs[i])
        Py_INCREF(e)
        PyTuple_SET_ITEM(out, i, e)
    return out


cdef Node edge(Tensor t):
    """The node an op's gradient flows into for input ``t`` (None: no gradient needed)."""
    cdef AccumulateGrad acc
    if t is None or not t._requires_grad:
        return None
    if t._node is not None:
        return t._node
    acc = AccumulateGrad.__new__(AccumulateGrad)
    acc.variable = t
    acc.shape = (<object>t._data).shape
    acc.typenum = cnp.PyArray_TYPE(t._data)
    return acc


cdef bint recording(Tensor a) noexcept:
    return a._requires_grad and grad_enabled()


cdef bint recording2(Tensor a, Tensor b) noexcept:
    return (a._requires_grad or b._requires_grad) and grad_enabled()


cdef VersionCounter version_of(Tensor t):
    if t._counter is None:
        t._counter = VersionCounter()
    return t._counter


cdef void bump(Tensor t):
    """Record an in-place modification of t's buffer."""
    cdef VersionCounter counter = version_of(t)
    counter.value += 1


cdef cnp.ndarray contiguous(Tensor t):
    """The tensor's buffer, copied to C order only if it is a strided view."""
    if cnp.PyArray_IS_C_CONTIGUOUS(t._data):
        return t._data
    return np.asarray(t._data, order="C")


cdef Tensor as_tensor(object x, str op):
    """Accept a Tensor, a Python number or a numpy array as an op's operand."""
    if isinstance(x, Tensor):
        return <Tensor>x
    if isinstance(x, (float, int, bool, np.ndarray, np.generic)):
        return wrap(np.asarray(x))
    raise TypeError(f"{op}: unsupported operand type {type(x).__name__!r}; expected a "
                    "fastgrad Tensor, a Python number or a numpy array")


cdef Tensor scalar_tensor(double value, int typenum):
    """A 0-d float32/float64 tensor, built through numpy's C API."""
    cdef cnp.ndarray scalar = cnp.PyArray_EMPTY(0, NULL, typenum, 0)
    if typenum == cnp.NPY_DOUBLE:
        (<double*>cnp.PyArray_DATA(scalar))[0] = value
    else:
        (<float*>cnp.PyArray_DATA(scalar))[0] = <float>value
    return wrap(scalar)


cdef Tensor as_operand(object x, Tensor like, str op):
    """:func:`as_tensor`, except that a Python number meeting a float tensor takes that
    tensor's dtype (so float32 stays float32, as in PyTorch)."""
    if like is not None and (type(x) is float or type(x) is int or (
            isinstance(x, (float, int)) and not isinstance(x, bool))) and is_float(like._data):
        return scalar_tensor(<double>x, cnp.PyArray_TYPE(like._data))
    return as_tensor(x, op)


def tensor(data, dtype=None, bint requires_grad=False) -> "Tensor":
    """Create a tensor holding a copy of ``data``.

    Parameters
    ----------
    data : array_like or Tensor
        Python numbers, nested lists or a numpy array. Python floats become float32
        (the default dtype); numpy float64 arrays keep float64; integers become int64.
    dtype : numpy dtype, optional
        The dtype to store; fastgrad differentiates float32 and float64.
    requires_grad : bool
        Record operations on this tensor so that ``backward()`` can reach it.
    """
    cdef Tensor t
    if type(data) is float and (dtype is None or dtype is float32 or dtype is float64
                                or dtype is np.float32 or dtype is np.float64):
        t = scalar_tensor(<double>data, cnp.NPY_DOUBLE if (dtype is float64 or dtype is np.float64)
                          else cnp.NPY_FLOAT)
        t._requires_grad = requires_grad
        return t
    if isinstance(data, Tensor):
        data = (<Tensor>data)._data
    if dtype is None:
        array = np.array(data)
        if array.dtype.kind == "f" and not isinstance(data, (np.ndarray, np.generic)):
            array = array.astype(_default_dtype) if array.dtype != _default_dtype else array
        elif array.dtype.kind == "f" and array.dtype not in (float32, float64):
            array = array.astype(_default_dtype)
    else:
        array = np.array(data, dtype=np.dtype(dtype))
    if array.dtype.kind == "O":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__!r}")
    t = wrap(np.asarray(array, order="C"))
    if requires_grad:
        t.requires_grad_(True)
    return t


def from_numpy(cnp.ndarray array) -> "Tensor":
    """A tensor sharing memory with ``array`` (writes to either are seen by both)."""
    if array.dtype.kind == "O":
        raise TypeError("from_numpy: object arrays are not supported")
    return wrap(array)


@cython.no_gc
cdef class AccumulateGrad(Node):
    """The sink for a leaf tensor: its gradient buffer *is* the leaf's ``.grad``."""

    cdef cnp.ndarray grad_buffer(self):
        cdef Tensor v = self.variable
        if v._grad is None or not isinstance(v._grad, Tensor):
            dense = cnp.PyArray_ZEROS(cnp.PyArray_NDIM(v._data), cnp.PyArray_DIMS(v._data),
                                      cnp.PyArray_TYPE(v._data), 0)
            if v._grad is not None:          # a row-sparse gradient so far: densify
                np.add(dense, v._grad.to_dense(), out=dense)
            v._grad = wrap(dense)
        return (<Tensor>v._grad)._data

    cdef cnp.ndarray grad_target(self, bint* fresh):
        cdef Tensor v = self.variable
        fresh[0] = v._grad is None
        if fresh[0]:
            v._grad = wrap(cnp.PyArray_EMPTY(cnp.PyArray_NDIM(v._data), cnp.PyArray_DIMS(v._data),
                                             cnp.PyArray_TYPE(v._data), 0))
            return (<Tensor>v._grad)._data
        return self.grad_buffer()

    cdef void seed(self, cnp.ndarray grad) except *:
        accumulate(self.grad_buffer(), grad)

    cdef void release(self):
        pass                                  # saves nothing; a leaf may be swept again

    cdef void check(self) except *:
        pass

    def accumulate_sparse(self, indices, values):
        """Add a row-sparse gradient (rows ``indices`` of the leaf get ``values``)."""
        from fastgrad.sparse import SparseRowGrad
        cdef Tensor v = self.variable
        g = SparseRowGrad(indices, values, (<object>v._data).shape)
        if v._grad is None:
            v._grad = g
        elif isinstance(v._grad, Tensor):
            g = g.coalesce()                      # unique rows: a plain fancy-index add
            (<Tensor>v._grad)._data[g.indices] += g.values
        else:
            v._grad = v._grad + g


@cython.freelist(64)
@cython.no_gc
cdef class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Create tensors with :func:`fastgrad.tensor`, :func:`fastgrad.from_numpy` or the
    constructors (``zeros``, ``randn``...). Operators and methods mirror PyTorch's.
    """

    def __init__(self, data, dtype=None, requires_grad=False):
        """Like :func:`tensor`, except that a Tensor of the same dtype is shared, not
        copied (so ``nn.Parameter(t)`` shares ``t``'s memory, as in PyTorch)."""
        cdef Tensor t
        if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == (<Tensor>data)._data.dtype):
            t = <Tensor>data
            self._data = t._data
            self._counter = version_of(t)
            if requires_grad:
                self.requires_grad_(True)
            return
        t = tensor(data, dtype, requires_grad)
        self._data = t._data
        self._requires_grad = t._requires_grad

    # ----- attributes ---------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """The tensor's shape, a tuple of ints."""
        return (<object>self._data).shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return cnp.PyArray_NDIM(self._data)

    @property
    def dtype(self):
        """The numpy dtype of the buffer."""
        return self._data.dtype

    @property
    def T(self) -> "Tensor":
        """The tensor with its dimensions reversed (a view; no copy)."""
        return _ops.transpose(self)

    @property
    def mT(self) -> "Tensor":
        """The last two dimensions swapped."""
        return _ops.transpose(self, -2, -1)

    @property
    def data(self) -> "Tensor":
        """A tensor sharing this buffer but detached from the graph."""
        return self.detach()

    def size(self, dim=None):
        """The shape, or its entry ``dim``."""
        return (<object>self._data).shape if dim is None else (<object>self._data).shape[dim]

    def dim(self) -> int:
        """Number of dimensions."""
        return cnp.PyArray_NDIM(self._data)

    def numel(self) -> int:
        """Number of elements."""
        return cnp.PyArray_SIZE(self._data)

    def __len__(self):
        if cnp.PyArray_NDIM(self._data) == 0:
            raise TypeError("len() of a 0-d tensor")
        return (<object>self._data).shape[0]

    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded for differentiation."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        self.requires_grad_(value)

    def requires_grad_(self, bint requires_grad=True) -> "Tensor":
        """Set ``requires_grad`` on a leaf in place; only float tensors can require grad."""
        if self._node is not None and not requires_grad:
            raise RuntimeError("requires_grad_: you can only change requires_grad flags of "
                               "leaf tensors; use detach() for a non-leaf")
        if requires_grad and not is_float(self._data):
            raise RuntimeError(f"requires_grad_: only float32/float64 tensors can require "
                               f"gradients, got dtype {self._data.dtype}")
        self._requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op."""
        return self._node is None

    @property
    def grad_fn(self):
        """The tape node that produced this tensor (None for leaves)."""
        return self._node

    @property
    def grad(self):
        """The gradient accumulated by ``backward()`` (None until then)."""
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is None:
            self._grad = None
            return
        if getattr(value, "is_sparse", False):
            self._grad = value
            return
        if not isinstance(value, Tensor):
            raise TypeError(f"grad must be a Tensor or None, got {type(value).__name__}")
        g = <Tensor>value
        if (<object>g._data).shape != (<object>self._data).shape or g._data.dtype != self._data.dtype:
            raise ValueError(f"grad: assigned gradient of shape {(<object>g._data).shape} and dtype "
                             f"{g._data.dtype} to a tensor of shape {(<object>self._data).shape} and "
                             f"dtype {self._data.dtype}")
        self._grad = g if cnp.PyArray_IS_C_CONTIGUOUS(g._data) else wrap(np.asarray(g._data, order="C"))

    @property
    def is_sparse(self) -> bool:
        return False

    @property
    def _version(self) -> int:
        return 0 if self._counter is None else self._counter.value

    def _bump_version(self) -> None:
        """Record an in-place modification of the buffer (made outside fastgrad's ops)."""
        bump(self)

    # ----- conversion -----------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shares memory: writes show in the tensor)."""
        return self._data

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if cnp.PyArray_SIZE(self._data) != 1:
            raise ValueError(f"item: only one-element tensors can be converted to Python "
                             f"scalars, got shape {(<object>self._data).shape}")
        return self._data.item()

    def tolist(self):
        """The values as (nested) Python lists."""
        return self._data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __repr__(self):
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = ""
        if self._data.dtype != float32 and self._data.dtype.kind == "f":
            extra += f", dtype={self._data.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.name()}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def detach(self) -> "Tensor":
        """A tensor sharing this buffer, outside the graph."""
        cdef Tensor t = wrap(self._data)
        t._counter = version_of(self)
        return t

    def clone(self) -> "Tensor":
        """A copy of the tensor that stays differentiable."""
        return _ops.clone(self)

    def astype(self, dtype) -> "Tensor":
        """A copy converted to ``dtype`` (differentiable between float dtypes)."""
        return _ops.cast(self, dtype)

    def to(self, dtype) -> "Tensor":
        """Same as :meth:`astype`; returns ``self`` when the dtype already matches."""
        return self if np.dtype(dtype) == self._data.dtype else _ops.cast(self, dtype)

    def float(self) -> "Tensor":
        return self.to(float32)

    def double(self) -> "Tensor":
        return self.to(float64)

    # ----- autograd -------------------------------------------------------------------
    def backward(self, gradient=None, bint retain_graph=False) -> None:
        """Run the reverse sweep from this tensor, accumulating into leaves' ``.grad``.

        Parameters
        ----------
        gradient : Tensor or array_like, optional
            The gradient of the final objective w.r.t. this tensor (same shape). Needed
            unless the tensor has a single element, where it defaults to 1.
        retain_graph : bool
            Keep the saved buffers so that backward can run through the graph again.
        """
        if not self._requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no "
                               "grad_fn (nothing recorded leads to it)")
        cdef cnp.ndarray seed
        if gradient is None:
            if cnp.PyArray_SIZE(self._data) != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for "
                                   f"one-element outputs, this one has shape {(<object>self._data).shape}; "
                                   "pass gradient=")
            seed = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(self._data), cnp.PyArray_DIMS(self._data),
                                     cnp.PyArray_TYPE(self._data), 0)
            seed.fill(1)
        else:
            seed = np.asarray((<Tensor>gradient)._data if isinstance(gradient, Tensor) else gradient)
            if (<object>seed).shape != (<object>self._data).shape:
                raise ValueError(f"backward: gradient has shape {(<object>seed).shape} but the output "
                                 f"has shape {(<object>self._data).shape}")
            seed = np.array(seed, dtype=self._data.dtype, order="C")   # a copy: never the caller's
        root = self._node if self._node is not None else edge(self)
        run_backward(root, seed, retain_graph)

    # ----- operators (each op lives in its _kernels module) --------------------------
    def __add__(self, other): return _ops.add(self, other)
    def __radd__(self, other): return _ops.add(other, self)
    def __sub__(self, other): return _ops.sub(self, other)
    def __rsub__(self, other): return _ops.sub(other, self)
    def __mul__(self, other): return _ops.mul(self, other)
    def __rmul__(self, other): return _ops.mul(other, self)
    def __truediv__(self, other): return _ops.div(self, other)
    def __rtruediv__(self, other): return _ops.div(other, self)
    def __neg__(self): return _ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _ops.abs(self)
    def __pow__(self, exponent, modulo=None): return _ops.pow(self, exponent)
    def __rpow__(self, base, modulo=None): return _ops.rpow(base, self)
    def __matmul__(self, other): return _ops.matmul(self, other)
    def __rmatmul__(self, other): return _ops.matmul(other, self)
    def __getitem__(self, key): return _ops.getitem(self, key)
    def __lt__(self, other): return _ops.compare(np.less, self, other)
    def __le__(self, other): return _ops.compare(np.less_equal, self, other)
    def __gt__(self, other): return _ops.compare(np.greater, self, other)
    def __ge__(self, other): return _ops.compare(np.greater_equal, self, other)
    def __eq__(self, other): return _ops.compare(np.equal, self, other)
    def __ne__(self, other): return _ops.compare(np.not_equal, self, other)
    __hash__ = object.__hash__

    # ----- in-place ops ---------------------------------------------------------------
    cdef object _inplace(self, str name, object fn, object other):
        """Compute ``fn(self, other)`` and write it into self's buffer, bumping its version."""
        if self._requires_grad and self._node is None and grad_enabled():
            raise RuntimeError(f"{name}: a leaf tensor that requires grad is being used in an "
                               "in-place operation; wrap it in fastgrad.no_grad()")
        cdef Tensor result = fn(self, other)
        if (<object>result._data).shape != (<object>self._data).shape:
            raise ValueError(f"{name}: the result of shape {(<object>result._data).shape} cannot be "
                             f"written in place into a tensor of shape {(<object>self._data).shape}")
        np.copyto(self._data, result._data, casting="same_kind")
        bump(self)
        if result._node is not None:
            self._node = result._node
            self._requires_grad = True
        return self

    def add_(self, other, *, alpha=1):
        """In place: ``self += alpha * other``."""
        return self._inplace("add_", _ops.add, other if alpha == 1 else other * alpha)

    def sub_(self, other, *, alpha=1):
        """In place: ``self -= alpha * other``."""
        return self._inplace("sub_", _ops.sub, other if alpha == 1 else other * alpha)

    def mul_(self, other):
        """In place: ``self *= other``."""
        return self._inplace("mul_", _ops.mul, other)

    def div_(self, other):
        """In place: ``self /= other``."""
        return self._inplace("div_", _ops.div, other)

    def __iadd__(self, other): return self._inplace("add_", _ops.add, other)
    def __isub__(self, other): return self._inplace("sub_", _ops.sub, other)
    def __imul__(self, other): return self._inplace("mul_", _ops.mul, other)
    def __itruediv__(self, other): return self._inplace("div_", _ops.div, other)

    cdef _overwrite(self, str name):
        if self._requires_grad and grad_enabled():
            raise RuntimeError(f"{name}: in-place overwrite of a tensor that requires grad; "
                               "wrap it in fastgrad.no_grad() or detach() first")
        bump(self)

    def zero_(self):
        """In place: set every element to 0."""
        self._overwrite("zero_")
        self._data[...] = 0
        return self

    def fill_(self, value):
        """In place: set every element to ``value``."""
        self._overwrite("fill_")
        self._data[...] = value
        return self

    def copy_(self, src):
        """In place: copy ``src`` (broadcastable to this shape) into this tensor."""
        self._overwrite("copy_")
        np.copyto(self._data, src._data if isinstance(src, Tensor) else np.asarray(src),
                  casting="same_kind")
        return self

    # ----- methods delegating to ops ---------------------------------------------------
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.sum(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.mean(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.max(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _ops.min(self, dim, keepdim, axis=axis, keepdims=keepdims)

    def exp(self): return _ops.exp(self)
    def log(self): return _ops.log(self)
    def sqrt(self): return _ops.sqrt(self)
    def abs(self): return _ops.abs(self)
    def tanh(self): return _ops.tanh(self)
    def sigmoid(self): return _ops.sigmoid(self)
    def relu(self): return _ops.relu(self)
    def neg(self): return _ops.neg(self)
    def pow(self, exponent): return _ops.pow(self, exponent)
    def matmul(self, other): return _ops.matmul(self, other)
    def maximum(self, other): return _ops.maximum(self, other)
    def minimum(self, other): return _ops.minimum(self, other)

    def reshape(self, *shape):
        return _ops.reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def view(self, *shape):
        return _ops.view(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def flatten(self):
        return _ops.reshape(self, (-1,))

    def transpose(self, dim0=-2, dim1=-1):
        return _ops.transpose(self, dim0, dim1)

    def t(self):
        return _ops.transpose(self)

    def unsqueeze(self, int dim):
        shape = list((<object>self._data).shape)
        shape.insert(dim if dim >= 0 else len(shape) + 1 + dim, 1)
        return _ops.reshape(self, tuple(shape))

    def squeeze(self, dim=None):
        shape = (<object>self._data).shape
        if dim is None:
            new = tuple(s for s in shape if s != 1)
        else:
            d = dim if dim >= 0 else len(shape) + dim
            new = shape[:d] + shape[d + 1:] if shape[d] == 1 else shape
        return _ops.reshape(self, new)

    def expand(self, *shape):
        return _ops.expand(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)
