"""Numba CPU backend (not implemented yet: issue 3)."""
from ..errors import BackendUnavailableError

raise BackendUnavailableError("backend 'numba' is not implemented yet in this version of fastbp (issue 3)")
