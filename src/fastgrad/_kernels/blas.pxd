# CBLAS from scipy-openblas32 (symbols prefixed scipy_), wrapped for fused float/double.
from cython cimport floating

cdef extern from "cblas.h" nogil:
    enum CBLAS_ORDER:
        CblasRowMajor
    enum CBLAS_TRANSPOSE:
        CblasNoTrans
        CblasTrans
    void scipy_cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb,
                           int m, int n, int k, float alpha, const float* a, int lda,
                           const float* b, int ldb, float beta, float* c, int ldc)
    void scipy_cblas_dgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb,
                           int m, int n, int k, double alpha, const double* a, int lda,
                           const double* b, int ldb, double beta, double* c, int ldc)
    int scipy_openblas_get_num_threads()
    void scipy_openblas_set_num_threads(int n)
    char* scipy_openblas_get_config()
    char* scipy_openblas_get_corename()


# m * n * k below which a product runs single-threaded (measured: a 64x250x100 training
# step is 6x faster on one thread on a 2-core machine with any other load).
cdef enum:
    SERIAL_GEMM_WORK = 1 << 25


cdef inline void gemm(bint trans_a, bint trans_b, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                      floating alpha, const floating* a, Py_ssize_t lda,
                      const floating* b, Py_ssize_t ldb, floating beta,
                      floating* c, Py_ssize_t ldc) noexcept nogil:
    """Row-major C = alpha * op(A) @ op(B) + beta * C, op(X) = X or X^T.

    Products under SERIAL_GEMM_WORK multiply-adds run on one thread: OpenBLAS's worker
    threads cost more than they save there, and far more when the cores are busy.
    """
    cdef CBLAS_TRANSPOSE ta = CblasTrans if trans_a else CblasNoTrans
    cdef CBLAS_TRANSPOSE tb = CblasTrans if trans_b else CblasNoTrans
    cdef bint serial = m * n * k < SERIAL_GEMM_WORK
    cdef int threads = 1
    if serial:
        threads = scipy_openblas_get_num_threads()
        if threads > 1:
            scipy_openblas_set_num_threads(1)
    if floating is float:
        scipy_cblas_sgemm(CblasRowMajor, ta, tb, <int>m, <int>n, <int>k, alpha, a, <int>lda,
                          b, <int>ldb, beta, c, <int>ldc)
    else:
        scipy_cblas_dgemm(CblasRowMajor, ta, tb, <int>m, <int>n, <int>k, alpha, a, <int>lda,
                          b, <int>ldb, beta, c, <int>ldc)
    if serial and threads > 1:
        scipy_openblas_set_num_threads(threads)
