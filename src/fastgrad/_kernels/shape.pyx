"""Structural ops: reshape/view, transpose, expand, indexing, concat, stack, where.

These move or select elements rather than compute: the forward is a numpy view or copy
(validated by numpy, which raises IndexError/ValueError and never reads out of bounds),
and the backward scatters the gradient back into the input's buffer.
"""
cimport cython
cimport numpy as cnp
import numpy as np

from fastgrad._tape cimport Node, accumulate, add_into
from fastgrad._tensor cimport (Tensor, wrap, attach, recording, version_of, as_tensor,
                               as_operand, is_float)

cnp.import_array()


@cython.no_gc
cdef class ReshapeBackward(Node):
    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is not None:
            gx = target.grad_buffer()
            accumulate(gx, g.reshape((<object>gx).shape))


cdef Tensor _view_result(Tensor a, cnp.ndarray out, Node node):
    """Outputs that alias the input's memory share its version counter."""
    cdef Tensor t = attach(out, node, (a,)) if recording(a) else wrap(out)
    if np.shares_memory(out, a._data):
        t._counter = version_of(a)
    return t


def reshape(x, shape):
    """The same elements in a new shape (a view when the memory layout allows)."""
    cdef Tensor a = as_tensor(x, "reshape")
    if isinstance(shape, int):
        shape = (shape,)
    try:
        out = a._data.reshape(tuple(shape))
    except (ValueError, TypeError) as e:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {(<object>a._data).shape} "
                         f"into shape {tuple(shape)}") from e
    return _view_result(a, out, ReshapeBackward.__new__(ReshapeBackward))


def view(x, shape):
    """Like :func:`reshape` but never copies: fails unless the memory layout allows a view."""
    cdef Tensor a = as_tensor(x, "view")
    if isinstance(shape, int):
        shape = (shape,)
    out = a._data.view()
    try:
        (<object>out).shape = tuple(shape)
    except (AttributeError, ValueError) as e:
        raise ValueError(f"view: a tensor of shape {(<object>a._data).shape} and strides "
                         f"{(<object>a._data).strides} cannot be viewed as shape {tuple(shape)}; "
                         "use reshape()") from e
    return _view_result(a, out, ReshapeBackward.__new__(ReshapeBackward))


@cython.no_gc
cdef class TransposeBackward(Node):
    cdef tuple axes

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is not None:
            add_into(target, g.transpose(np.argsort(self.axes)))


def transpose(x, dim0=None, dim1=None):
    """Swap two dimensions (all of them reversed when none are given); a view, no copy."""
    cdef Tensor a = as_tensor(x, "transpose")
    cdef int nd = a._data.ndim
    if dim0 is None:
        axes = tuple(range(nd))[::-1]
    else:
        if not (-nd <= dim0 < nd and -nd <= dim1 < nd) or nd == 0:
            raise IndexError(f"transpose: dims ({dim0}, {dim1}) out of range for a tensor "
                             f"of shape {(<object>a._data).shape}")
        perm = list(range(nd))
        perm[dim0], perm[dim1] = perm[dim1], perm[dim0]
        axes = tuple(perm)
    cdef TransposeBackward node = TransposeBackward.__new__(TransposeBackward)
    node.axes = axes
    return _view_result(a, a._data.transpose(axes), node)


def permute(x, *dims):
    """Reorder the dimensions (a view)."""
    cdef Tensor a = as_tensor(x, "permute")
    if len(dims) == 1 and not isinstance(dims[0], int):
        dims = tuple(dims[0])
    if sorted(d % max(a._data.ndim, 1) for d in dims) != list(range(a._data.ndim)):
        raise ValueError(f"permute: {dims} is not a permutation of the dims of shape {(<object>a._data).shape}")
    cdef TransposeBackward node = TransposeBackward.__new__(TransposeBackward)
    node.axes = tuple(d % a._data.ndim for d in dims)
    return _view_result(a, a._data.transpose(node.axes), node)


cdef tuple summed_axes(tuple in_shape, tuple out_shape):
    """The axes of ``out_shape`` that broadcasting created from ``in_shape``."""
    cdef Py_ssize_t lead = len(out_shape) - len(in_shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(in_shape) if s == 1 and out_shape[lead + i] != 1)


@cython.no_gc
cdef class ExpandBackward(Node):
    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is None:
            return
        gx = target.grad_buffer()
        axes = summed_axes(target.shape, (<object>g).shape)
        accumulate(gx, g.sum(axis=axes).reshape((<object>gx).shape) if axes else g)


def expand(x, shape):
    """Broadcast ``x`` to ``shape`` (a read-only view; the backward sums over new axes)."""
    cdef Tensor a = as_tensor(x, "expand")
    shape = tuple(s if s != -1 else (<object>a._data).shape[i - len(shape) + a._data.ndim]
                  for i, s in enumerate(shape))
    try:
        out = np.broadcast_to(a._data, shape)
    except ValueError as e:
        raise ValueError(f"expand: shape {(<object>a._data).shape} cannot be broadcast to {shape}") from e
    return _view_result(a, out, ExpandBackward.__new__(ExpandBackward))


def broadcast_to(x, shape):
    """Alias of :func:`expand`."""
    return expand(x, shape)


@cython.no_gc
cdef class IndexBackward(Node):
    cdef object key
    cdef bint advanced

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Node target = self.next[0]
        if target is None:
            return
        gx = target.grad_buffer()
        if self.advanced:
            np.add.at(gx, self.key, g)             # scatter-add: repeated indices sum
        else:
            view = gx[self.key]
            np.add(view, g, out=view)


cdef object normalize_key(object key, tuple shape):
    """Turn Tensors into arrays and check integer/bool index arrays before numpy sees them."""
    if isinstance(key, Tensor):
        key = (<Tensor>key)._data
    elif isinstance(key, list):
        key = np.asarray(key)
    if isinstance(key, tuple):
        return tuple(normalize_key(k, shape) for k in key)
    if isinstance(key, np.ndarray) and key.dtype.kind not in "iub":
        raise IndexError(f"getitem: tensors used as indices must be integer or bool, got dtype "
                         f"{key.dtype} (indexing a tensor of shape {shape})")
    return key


cdef bint is_advanced(object key):
    if isinstance(key, tuple):
        return any(is_advanced(k) for k in key)
    return isinstance(key, np.ndarray) and key.ndim > 0 or isinstance(key, np.ndarray) and key.dtype == bool


def getitem(x, key):
    """``x[key]``: basic slices give views; integer/bool arrays gather (scatter-add backward)."""
    cdef Tensor a = as_tensor(x, "getitem")
    key = normalize_key(key, (<object>a._data).shape)
    try:
        out = a._data[key]
    except IndexError as e:
        raise IndexError(f"getitem: {e} (tensor of shape {(<object>a._data).shape})") from None
    out = np.asarray(out)
    cdef IndexBackward node = IndexBackward.__new__(IndexBackward)
    node.key = key
    node.advanced = is_advanced(key)
    return _view_result(a, out, node)


@cython.no_gc
cdef class ConcatBackward(Node):
    cdef int dim
    cdef list bounds

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Py_ssize_t i
        cdef Node target
        index = [slice(None)] * g.ndim
        for i, target in enumerate(self.next):
            if target is not None:
                index[self.dim] = slice(self.bounds[i], self.bounds[i + 1])
                add_into(target, g[tuple(index)])


def _check_seq(str op, tensors):
    if isinstance(tensors, Tensor) or not hasattr(tensors, "__len__") or len(tensors) == 0:
        raise TypeError(f"{op}: expected a non-empty sequence of tensors")
    ts = [as_tensor(t, op) for t in tensors]
    dtypes = {(<Tensor>t)._data.dtype for t in ts}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: all tensors must have one dtype, got {sorted(map(str, dtypes))}")
    return ts


def concat(tensors, dim=0):
    """Join tensors along an existing dimension ``dim``."""
    ts = _check_seq("concat", tensors)
    try:
        out = np.concatenate([(<Tensor>t)._data for t in ts], axis=dim)
    except (ValueError, np.exceptions.AxisError) as e:
        raise ValueError(f"concat: cannot join shapes {[(<object>t).shape for t in ts]} along dim {dim}: {e}") from None
    if not any(recording(<Tensor>t) for t in ts):
        return wrap(out)
    cdef ConcatBackward node = ConcatBackward.__new__(ConcatBackward)
    node.dim = dim % out.ndim
    node.bounds = [0]
    for t in ts:
        node.bounds.append(node.bounds[-1] + (<Tensor>t)._data.shape[node.dim])
    return attach(out, node, tuple(ts))


@cython.no_gc
cdef class StackBackward(Node):
    cdef int dim

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Py_ssize_t i
        cdef Node target
        for i, target in enumerate(self.next):
            if target is not None:
                add_into(target, np.take(g, i, axis=self.dim))


def stack(tensors, dim=0):
    """Join tensors of one shape along a new dimension ``dim``."""
    ts = _check_seq("stack", tensors)
    try:
        out = np.stack([(<Tensor>t)._data for t in ts], axis=dim)
    except (ValueError, np.exceptions.AxisError) as e:
        raise ValueError(f"stack: cannot stack shapes {[(<object>t).shape for t in ts]} along dim {dim}: {e}") from None
    if not any(recording(<Tensor>t) for t in ts):
        return wrap(out)
    cdef StackBackward node = StackBackward.__new__(StackBackward)
    node.dim = dim % out.ndim
    return attach(out, node, tuple(ts))


@cython.no_gc
cdef class WhereBackward(Node):
    cdef cnp.ndarray cond

    cdef void apply(self, cnp.ndarray g) except *:
        cdef Py_ssize_t i
        cdef Node target
        for i, target in enumerate(self.next):
            if target is None:
                continue
            part = np.where(self.cond, g, 0) if i == 0 else np.where(self.cond, 0, g)
            axes = summed_axes(target.shape, (<object>g).shape)
            add_into(target, part.sum(axis=axes).reshape(target.shape) if axes else part)

    cdef void release(self):
        Node.release(self)
        self.cond = None


def where(condition, x, y):
    """Elements of ``x`` where ``condition`` holds, else of ``y`` (broadcasting)."""
    cond = np.asarray((<Tensor>condition)._data if isinstance(condition, Tensor) else condition)
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be bool, got dtype {cond.dtype}")
    cdef Tensor a = as_operand(x, y if isinstance(y, Tensor) else None, "where")
    cdef Tensor b = as_operand(y, a, "where")
    try:
        out = np.where(cond, a._data, b._data)
    except ValueError:
        raise ValueError(f"where: shapes {(<object>cond).shape}, {(<object>a._data).shape} and {(<object>b._data).shape} "
                         "cannot be broadcast together") from None
    if not (recording(a) or recording(b)):
        return wrap(out)
    cdef WhereBackward node = WhereBackward.__new__(WhereBackward)
    node.cond = np.broadcast_to(cond, (<object>out).shape)
    return attach(out, node, (a, b))
