// fastbp_layers.cu: the contract's batched kernels, whole matrices, one
// thread per output of a 16 x 16 tile:
//   fastbp_forward<T>:      C[i][j] = s(sum_k A[i][k] B[k][j])       A: MxK, B: KxN
//   fastbp_hidden_delta<T>: C[i][k] = (sum_j A[i][j] B[k][j]) E[i][k] (1 - E[i][k])
//                           (A = D_next: MxK', B = W_l: NxK', E = A_l: MxN)
//   fastbp_forward_unit<T, UNIT>, fastbp_hidden_delta_unit<T, UNIT>: the same
//   with other units (UNIT: 1 tanh, 2 relu, 3 linear, 0 being the sigmoid;
//   source.UNIT_CODES names them for the host)
// The unit / its derivative (on the activation value, as the NumPy backend
// writes it) are applied to the accumulator in registers, in the same pass
// that produces the product. The sigmoid is the one built on CUDA's exp
// (Ops::sigmoid_short), a few ulp from the persistent kernels' sigmoid.
#include "fastbp_common.cuh"

template <typename T, int UNIT>
__device__ __forceinline__ T fastbp_unit(T z) {
    if (UNIT == 0) return Ops<T>::sigmoid_short(z);  // CUDA's exp
    if (UNIT == 1) return tanh(z);
    if (UNIT == 2) return z < T(0) ? T(0) : z;  // relu; NaN stays NaN
    return z;                                    // linear
}

template <typename T, int UNIT>
__device__ __forceinline__ T fastbp_unit_deriv(T g, T a) {
    if (UNIT == 0) return g * a * (T(1) - a);  // NumPy's order
    if (UNIT == 1) return g * (T(1) - a * a);
    return a > T(0) ? g : T(0);  // relu
}

template <typename T, bool TRANS_B, bool DSIG, int UNIT>
__device__ __forceinline__ void fastbp_gemm_tile(const T* __restrict__ A, const T* __restrict__ B,
                                                 const T* __restrict__ E, T* __restrict__ C,
                                                 int M, int N, int K) {
    __shared__ T As[FASTBP_GEMM_TILE][FASTBP_GEMM_TILE + 1];
    __shared__ T Bs[FASTBP_GEMM_TILE][FASTBP_GEMM_TILE + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int row = blockIdx.y * FASTBP_GEMM_TILE + ty;
    const int col = blockIdx.x * FASTBP_GEMM_TILE + tx;
    T acc = T(0);
    for (int t0 = 0; t0 < K; t0 += FASTBP_GEMM_TILE) {
        const int ka = t0 + tx;
        As[ty][tx] = (row < M && ka < K) ? A[(size_t)row * K + ka] : T(0);
        const int kb = t0 + ty;
        if (TRANS_B) {
            // Bs[kk][c] = B[col_tile + c][t0 + kk]; load coalesced along k
            const int brow = blockIdx.x * FASTBP_GEMM_TILE + ty;
            const int bk = t0 + tx;
            Bs[tx][ty] = (brow < N && bk < K) ? B[(size_t)brow * K + bk] : T(0);
        } else {
            Bs[ty][tx] = (kb < K && col < N) ? B[(size_t)kb * N + col] : T(0);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < FASTBP_GEMM_TILE; ++kk) acc += As[ty][kk] * Bs[kk][tx];
        __syncthreads();
    }
    if (row < M && col < N) {
        const size_t o = (size_t)row * N + col;
        if (DSIG) C[o] = fastbp_unit_deriv<T, UNIT>(acc, E[o]);
        else C[o] = fastbp_unit<T, UNIT>(acc);
    }
}

template <typename T>
__global__ void fastbp_forward(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                               int M, int N, int K) {
    fastbp_gemm_tile<T, false, false, 0>(A, B, nullptr, C, M, N, K);
}

template <typename T>
__global__ void fastbp_hidden_delta(const T* __restrict__ Dn, const T* __restrict__ W,
                                    const T* __restrict__ Al, T* __restrict__ C, int M, int N, int K) {
    fastbp_gemm_tile<T, true, true, 0>(Dn, W, Al, C, M, N, K);
}

template <typename T, int UNIT>
__global__ void fastbp_forward_unit(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                                    int M, int N, int K) {
    fastbp_gemm_tile<T, false, false, UNIT>(A, B, nullptr, C, M, N, K);
}

template <typename T, int UNIT>
__global__ void fastbp_hidden_delta_unit(const T* __restrict__ Dn, const T* __restrict__ W,
                                         const T* __restrict__ Al, T* __restrict__ C, int M, int N, int K) {
    fastbp_gemm_tile<T, true, true, UNIT>(Dn, W, Al, C, M, N, K);
}
