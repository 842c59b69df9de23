"""The tape: graph nodes, the reverse sweep, grad mode and version counters.

Every differentiable op appends a :class:`Node` (a subclass that knows its backward)
to the graph. Its ``next`` edges point at the nodes of its inputs, so following edges
from the output walks the recorded tape backwards. ``run_backward`` does the reverse
sweep without recursion: one pass counts, for each reachable node, how many consumers
must deliver their gradient first; the second pass visits a node once all of its
consumers are done, calls its ``apply`` (downstream = upstream x local gradient,
accumulated with ``+=`` so fan-out sums), then releases what it saved.
"""
cimport cython
cimport numpy as cnp
import numpy as np

cnp.import_array()

cdef Py_ssize_t _next_seq = 0
cdef Py_ssize_t _sweeps = 0
cdef bint _grad_enabled = True


cdef bint grad_enabled() noexcept:
    return _grad_enabled


def is_grad_enabled() -> bool:
    """Return True when operations are being recorded for differentiation."""
    return _grad_enabled


def set_grad_enabled(bint mode) -> bool:
    """Turn recording on or off; return the previous mode."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = mode
    return previous


cdef class VersionCounter:
    """Counts in-place modifications of a buffer; shared by a tensor and its views."""
    def __cinit__(self):
        self.value = 0


cdef void accumulate(cnp.ndarray dst, cnp.ndarray src) except *:
    """dst += src for two arrays of the same shape (src may be strided)."""
    cdef Py_ssize_t i, n = cnp.PyArray_SIZE(dst)
    cdef double* dd
    cdef float* df
    if (cnp.PyArray_TYPE(dst) == cnp.PyArray_TYPE(src) and cnp.PyArray_IS_C_CONTIGUOUS(src)
            and cnp.PyArray_SIZE(src) == n):
        if cnp.PyArray_TYPE(dst) == cnp.NPY_DOUBLE:
            dd = <double*>cnp.PyArray_DATA(dst)
            with nogil:
                _acc(n, <const double*>cnp.PyArray_DATA(src), dd)
            return
        if cnp.PyArray_TYPE(dst) == cnp.NPY_FLOAT:
            df = <float*>cnp.PyArray_DATA(dst)
            with nogil:
                _acc(n, <const float*>cnp.PyArray_DATA(src), df)
            return
    np.add(dst, src, out=dst, casting="unsafe")


cdef void _acc(Py_ssize_t n, const cython.floating* src, cython.floating* dst) noexcept nogil:
    """dst[i] += src[i]."""
    cdef Py_ssize_t i
    for i in range(n):
        dst[i] += src[i]


cdef cnp.ndarray new_array(tuple shape, int typenum, bint zero):
    """A C-order array through numpy's C API (no Python-level call), zeroed or not."""
    cdef cnp.npy_intp dims[32]
    cdef Py_ssize_t d, nd = len(shape)
    if nd > 32:
        return (np.zeros if zero else np.empty)(shape, dtype=cnp.PyArray_DescrFromType(typenum))
    for d in range(nd):
        dims[d] = shape[d]
    if zero:
        return cnp.PyArray_ZEROS(<int>nd, dims, typenum, 0)
    return cnp.PyArray_EMPTY(<int>nd, dims, typenum, 0)


cdef cnp.ndarray zeros(tuple shape, int typenum):
    """A zero-filled C-order array."""
    return new_array(shape, typenum, True)


cdef cnp.ndarray empty(tuple shape, int typenum):
    """An uninitialised C-order array."""
    return new_array(shape, typenum, False)


cdef void add_into(Node target, object grad) except *:
    """Accumulate ``grad`` (an array of target's output shape) into target's buffer."""
    if target is not None:
        accumulate(target.grad_buffer(), np.asarray(grad))


cdef void check_version(Node node, VersionCounter counter, Py_ssize_t saved) except *:
    if counter.value != saved:
        raise RuntimeError(
            f"one of the tensors needed by {node.name()} for its gradient was modified by an "
            f"in-place operation (version {saved} was saved, it is now {counter.value})")


@cython.no_gc
cdef class Node:
    """One recorded operation: edges to its inputs' nodes and what its backward needs.

    Subclasses override ``apply(grad)``, which accumulates the gradient for each input
    into that input node's buffer (``self.next[i].grad_buffer()``).

    Nodes (and Tensors) are not tracked by Python's cyclic GC (``no_gc``): they never form
    cycles (a node points only at its inputs' nodes, saved arrays and plain values; a leaf's
    AccumulateGrad points at the leaf, whose own node is None), and tracking the objects
    every recorded op allocates cost about 30% of a long chain's time in collections.
    Freeing a long chain does not recurse deeply: the edges live in a tuple, and CPython's
    tuple deallocation defers nested frees past a fixed depth (its "trashcan"). Nodes
    must not use Cython's trashcan themselves: it needs the GC header no_gc removes.
    """

    def __cinit__(self):
        global _next_seq
        self.seq = _next_seq
        _next_seq += 1

    cdef cnp.ndarray grad_buffer(self):
        if self.grad is None:
            self.grad = zeros(self.shape, self.typenum)
        return self.grad

    cdef cnp.ndarray grad_target(self, bint* fresh):
        """The gradient buffer, for a caller that can either overwrite or accumulate:
        ``fresh[0]`` is True when the buffer was just allocated *uninitialised* and the
        caller must overwrite every element (e.g. gemm with beta = 0, saving the zero fill)."""
        fresh[0] = self.grad is None
        if fresh[0]:
            self.grad = empty(self.shape, self.typenum)
        return self.grad

    cdef void seed(self, cnp.ndarray grad) except *:
        """Start a sweep here with ``grad`` (a fresh array the node may keep)."""
        if self.grad is None:
            self.grad = grad
        else:
            accumulate(self.grad, grad)

    cdef void apply(self, cnp.ndarray grad) except *:
        pass

    cdef void release(self):
        self.released = True
        self.saved0 = self.saved1 = None
        self.saved_more = None

    cdef void save_version(self, VersionCounter counter):
        # two fixed slots: no per-node list, which Python's GC would have to track
        if self.saved0 is None:
            self.saved0, self.version0 = counter, counter.value
        elif self.saved1 is None:
            self.saved1, self.version1 = counter, counter.value
        else:
            if self.saved_more is None:
                self.saved_more = []
            self.saved_more += [counter, counter.value]

    cdef void check(self) except *:
        if self.released:
            raise RuntimeError(
                f"Trying to backward through the graph a second time ({self.name()}): its "
                "saved buffers were freed by the first backward(). Pass retain_graph=True "
                "to the first backward() if you need to backward twice.")
        cdef Py_ssize_t i
        if self.saved0 is not None:
            check_version(self, self.saved0, self.version0)
        if self.saved1 is not None:
            check_version(self, self.saved1, self.version1)
        if self.saved_more is not None:
            for i in range(0, len(self.saved_more), 2):
                check_version(self, self.saved_more[i], self.saved_more[i + 1])

    def name(self) -> str:
        """The op's name, e.g. ``MulBackward``."""
        return type(self).__name__

    @property
    def next_functions(self) -> tuple:
        """The nodes of this op's inputs (None where an input needs no gradient)."""
        return self.next

    def __repr__(self):
        return f"<{self.name()} #{self.seq}>"


def run_backward(Node root, cnp.ndarray seed, bint retain_graph=False):
    """Reverse sweep from ``root`` with initial gradient ``seed`` (same shape as root's
    output; a fresh array the sweep may keep).

    Pass 1 walks the edges with an explicit stack, checks every reachable node (released
    graph, in-place modifications) before any gradient is touched, and counts consumers.
    Pass 2 runs a node's backward once all its consumers have delivered their gradient.
    """
    global _sweeps
    _sweeps += 1
    cdef Py_ssize_t sweep = _sweeps
    cdef Node node, child
    cdef list stack = [root]
    root.mark = sweep
    root.pending = 0
    while stack:
        node = stack.pop()
        node.check()
        if node.next is None:
            continue
        for child in node.next:
            if child is None:
                continue
            if child.mark != sweep:
                child.mark = sweep
                child.pending = 0
                stack.append(child)
            child.pending += 1

    root.seed(seed)
    cdef list ready = [root]
    cdef cnp.ndarray grad
    while ready:
        node = ready.pop()
        grad = node.grad
        node.grad = None
        if grad is not None:         # no gradient arrived (e.g. a row-sparse one went to
            node.apply(grad)         # the leaf directly): nothing to propagate
        if not retain_graph:
            node.release()
        if node.next is None:
            continue
        for child in node.next:
            if child is None:
                continue
            child.pending -= 1
            if child.pending == 0:
                ready.append(child)
