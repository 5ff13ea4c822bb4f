"""The cuda backend: CUDA C++ kernels (``*.cu``, ``fastbp_common.cuh``), their
source (``source``), the launch plans (``plan``), the tuner that checks and
times them on the user's GPU (``tune``), this machine's record of its
decisions (``record``), all pure Python, and ``CudaBackend`` (``backend``,
CuPy host code). Importing this package imports neither CuPy nor anything
that needs a GPU.
"""
