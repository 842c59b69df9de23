cimport cython
cimport numpy as cnp
from fastgrad._tape cimport Node, VersionCounter

@cython.no_gc
cdef class Tensor:
    cdef cnp.ndarray _data            # the buffer (C-contiguous, or a strided view)
    cdef object _grad                 # Tensor, SparseRowGrad or None
    cdef bint _requires_grad
    cdef Node _node                   # the op that produced this tensor (None for leaves)
    cdef VersionCounter _counter      # created on first need; shared with views
    cdef object __weakref__
    cdef object _inplace(self, str name, object fn, object other)
    cdef _overwrite(self, str name)


@cython.no_gc
cdef class AccumulateGrad(Node):
    cdef Tensor variable


cdef Tensor wrap(cnp.ndarray data)
cdef Tensor attach(cnp.ndarray data, Node node, tuple inputs)
cdef Node edge(Tensor t)
cdef bint recording(Tensor a) noexcept
cdef bint recording2(Tensor a, Tensor b) noexcept
cdef VersionCounter version_of(Tensor t)
cdef void bump(Tensor t)
cdef Tensor as_tensor(object x, str op)
cdef Tensor as_operand(object x, Tensor like, str op)
cdef Tensor scalar_tensor(double value, int typenum)
cdef cnp.ndarray contiguous(Tensor t)
cdef bint is_float(cnp.ndarray a) noexcept
