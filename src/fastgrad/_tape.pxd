cimport cython
cimport numpy as cnp

cdef class VersionCounter:
    cdef Py_ssize_t value


@cython.no_gc            # subclasses see this declaration: keep them untracked too
cdef class Node:
    cdef readonly Py_ssize_t seq          # recording order: a valid topological order
    cdef tuple next                       # one edge per input: the input's Node, or None (no grad)
    cdef cnp.ndarray grad                 # gradient w.r.t. this node's output, during a sweep
    cdef tuple shape                      # shape and dtype (numpy type number) of the output
    cdef int typenum
    cdef VersionCounter saved0, saved1     # counters of up to two saved buffers ...
    cdef Py_ssize_t version0, version1     # ... and their versions when saved
    cdef list saved_more                   # [counter, version, ...] beyond two (rare)
    cdef bint released
    cdef Py_ssize_t pending               # consumers not yet swept (dependency count)
    cdef Py_ssize_t mark                  # id of the last sweep that reached this node

    cdef cnp.ndarray grad_buffer(self)
    cdef cnp.ndarray grad_target(self, bint* fresh)
    cdef void seed(self, cnp.ndarray grad) except *
    cdef void apply(self, cnp.ndarray grad) except *
    cdef void release(self)
    cdef void save_version(self, VersionCounter counter)
    cdef void check(self) except *


cdef bint grad_enabled() noexcept
cdef void accumulate(cnp.ndarray dst, cnp.ndarray src) except *
cdef void add_into(Node target, object grad) except *
cdef cnp.ndarray zeros(tuple shape, int typenum)
