// fastbp CUDA kernels: what every kernel family shares.
//
// Families, one file each (fastbp/backends/cuda/source.py lists them; the
// host puts this header in front of a family's file and compiles it with
// NVRTC through cupy.RawModule):
//   fastbp_layers.cu  the contract's batched kernels (forward, hidden delta)
//   fastbp_block.cu   fastbp_train_block: one persistent block per network,
//                     weights in shared memory
//   fastbp_regs.cu    fastbp_train_regs: one persistent block per network,
//                     weights in registers
//   fastbp_grid.cu    fastbp_train_grid: one network over up to one block
//                     per SM, weights in their shared memories
// The three persistent kernels run E epochs of per-sample SGD over all N
// samples in ONE launch, each epoch the same operations as a launch of one
// epoch, and compute the reference loss after the epochs in record[0..R-1]
// on the device (fastbp_loss_part below).
//
// Notation (REFERENCE.md): d[0..L] are the widths with bias columns
// (d[l] = layers[l] + 1 for l < L, d[L] = layers[-1]); W[l] is d[l] x d[l+1],
// row-major. One SGD step on sample (x, y):
//   forward   A[0] = x, A[l+1] = s(A[l] W[l])
//   output    D[L] = (A[L] - y) A[L] (1 - A[L])
//   hidden    D[l] = (D[l+1] W[l]^T) A[l] (1 - A[l]),  l = L-1..1, pre-update W
//   update    W[l] -= alpha (A[l]^T D[l+1])
// The update is written with _rn intrinsics (never contracted into an FMA):
// it is exactly NumPy's w - alpha * (a * d), and copies of a weight updated
// from the same operands stay bitwise identical.
//
// FASTBP_HOST_EMULATION: tests/cuda_emulation.cpp compiles the families as
// host C++ (one OS thread per CUDA thread, one process per block) to check
// the kernels' logic without a GPU; it supplies the hooks marked below.
#ifndef FASTBP_COMMON_CUH
#define FASTBP_COMMON_CUH

#ifndef FASTBP_HOST_EMULATION
#define FASTBP_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#endif

#define FASTBP_MAX_DIMS 64            // at most 63 weight matrices
#define FASTBP_BLOCK_MAX_THREADS 512  // block size bound of every persistent kernel
#define FASTBP_GRID_THREADS 256       // fastbp_train_grid's block size
#define FASTBP_GEMM_TILE 16

// Status codes written by fastbp_train_grid (the host reads status[0]).
#define FASTBP_STATUS_OK 0
#define FASTBP_STATUS_BARRIER_TIMEOUT 1
#define FASTBP_STATUS_BAD_LAUNCH 2

// ----------------------------------------------------------------- helpers
template <typename T> struct Ops;

// 1 / (1 + exp(-z)) in float64 with a short dependency chain (the
// persistent kernels run one sigmoid per layer per sample on their critical
// path; CUDA's exp evaluates its polynomial by Horner's rule, 11 dependent
// multiply-adds). The numba backend's algorithm (_numba_kernels.vec_sigmoid),
// operation for operation, so the two give the same bits: Cody-Waite
// reduction -z = k ln2 + r, fdlibm's rational form of exp, e^r = (R + r) /
// (R - r) with R = 2 + r^2 P(r^2) (P of degree 4 by Horner's rule in r^2),
// 2^k from the bits of the round-to-nearest shifter t = -z log2(e) +
// 1.5 * 2^52, and (R - r) / ((R - r) + 2^k (R + r)) with one correctly
// rounded division. z is clamped to [-708, 708]: z = +-1000 gives 1 and
// 3.3e-308 (NumPy: 1 and 0), never NaN or inf; NaN stays NaN. Within 4 ulp
// of NumPy (tests/test_cuda_source.py).
__device__ __forceinline__ double fastbp_sigmoid_f64(double z) {
    constexpr double P[5] = {1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05, -1.65339022054652515390e-06, 4.13813679705723846039e-08};
    constexpr double SHIFT = 6755399441055744.0;  // 1.5 * 2^52
    z = z < -708.0 ? -708.0 : z;  // comparisons, not fmin/fmax: NaN stays NaN
    z = z > 708.0 ? 708.0 : z;
    const double t = fma(z, -1.4426950408889634, SHIFT);
    const double kf = t - SHIFT;
    double q = fma(kf, 6.93147180369123816490e-01, z);  // q = -r; ln 2, fdlibm's split
    q = fma(kf, 1.90821492927058770002e-10, q);
    const double q2 = q * q;
    double p = P[4];
    p = fma(p, q2, P[3]);
    p = fma(p, q2, P[2]);
    p = fma(p, q2, P[1]);
    p = fma(p, q2, P[0]);
    const double R = fma(q2, p, 2.0);
    const double num = R + q;  // R - r
    const long long bits = (long long)((unsigned long long)__double_as_longlong(t) << 52) + (1023LL << 52);
    return __ddiv_rn(num, fma(__longlong_as_double(bits), R - q, num));
}

template <> struct Ops<double> {
    static __device__ __forceinline__ double sigmoid(double z) { return fastbp_sigmoid_f64(z); }
    // the loss's sigmoid (fastbp_loss_part): CUDA's exp needs fewer registers
    // at once than fastbp_sigmoid_f64 (within a few ulp of it)
    static __device__ __forceinline__ double sigmoid_short(double z) { return __drcp_rn(1.0 + exp(-z)); }
    // w - alpha * (a * d), each operation rounded on its own (no FMA).
    static __device__ __forceinline__ double upd(double w, double alpha, double a, double d) {
        return __dsub_rn(w, __dmul_rn(alpha, __dmul_rn(a, d)));
    }
};

template <> struct Ops<float> {
    // __frcp_rn: the correctly rounded 1 / x (the same value) without the division's slow-path call
    static __device__ __forceinline__ float sigmoid(float z) { return __frcp_rn(1.0f + expf(-z)); }
    // the loss's sigmoid (fastbp_loss_part)
    static __device__ __forceinline__ float sigmoid_short(float z) { return sigmoid(z); }
    static __device__ __forceinline__ float upd(float w, float alpha, float a, float d) {
        return __fsub_rn(w, __fmul_rn(alpha, __fmul_rn(a, d)));
    }
};

// Groups of g lanes (a power of two, at most one warp) that share one output:
// the largest g that still covers n_out outputs in one pass of nt / g groups
// and does not exceed the next power of two of the reduction length n_red.
__host__ __device__ constexpr int fastbp_group_fixed(int n_out, int n_red, int nt) {
    int g = nt < 32 ? nt : 32;
    int red_pow2 = 1;
    while (red_pow2 < n_red) red_pow2 <<= 1;
    while (g > 1 && (g > red_pow2 || g * n_out > nt)) g >>= 1;
    return g;
}

// Sum of v over aligned groups of G lanes (shuffles only); every lane of a
// group gets the sum.
template <int G, typename T>
__device__ __forceinline__ T fastbp_group_sum_fixed(T v) {
#pragma unroll
    for (int off = G >> 1; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// Prefetch of the next sample's row: load() issues up to R loads per thread
// into registers early, store() writes them to shared memory later (the
// latency hides behind the work between the two); elements beyond
// R * nthreads are copied directly by store().
template <typename T, int R>
struct FastbpPrefetch {
    T v[R > 0 ? R : 1];
    __device__ __forceinline__ void load(const T* __restrict__ src, int n, int tid, int nt) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int i = tid + r * nt;
            v[r] = (i < n) ? src[i] : T(0);
        }
    }
    __device__ __forceinline__ void store(T* dst, const T* __restrict__ src, int n, int tid, int nt) const {
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const int i = tid + r * nt;
            if (i < n) dst[i] = v[r];
        }
        for (int i = tid + R * nt; i < n; i += nt) dst[i] = src[i];
    }
};

// A network shape d[0..L] as template arguments (the block and register
// kernels are compiled per shape: every size and offset a constant).
template <int... D>
struct FastbpShape {
    static constexpr int L = (int)sizeof...(D) - 1;
    __host__ __device__ static constexpr int d(int i) {
        constexpr int a[] = {D...};
        return a[i];
    }
    __host__ __device__ static constexpr int woff(int l) {
        int o = 0;
        for (int i = 0; i < l; ++i) o += d(i) * d(i + 1);
        return o;
    }
    // widest hidden layer (at least 1): fastbp_loss_part's hmax
    __host__ __device__ static constexpr int hmax() {
        int h = 1;
        for (int l = 1; l < L; ++l) h = d(l) > h ? d(l) : h;
        return h;
    }
};

// ------------------------------------------------- the loss on the device
template <bool CG, typename T>
__device__ __forceinline__ T fastbp_load(const T* p) {
    if constexpr (CG) return __ldcg(p);  // global memory written by other blocks: from L2
    else return *p;
}

__device__ __forceinline__ double fastbp_nan() { return __longlong_as_double(0x7ff8000000000000LL); }

// One block's part of the reference loss 0.5 * sum((predict(X1) - Y)^2):
// the sum of (A[L][i][j] - Y[i][j])^2 over the samples i = first, first +
// step, first + 2 step, ... < N, with the weights wl(l) (a pointer to W[l],
// row-major d[l] x d[l+1]; CG: in global memory written by other blocks),
// and NaN if one of the weights this block checks (elements check0,
// check0 + check_stride, ... of every layer) is not finite. One warp per
// sample, one lane per output unit, each dot product in input order (a
// plain loop: this code runs once per recorded epoch, and unrolled it would
// raise the register count of the whole kernel); activations in the warp's
// 2 x hmax elements of scratch (hmax: the widest hidden layer, at least 1);
// squares summed in float64. Every thread of the block calls it and gets the
// block's sum (warp sums added in warp order: the same bits on every run).
template <typename T, bool CG, typename WL>
__device__ __forceinline__ double fastbp_loss_part(WL wl, const int* d, int L, const T* __restrict__ X1,
                                                   const T* __restrict__ Y, int N, int first, int step, T* scratch,
                                                   int hmax, int check0, int check_stride) {
    __shared__ double fastbp_red[FASTBP_BLOCK_MAX_THREADS / 32 + 1];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = (int)(blockDim.x >> 5);
    double sq = 0.0;
    T* buf = scratch + (size_t)warp * 2 * hmax;
    for (int i = first + warp * step; i < N; i += nwarps * step) {
        const T* in = X1 + (size_t)i * d[0];
        for (int l = 0; l < L; ++l) {
            const int m = d[l], n = d[l + 1];
            const T* w = wl(l);
            T* out = buf + (l & 1) * hmax;
            for (int j = lane; j < n; j += 32) {
                T acc = T(0);
#pragma unroll 1
                for (int k = 0; k < m; ++k) acc += in[k] * fastbp_load<CG>(w + (size_t)k * n + j);
                const T a = Ops<T>::sigmoid_short(acc);
                if (l == L - 1) {
                    const double e = (double)(a - Y[(size_t)i * n + j]);
                    sq += e * e;
                } else {
                    out[j] = a;
                }
            }
            __syncwarp();
            in = out;
        }
    }
    for (int l = 0; l < L; ++l) {
        const int n = d[l] * d[l + 1];
        const T* w = wl(l);
        for (int i = check0; i < n; i += check_stride)
            if (!isfinite(fastbp_load<CG>(w + i))) sq = fastbp_nan();
    }
    for (int off = 16; off > 0; off >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, off);
    __syncthreads();  // the previous call's readers of fastbp_red are done
    if (lane == 0) fastbp_red[warp] = sq;
    __syncthreads();
    if (tid == 0) {
        double s = 0.0;
        for (int w = 0; w < nwarps; ++w) s += fastbp_red[w];
        fastbp_red[FASTBP_BLOCK_MAX_THREADS / 32] = s;
    }
    __syncthreads();
    return fastbp_red[FASTBP_BLOCK_MAX_THREADS / 32];
}

// The recorded loss: 0.5 * sum, NaN when it is not finite.
__device__ __forceinline__ double fastbp_loss_value(double sum) { return isfinite(sum) ? 0.5 * sum : fastbp_nan(); }

#endif  // FASTBP_COMMON_CUH
