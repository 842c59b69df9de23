from fastgrad.nn import functional
