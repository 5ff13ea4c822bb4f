"""CuPy GPU backend (not implemented yet: issue 4)."""
from ..errors import BackendUnavailableError

raise BackendUnavailableError("backend 'cuda' is not implemented yet in this version of fastbp (issue 4)")
