// fastbp CUDA kernels, compiled at run time by CuPy (cupy.RawModule, NVRTC).
//
// Entry points are templates on the element type (float, double); the host
// asks for them by name expression, e.g. "fastbp_sgd_block<double>" (see
// fastbp/backends/_cuda_source.py, NAME_EXPRESSIONS).
//
// Notation (REFERENCE.md): d[0..L] are the widths with bias columns
// (d[l] = layers[l] + 1 for l < L, d[L] = layers[-1]); W[l] is d[l] x d[l+1],
// row-major. One SGD step on sample (x, y):
//   forward   A[0] = x, A[l+1] = s(A[l] W[l])
//   output    D[L] = (A[L] - y) A[L] (1 - A[L])
//   hidden    D[l] = (D[l+1] W[l]^T) A[l] (1 - A[l]),  l = L-1..1, pre-update W
//   update    W[l] -= alpha (A[l]^T D[l+1])
//
// Fusion used by both persistent kernels (fewer barriers per sample):
//   * the update of W[l], l >= 1, is fused into the hidden-delta pass of layer
//     l: the thread that reads W[l][k][j] for D[l][k] (old value) is the only
//     one that writes the updated W[l][k][j];
//   * the update of W[0] (and, in the grid kernel, of the column copies of
//     every layer) is applied lazily by the next sample's forward pass for
//     that layer, by the thread that owns the column, before it uses the
//     weight; after the last sample a flush applies the pending update.
// So one sample costs 2L - 1 barriers (L forward passes, L - 1 hidden deltas)
// in the shared-memory block kernels; the grid kernel (L >= 2) computes the
// first layer one sample ahead from x_{s+1} (W[0] - alpha x_s^T D1_s) =
// x_{s+1} W[0] - alpha (x_{s+1} . x_s) D1_s and needs 2L - 2; the register
// kernel fastbp_sgd_regs uses the same identity and one block barrier.
//
// The update is written with _rn intrinsics (never contracted into an FMA) so
// that it is exactly NumPy's w - alpha * (a * d), and so that the two copies
// of a weight kept by the grid kernel stay bitwise identical.

// FASTBP_HOST_EMULATION: tests/test_cuda_source.py compiles this file as
// host C++ (one OS thread per CUDA thread, one process per block) to check
// the persistent kernels' logic without a GPU; it supplies these two hooks.
#ifndef FASTBP_HOST_EMULATION
#define FASTBP_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#endif

#define FASTBP_MAX_DIMS 64           // at most 63 weight matrices
#define FASTBP_BLOCK_MAX_THREADS 512 // sgd_block launch bound
#define FASTBP_GRID_THREADS 256      // sgd_grid launch bound (and block size)
#define FASTBP_GEMM_TILE 16

// Status codes written by the grid kernel (host reads status[0]).
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
// reduction x = k ln2 + r, the degree-13 Taylor polynomial of e^r by
// Estrin's scheme (4 dependent multiply-adds), 2^k from the bits of the
// round-to-nearest shifter t = x log2(e) + 1.5 * 2^52, and
// 1 / (p 2^k + 1) with the correctly rounded reciprocal (__drcp_rn, the same
// value as 1.0 / x without the division slow-path call). x is clamped to
// [-708, 708]: z = +-1000 gives 1 and 3.3e-308 (NumPy: 1 and 0), never
// NaN or inf; NaN stays NaN. Within 4 ulp of NumPy (tests/test_cuda_source.py).
__device__ __forceinline__ double fastbp_sigmoid_f64(double z) {
    constexpr double C[14] = {1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664, 0.008333333333333333, 0.001388888888888889, 0.0001984126984126984, 2.48015873015873e-05, 2.7557319223985893e-06, 2.755731922398589e-07, 2.505210838544172e-08, 2.08767569878681e-09, 1.6059043836821613e-10};
    constexpr double SHIFT = 6755399441055744.0;  // 1.5 * 2^52
    double x = -z;
    x = x < -708.0 ? -708.0 : x;  // comparisons, not fmin/fmax: NaN stays NaN
    x = x > 708.0 ? 708.0 : x;
    const double t = fma(x, 1.4426950408889634, SHIFT);
    const double kf = t - SHIFT;
    double r = fma(-kf, 6.93147180369123816490e-01, x);  // ln 2, fdlibm's split
    r = fma(-kf, 1.90821492927058770002e-10, r);
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const double q0 = fma(C[1], r, C[0]), q1 = fma(C[3], r, C[2]), q2 = fma(C[5], r, C[4]);
    const double q3 = fma(C[7], r, C[6]), q4 = fma(C[9], r, C[8]), q5 = fma(C[11], r, C[10]);
    const double q6 = fma(C[13], r, C[12]);
    const double s0 = fma(q1, r2, q0), s1 = fma(q3, r2, q2), s2 = fma(q5, r2, q4);
    const double u0 = fma(s1, r4, s0), u1 = fma(q6, r4, s2);
    const double poly = fma(u1, r8, u0);
    const long long bits = (long long)((unsigned long long)__double_as_longlong(t) << 52) + (1023LL << 52);
    return __drcp_rn(fma(poly, __longlong_as_double(bits), 1.0));
}

template <> struct Ops<double> {
    static __device__ __forceinline__ double sigmoid(double z) { return fastbp_sigmoid_f64(z); }
    // w - alpha * (a * d), each operation rounded on its own (no FMA).
    static __device__ __forceinline__ double upd(double w, double alpha, double a, double d) {
        return __dsub_rn(w, __dmul_rn(alpha, __dmul_rn(a, d)));
    }
};

template <> struct Ops<float> {
    static __device__ __forceinline__ float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }
    static __device__ __forceinline__ float upd(float w, float alpha, float a, float d) {
        return __fsub_rn(w, __fmul_rn(alpha, __fmul_rn(a, d)));
    }
};

// Largest power of two g <= 32 * (blockDim / 32) such that one pass of
// blockDim / g groups covers n_out outputs and g does not exceed the next
// power of two of the reduction length. Uniform across the block.
__device__ __forceinline__ int fastbp_group_size(int n_out, int n_red, int nthreads) {
    int g = nthreads;
    int red_pow2 = 1;
    while (red_pow2 < n_red) red_pow2 <<= 1;
    while (g > 1 && (g > red_pow2 || g * n_out > nthreads)) g >>= 1;
    return g;
}

// Sum of v over aligned groups of g consecutive threads (g a power of two,
// g <= blockDim). Every thread of the block must call it (uniform g); every
// thread gets its group's sum. scratch holds blockDim / 32 values.
template <typename T>
__device__ __forceinline__ T fastbp_group_sum(T v, int g, T* scratch) {
    const int w = g < 32 ? g : 32;
    for (int off = w >> 1; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (g > 32) {
        const int warp = threadIdx.x >> 5;
        const int lane = threadIdx.x & 31;
        __syncthreads();                 // previous readers of scratch are done
        if (lane == 0) scratch[warp] = v;
        __syncthreads();
        const int wpg = g >> 5;
        const int first = (warp / wpg) * wpg;
        T s = scratch[first];
        for (int i = 1; i < wpg; ++i) s += scratch[first + i];
        v = s;
    }
    return v;
}

// Hidden delta with the fused update, for the rows r < rows of the
// row-major rows x n matrix w (the generic kernels): with the old weights
// acc = sum_j dn[j] w[r][j], then w[r][j] -= alpha a[r] dn[j]; one lane per
// row calls out(r, acc * a_r * (1 - a_r)) (NumPy's order). Every thread of
// the block calls it (group sums).
template <typename T, typename F>
__device__ __forceinline__ void fastbp_rows_delta(T* w, int rows, int n, const T* a, const T* dn, T alpha, T* scratch,
                                                  F out) {
    const int nthreads = blockDim.x, tid = threadIdx.x;
    const int g = fastbp_group_size(rows > 0 ? rows : 1, n, nthreads);
    const int ngroups = nthreads / g;
    const int grp = tid / g, lane = tid % g;
    for (int base = 0; base < rows; base += ngroups) {
        const int r = base + grp;
        T acc = T(0);
        T ar = T(0);
        if (r < rows) {
            ar = a[r];
            T* wr = w + r * n;
            for (int j = lane; j < n; j += g) {
                const T wold = wr[j];
                const T dj = dn[j];
                acc += dj * wold;
                wr[j] = Ops<T>::upd(wold, alpha, ar, dj);
            }
        }
        acc = fastbp_group_sum(acc, g, scratch);
        if (r < rows && lane == 0) out(r, acc * ar * (T(1) - ar));
    }
}

// Prefetch of the next sample's row: load() issues up to R loads per thread
// into registers at the start of a phase, store() writes them to shared
// memory at its end (the latency hides behind the phase's compute); any
// elements beyond R * blockDim are copied directly by store().
template <typename T, int R>
struct FastbpPrefetch {
    T v[R];
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

// ------------------------------------------------------------------------
// Persistent single-block SGD: block k trains network k over all N samples.
//
// wptrs[l] points at the stacked weights of layer l, network k at offset
// k * d[l] * d[l+1]. alphas[k] is network k's learning rate.
// Dynamic shared memory (in T units), see block_smem_elems() in
// _cuda_source.py: W (all layers) | x: 3 x d0 | y: 2 x dL |
// A[l], l=1..L: 2 x d[l] each | D[l], l=1..L: 2 x d[l] each | scratch: T/32.
// ------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(FASTBP_BLOCK_MAX_THREADS)
fastbp_sgd_block(const unsigned long long* __restrict__ wptrs, const int* __restrict__ dims_g, int L,
                 const T* __restrict__ X1, const T* __restrict__ Y, int N, const T* __restrict__ alphas) {
    FASTBP_DYNAMIC_SMEM(fastbp_smem_raw);
    T* smem = reinterpret_cast<T*>(fastbp_smem_raw);
    __shared__ int d[FASTBP_MAX_DIMS];
    __shared__ int woff[FASTBP_MAX_DIMS];
    __shared__ int aoff[FASTBP_MAX_DIMS];
    __shared__ int doff[FASTBP_MAX_DIMS];
    __shared__ int xoff, yoff, soff;

    const int tid = threadIdx.x;
    const int nthreads = blockDim.x;
    const int net = blockIdx.x;
    if (L < 1 || L >= FASTBP_MAX_DIMS) return;  // host validates; never taken

    if (tid == 0) {
        int o = 0;
        for (int l = 0; l <= L; ++l) d[l] = dims_g[l];
        for (int l = 0; l < L; ++l) { woff[l] = o; o += d[l] * d[l + 1]; }
        xoff = o; o += 3 * d[0];
        yoff = o; o += 2 * d[L];
        aoff[0] = -1;
        for (int l = 1; l <= L; ++l) { aoff[l] = o; o += 2 * d[l]; }
        doff[0] = -1;
        for (int l = 1; l <= L; ++l) { doff[l] = o; o += 2 * d[l]; }
        soff = o;
    }
    __syncthreads();

    const T alpha = alphas[net];
    T* scratch = smem + soff;
    const int d0 = d[0];
    const int dL = d[L];

    // load this network's weights
    for (int l = 0; l < L; ++l) {
        const int n = d[l] * d[l + 1];
        const T* src = reinterpret_cast<const T*>(wptrs[l]) + (size_t)net * n;
        T* dst = smem + woff[l];
        for (int i = tid; i < n; i += nthreads) dst[i] = src[i];
    }
    // first sample
    for (int i = tid; i < d0; i += nthreads) smem[xoff + i] = X1[i];
    for (int i = tid; i < dL; i += nthreads) smem[yoff + i] = Y[i];
    __syncthreads();

    for (int s = 0; s < N; ++s) {
        const int p = s & 1, q = p ^ 1;
        const T* x_cur = smem + xoff + (s % 3) * d0;
        const T* x_prev = smem + xoff + ((s + 2) % 3) * d0;   // sample s-1
        // ---------------- forward, layer by layer (last also makes D[L])
        for (int l = 0; l < L; ++l) {
            // Prefetch the next sample: the loads are issued here, into
            // registers, and stored to shared memory after this phase's
            // compute, so their latency is hidden behind it.
            const bool pf = (l == 0) && (s + 1 < N);
            const T* xs = X1 + (size_t)(s + 1 < N ? s + 1 : s) * d0;
            const T* ys = Y + (size_t)(s + 1 < N ? s + 1 : s) * dL;
            FastbpPrefetch<T, 2> xpf;
            FastbpPrefetch<T, 1> ypf;
            if (pf) {
                xpf.load(xs, d0, tid, nthreads);
                ypf.load(ys, dL, tid, nthreads);
            }
            const int n_red = d[l], n_out = d[l + 1];
            const T* in = (l == 0) ? x_cur : smem + aoff[l] + p * d[l];
            T* out = smem + aoff[l + 1] + p * n_out;
            T* w = smem + woff[l];
            const bool lazy = (l == 0) && (s > 0);
            const T* dprev = smem + doff[1] + q * d[1];  // D[1] of sample s-1
            const int g = fastbp_group_size(n_out, n_red, nthreads);
            const int ngroups = nthreads / g;
            const int grp = tid / g, lane = tid % g;
            for (int base = 0; base < n_out; base += ngroups) {
                const int j = base + grp;
                T acc = T(0);
                if (j < n_out) {
                    if (lazy) {
                        const T dj = dprev[j];
                        for (int k = lane; k < n_red; k += g) {
                            T wk = Ops<T>::upd(w[k * n_out + j], alpha, x_prev[k], dj);
                            w[k * n_out + j] = wk;
                            acc += in[k] * wk;
                        }
                    } else {
                        for (int k = lane; k < n_red; k += g) acc += in[k] * w[k * n_out + j];
                    }
                }
                acc = fastbp_group_sum(acc, g, scratch);
                if (j < n_out && lane == 0) {
                    const T a = Ops<T>::sigmoid(acc);
                    out[j] = a;
                    if (l == L - 1) {
                        const T yj = smem[yoff + p * dL + j];
                        smem[doff[L] + p * dL + j] = (a - yj) * a * (T(1) - a);
                    }
                }
            }
            if (pf) {
                T* xn = smem + xoff + ((s + 1) % 3) * d0;   // holds sample s-2: free
                T* yn = smem + yoff + q * dL;               // holds sample s-1: free
                xpf.store(xn, xs, d0, tid, nthreads);
                ypf.store(yn, ys, dL, tid, nthreads);
            }
            __syncthreads();
        }
        // ---------------- hidden deltas, top down, with the W[l] update fused
        for (int l = L - 1; l >= 1; --l) {
            const int n_rows = d[l], n_red = d[l + 1];
            T* dout = smem + doff[l] + p * n_rows;
            fastbp_rows_delta(smem + woff[l], n_rows, n_red, smem + aoff[l] + p * n_rows,
                              smem + doff[l + 1] + p * n_red, alpha, scratch, [&](int k, T dk) { dout[k] = dk; });
            __syncthreads();
        }
    }

    // flush the pending update of W[0] (last sample), then write back
    if (N > 0) {
        const int s = N - 1;
        const T* xl = smem + xoff + (s % 3) * d0;
        const T* d1 = smem + doff[1] + (s & 1) * d[1];
        T* w = smem + woff[0];
        const int n1 = d[1];
        for (int i = tid; i < d0 * n1; i += nthreads) {
            const int k = i / n1, j = i - k * n1;
            w[i] = Ops<T>::upd(w[i], alpha, xl[k], d1[j]);
        }
    }
    __syncthreads();
    for (int l = 0; l < L; ++l) {
        const int n = d[l] * d[l + 1];
        T* dst = reinterpret_cast<T*>(wptrs[l]) + (size_t)net * n;
        const T* src = smem + woff[l];
        for (int i = tid; i < n; i += nthreads) dst[i] = src[i];
    }
}

// ------------------------------------------------------------------------
// Shape-specialised persistent single-block SGD (the default "block" kernel):
// the same algorithm, phases, operations per weight and summation order as
// fastbp_sgd_block (bitwise the same weights wherever the generic kernel's
// group size is <= 32), but the thread count NT and the widths D... = d[0..L]
// are template arguments, e.g. "fastbp_sgd_block_fixed<double, 512, 65, 33,
// 17, 10>" (built by the host per network shape, see _cuda_source.py
// fixed_block_name). So every group size, loop bound, shared-memory offset,
// tid / g and tid % g is a constant, the inner loops unroll fully (the
// shared-memory loads of a phase are issued together) and there are no
// tables in shared memory. Groups are at most one warp (g <= 32): the
// reduction is shuffles only, no extra barriers. The next sample's x / y
// are loaded into registers at the start of a step and stored to shared
// memory at the end of its last phase (a whole step of latency hiding, not
// one phase). Same signature and dynamic shared memory as fastbp_sgd_block
// (dims_g and L are only checked against the template).
// ------------------------------------------------------------------------
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
    static constexpr int XOFF = woff(L);
    static constexpr int YOFF = XOFF + 3 * d(0);
    __host__ __device__ static constexpr int aoff(int l) {  // l = 1..L
        int o = YOFF + 2 * d(L);
        for (int i = 1; i < l; ++i) o += 2 * d(i);
        return o;
    }
    __host__ __device__ static constexpr int doff(int l) {  // l = 1..L
        int o = aoff(L + 1);
        for (int i = 1; i < l; ++i) o += 2 * d(i);
        return o;
    }
};

// fastbp_group_size with g capped at one warp (constant).
__host__ __device__ constexpr int fastbp_group_fixed(int n_out, int n_red, int nt) {
    int g = nt < 32 ? nt : 32;
    int red_pow2 = 1;
    while (red_pow2 < n_red) red_pow2 <<= 1;
    while (g > 1 && (g > red_pow2 || g * n_out > nt)) g >>= 1;
    return g;
}

template <int G, typename T>
__device__ __forceinline__ T fastbp_group_sum_fixed(T v) {
#pragma unroll
    for (int off = G >> 1; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// Forward pass of layer l (l == L - 1 also makes D[L]); LAZY: apply the
// pending update of W[0] from sample s-1 first (l == 0, s > 0 only).
template <typename T, int NT, typename S, int l, bool LAZY>
__device__ __forceinline__ void fastbp_fixed_forward(T* smem, int tid, int p, const T* x_cur, const T* x_prev,
                                                     T alpha) {
    constexpr int n_red = S::d(l), n_out = S::d(l + 1);
    constexpr int g = fastbp_group_fixed(n_out, n_red, NT);
    constexpr int ngroups = NT / g;
    constexpr int KPL = (n_red + g - 1) / g;
    constexpr int PASSES = (n_out + ngroups - 1) / ngroups;
    constexpr int q1 = S::d(1);
    const int grp = tid / g, lane = tid % g;  // constants: shift and mask
    const T* in = (l == 0) ? x_cur : smem + S::aoff(l) + p * n_red;
    T* out = smem + S::aoff(l + 1) + p * n_out;
    T* w = smem + S::woff(l);
    const T* dprev = smem + S::doff(1) + (p ^ 1) * q1;  // D[1] of sample s-1
#pragma unroll
    for (int pass = 0; pass < PASSES; ++pass) {
        const int j = pass * ngroups + grp;
        T acc = T(0);
        if (j < n_out) {
            if (LAZY) {
                const T dj = dprev[j];
#pragma unroll
                for (int i = 0; i < KPL; ++i) {
                    const int k = lane + i * g;
                    if (k < n_red) {
                        const T wk = Ops<T>::upd(w[k * n_out + j], alpha, x_prev[k], dj);
                        w[k * n_out + j] = wk;
                        acc += in[k] * wk;
                    }
                }
            } else {
#pragma unroll
                for (int i = 0; i < KPL; ++i) {
                    const int k = lane + i * g;
                    if (k < n_red) acc += in[k] * w[k * n_out + j];
                }
            }
        }
        acc = fastbp_group_sum_fixed<g>(acc);
        if (j < n_out && lane == 0) {
            const T a = Ops<T>::sigmoid(acc);
            out[j] = a;
            if (l == S::L - 1) {
                const T yj = smem[S::YOFF + p * S::d(S::L) + j];
                smem[S::doff(S::L) + p * S::d(S::L) + j] = (a - yj) * a * (T(1) - a);
            }
        }
    }
}

// Hidden delta D[l] with the fused update of W[l] (l = 1..L-1).
template <typename T, int NT, typename S, int l>
__device__ __forceinline__ void fastbp_fixed_hidden(T* smem, int tid, int p, T alpha) {
    constexpr int n_rows = S::d(l), n_red = S::d(l + 1);
    constexpr int g = fastbp_group_fixed(n_rows, n_red, NT);
    constexpr int ngroups = NT / g;
    constexpr int KPL = (n_red + g - 1) / g;
    constexpr int PASSES = (n_rows + ngroups - 1) / ngroups;
    const int grp = tid / g, lane = tid % g;
    const T* dn = smem + S::doff(l + 1) + p * n_red;
    const T* a = smem + S::aoff(l) + p * n_rows;
    T* dout = smem + S::doff(l) + p * n_rows;
    T* w = smem + S::woff(l);
#pragma unroll
    for (int pass = 0; pass < PASSES; ++pass) {
        const int k = pass * ngroups + grp;
        T acc = T(0);
        T ak = T(0);
        if (k < n_rows) {
            ak = a[k];
            T* wr = w + k * n_red;
#pragma unroll
            for (int i = 0; i < KPL; ++i) {
                const int j = lane + i * g;
                if (j < n_red) {
                    const T wold = wr[j];
                    const T dj = dn[j];
                    acc += dj * wold;
                    wr[j] = Ops<T>::upd(wold, alpha, ak, dj);
                }
            }
        }
        acc = fastbp_group_sum_fixed<g>(acc);
        if (k < n_rows && lane == 0) dout[k] = acc * ak * (T(1) - ak);  // NumPy's order
    }
}

// Forward layers l..L-1, a barrier after each.
template <typename T, int NT, typename S, int l>
__device__ __forceinline__ void fastbp_fixed_forward_rest(T* smem, int tid, int p, T alpha) {
    if constexpr (l < S::L) {
        fastbp_fixed_forward<T, NT, S, l, false>(smem, tid, p, nullptr, nullptr, alpha);
        __syncthreads();
        fastbp_fixed_forward_rest<T, NT, S, l + 1>(smem, tid, p, alpha);
    }
}

// Hidden deltas l..1 (top down), a barrier after each but the last (l == 1:
// the caller stores the prefetched sample first, then synchronises).
template <typename T, int NT, typename S, int l>
__device__ __forceinline__ void fastbp_fixed_hidden_rest(T* smem, int tid, int p, T alpha) {
    if constexpr (l >= 1) {
        fastbp_fixed_hidden<T, NT, S, l>(smem, tid, p, alpha);
        if constexpr (l > 1) {
            __syncthreads();
            fastbp_fixed_hidden_rest<T, NT, S, l - 1>(smem, tid, p, alpha);
        }
    }
}

// Weights of layers l..L-1 between global memory and shared memory (every
// size and offset a constant; no runtime indexing of the shape).
template <typename T, int NT, typename S, int l, bool STORE>
__device__ __forceinline__ void fastbp_fixed_copy_w(T* smem, const unsigned long long* __restrict__ wptrs, int net,
                                                    int tid) {
    if constexpr (l < S::L) {
        constexpr int n = S::d(l) * S::d(l + 1);
        constexpr int o = S::woff(l);
        T* g = reinterpret_cast<T*>(wptrs[l]) + (size_t)net * n;
        if (STORE) {
            for (int i = tid; i < n; i += NT) g[i] = smem[o + i];
        } else {
            for (int i = tid; i < n; i += NT) smem[o + i] = g[i];
        }
        fastbp_fixed_copy_w<T, NT, S, l + 1, STORE>(smem, wptrs, net, tid);
    }
}

template <typename T, int NT, int... D>
__global__ void __launch_bounds__(NT)
fastbp_sgd_block_fixed(const unsigned long long* __restrict__ wptrs, const int* __restrict__ dims_g, int L,
                       const T* __restrict__ X1, const T* __restrict__ Y, int N, const T* __restrict__ alphas) {
    using S = FastbpShape<D...>;
    static_assert(S::L >= 1 && S::L < FASTBP_MAX_DIMS, "1..63 weight matrices");
    static_assert(NT % 32 == 0 && NT >= 32 && NT <= FASTBP_BLOCK_MAX_THREADS, "NT: a multiple of 32, <= 512");
    FASTBP_DYNAMIC_SMEM(fastbp_smem_raw);
    T* smem = reinterpret_cast<T*>(fastbp_smem_raw);
    constexpr int d0 = S::d(0), dL = S::d(S::L);
    const int tid = threadIdx.x;
    const int net = blockIdx.x;
    if (L != S::L || (int)blockDim.x != NT) return;  // host guarantees both

    const T alpha = alphas[net];
    fastbp_fixed_copy_w<T, NT, S, 0, false>(smem, wptrs, net, tid);
    (void)dims_g;
    for (int i = tid; i < d0; i += NT) smem[S::XOFF + i] = X1[i];
    for (int i = tid; i < dL; i += NT) smem[S::YOFF + i] = Y[i];
    __syncthreads();

    int xc = 0, xp = 2, xn = 1;  // x slots of samples s, s-1, s+1
    for (int s = 0; s < N; ++s) {
        const int p = s & 1, q = p ^ 1;
        // next sample: loaded now, stored at the end of this step's last phase
        const bool pf = s + 1 < N;
        const T* xs = X1 + (size_t)(pf ? s + 1 : s) * d0;
        const T* ys = Y + (size_t)(pf ? s + 1 : s) * dL;
        FastbpPrefetch<T, (d0 + NT - 1) / NT> xpf;
        FastbpPrefetch<T, (dL + NT - 1) / NT> ypf;
        if (pf) {
            xpf.load(xs, d0, tid, NT);
            ypf.load(ys, dL, tid, NT);
        }
        const T* x_cur = smem + S::XOFF + xc * d0;
        const T* x_prev = smem + S::XOFF + xp * d0;
        if (s > 0) fastbp_fixed_forward<T, NT, S, 0, true>(smem, tid, p, x_cur, x_prev, alpha);
        else fastbp_fixed_forward<T, NT, S, 0, false>(smem, tid, p, x_cur, x_prev, alpha);
        if constexpr (S::L > 1) {
            __syncthreads();
            fastbp_fixed_forward_rest<T, NT, S, 1>(smem, tid, p, alpha);
            fastbp_fixed_hidden_rest<T, NT, S, S::L - 1>(smem, tid, p, alpha);
        }
        if (pf) {  // slot xn holds sample s-2, y slot q sample s-1: both free
            xpf.store(smem + S::XOFF + xn * d0, xs, d0, tid, NT);
            ypf.store(smem + S::YOFF + q * dL, ys, dL, tid, NT);
        }
        __syncthreads();
        const int t = xp;
        xp = xc;
        xc = xn;
        xn = t;
    }

    // flush the pending update of W[0] (last sample), then write back
    if (N > 0) {
        constexpr int n1 = S::d(1);
        const int s = N - 1;
        const T* xl = smem + S::XOFF + xp * d0;  // slot of sample N-1
        const T* d1 = smem + S::doff(1) + (s & 1) * n1;
        T* w = smem + S::woff(0);
        for (int i = tid; i < d0 * n1; i += NT) {
            const int k = i / n1, j = i - k * n1;
            w[i] = Ops<T>::upd(w[i], alpha, xl[k], d1[j]);
        }
    }
    __syncthreads();
    fastbp_fixed_copy_w<T, NT, S, 0, true>(smem, wptrs, net, tid);
}

// ------------------------------------------------------------------------
// Register-resident persistent SGD (the default "block" kernel for one
// network whose weights fit in registers): fastbp_sgd_regs<T, NT, D...>,
// e.g. "fastbp_sgd_regs<double, 320, 65, 33, 17, 10>", L >= 2. One block
// per network (blockIdx.x = network, as fastbp_sgd_block). Every weight
// lives in exactly one thread's registers for the whole epoch; shared memory
// holds only activations, deltas, targets and the first layer's products.
// ONE __syncthreads per sample (warp 0 and warps 1.. reach it from their own
// code paths: valid where barriers count threads, compute capability 7.0
// and later; the host uses this kernel only there):
//  * warp 0 runs the whole per-sample chain: z = x_s W[0] from the product
//    the other warps prepared (below), A[1] = s(z), then the forward passes of
//    layers 1..L-1 with the output delta, and the hidden deltas top down with
//    the fused updates of W[L-1..1], down to D[1] (__syncwarp between its
//    phases). W[1..L-1] live in warp 0's registers, each layer's matrix tiled
//    over the 32 lanes as PK x PJ (FastbpWarpTile: lane kp + PK jp owns rows
//    kp + a PK and columns jp + b PJ), so the forward pass (column sums:
//    shuffles over kp) and the hidden delta (row sums: shuffles over jp) both
//    stay inside the warp.
//  * warps 1.. (NT - 32 threads) hold W[0], a group of G0 lanes per column j
//    (j = group + p * groups), lane r owning rows k = r + i * G0, and work
//    one sample ahead: while warp 0 runs sample s they apply the update of
//    sample s-1 (x_{s-1}, D[1] of s-1) and compute P = x_{s+1} W[0] and
//    c = x_{s+1} . x_s for the next sample. Then, exactly,
//      x_{s+1} (W[0] - alpha x_s^T D1_s) = P - alpha c D1_s,
//    so warp 0 gets sample s+1's first-layer input with one multiply-add per
//    unit once its own D[1] is known, and the 65-long products and their
//    reductions are off the per-sample critical path. Each thread loads its
//    own elements of x from global memory into registers two samples ahead.
// The weights get the same update arithmetic as the other kernels (_rn,
// NumPy's order, lazily for W[0]: flushed after the last sample); the
// activations differ from NumPy's by rounding (sums of partial sums, and
// the first layer's product by the identity above).
// Dynamic shared memory (T units), see regs_smem_elems() in _cuda_source.py:
// A[l], l=1..L: d[l] each | D[l], l=1..L: d[l] each (D[1] unused) |
// D[1]: 2 x d1 (sample parity) | y: 2 x dL | P: 2 x d1 | c: 2.
// ------------------------------------------------------------------------
// The 32 lanes of a warp as PK x PJ for an R x C matrix: fewest elements per
// lane, then the shortest dot products (ra + cb).
template <int R, int C>
struct FastbpWarpTile {
    __host__ __device__ static constexpr int ra(int pk) { return (R + pk - 1) / pk; }
    __host__ __device__ static constexpr int cb(int pk) { return (C + 32 / pk - 1) / (32 / pk); }
    __host__ __device__ static constexpr int pick() {
        int best = 1;
        for (int pk = 2; pk <= 32; pk <<= 1) {
            const int e = ra(pk) * cb(pk), eb = ra(best) * cb(best);
            if (e < eb || (e == eb && ra(pk) + cb(pk) < ra(best) + cb(best))) best = pk;
        }
        return best;
    }
    static constexpr int PK = pick(), PJ = 32 / PK, RA = ra(PK), CB = cb(PK);
};

// Warp 0's weights of layers l..L-1: one register array per layer.
template <typename T, typename S, int l, bool END = (l >= S::L)>
struct FastbpWarpW {
    using Tile = FastbpWarpTile<S::d(l), S::d(l + 1)>;
    T w[Tile::RA][Tile::CB];
    FastbpWarpW<T, S, l + 1> next;
};
template <typename T, typename S, int l>
struct FastbpWarpW<T, S, l, true> {};

template <int... D>
struct FastbpRegsShape : FastbpShape<D...> {
    using B = FastbpShape<D...>;
    __host__ __device__ static constexpr int aoff(int l) {  // l = 1..L
        int o = 0;
        for (int i = 1; i < l; ++i) o += B::d(i);
        return o;
    }
    __host__ __device__ static constexpr int doff(int l) { return aoff(B::L + 1) + aoff(l); }
    static constexpr int D1OFF = 2 * aoff(B::L + 1);  // D[1] of samples with parity 0, 1
    static constexpr int YOFF = D1OFF + 2 * B::d(1);
    static constexpr int POFF = YOFF + 2 * B::d(B::L);
    static constexpr int COFF = POFF + 2 * B::d(1);
};

// v = part[b] for a run-time b (selects; the array stays in registers).
template <int N, typename T>
__device__ __forceinline__ T fastbp_pick(const T (&part)[N], int b) {
    T v = part[0];
#pragma unroll
    for (int i = 1; i < N; ++i) v = (b == i) ? part[i] : v;
    return v;
}

// Warp 0: weights of layers l..L-1 from (STORE: to) global memory.
template <typename T, typename S, int l, bool STORE, typename WW>
__device__ __forceinline__ void fastbp_warp_copy(WW& ww, const unsigned long long* __restrict__ wptrs, int net,
                                                 int lane) {
    if constexpr (l < S::L) {
        using Tl = FastbpWarpTile<S::d(l), S::d(l + 1)>;
        constexpr int R = S::d(l), C = S::d(l + 1);
        T* g = reinterpret_cast<T*>(wptrs[l]) + (size_t)net * R * C;
        const int kp = lane % Tl::PK, jp = lane / Tl::PK;
#pragma unroll
        for (int a = 0; a < Tl::RA; ++a) {
#pragma unroll
            for (int b = 0; b < Tl::CB; ++b) {
                const int k = kp + a * Tl::PK, j = jp + b * Tl::PJ;
                if (STORE) {
                    if (k < R && j < C) g[k * C + j] = ww.w[a][b];
                } else {
                    ww.w[a][b] = (k < R && j < C) ? g[k * C + j] : T(0);
                }
            }
        }
        fastbp_warp_copy<T, S, l + 1, STORE>(ww.next, wptrs, net, lane);
    }
}

// Warp 0: forward passes of layers l..L-1 (the last also makes D[L]).
template <typename T, typename S, int l, typename WW>
__device__ __forceinline__ void fastbp_warp_forward(WW& ww, T* sm, int lane, const T* y) {
    if constexpr (l < S::L) {
        using Tl = FastbpWarpTile<S::d(l), S::d(l + 1)>;
        constexpr int R = S::d(l), C = S::d(l + 1), PK = Tl::PK, PJ = Tl::PJ, RA = Tl::RA, CB = Tl::CB;
        const int kp = lane % PK, jp = lane / PK;
        const T* in = sm + S::aoff(l);
        T* out = sm + S::aoff(l + 1);
        T act[RA];
#pragma unroll
        for (int a = 0; a < RA; ++a) act[a] = (kp + a * PK < R) ? in[kp + a * PK] : T(0);
        T part[CB];
#pragma unroll
        for (int b = 0; b < CB; ++b) {
            T acc = T(0);
#pragma unroll
            for (int a = 0; a < RA; ++a) acc += act[a] * ww.w[a][b];
            part[b] = acc;
        }
#pragma unroll
        for (int b = 0; b < CB; ++b) part[b] = fastbp_group_sum_fixed<PK>(part[b]);
        // every lane of a column part now holds its CB sums: lane kp takes
        // b = kp, kp + PK, ... (the sigmoids run side by side, not in turn)
#pragma unroll
        for (int r = 0; r < (CB + PK - 1) / PK; ++r) {
            const int b = kp + r * PK, j = jp + b * PJ;
            const T v = fastbp_pick(part, b);
            if (b < CB && j < C) {
                const T a = Ops<T>::sigmoid(v);
                out[j] = a;
                if (l == S::L - 1) sm[S::doff(S::L) + j] = (a - y[j]) * a * (T(1) - a);
            }
        }
        __syncwarp();
        fastbp_warp_forward<T, S, l + 1>(ww.next, sm, lane, y);
    }
}

// Warp 0: hidden deltas D[L-1..l] (top down) with the fused updates of W[l];
// D[1] goes to d1out.
template <typename T, typename S, int l, typename WW>
__device__ __forceinline__ void fastbp_warp_backward(WW& ww, T* sm, int lane, T alpha, T* d1out) {
    if constexpr (l < S::L) {
        fastbp_warp_backward<T, S, l + 1>(ww.next, sm, lane, alpha, d1out);  // the layers above first
        using Tl = FastbpWarpTile<S::d(l), S::d(l + 1)>;
        constexpr int R = S::d(l), C = S::d(l + 1), PK = Tl::PK, PJ = Tl::PJ, RA = Tl::RA, CB = Tl::CB;
        const int kp = lane % PK, jp = lane / PK;
        const T* dn = sm + S::doff(l + 1);
        const T* al = sm + S::aoff(l);
        T dv[CB], ak[RA], part[RA];
#pragma unroll
        for (int b = 0; b < CB; ++b) dv[b] = (jp + b * PJ < C) ? dn[jp + b * PJ] : T(0);
#pragma unroll
        for (int a = 0; a < RA; ++a) ak[a] = (kp + a * PK < R) ? al[kp + a * PK] : T(0);
#pragma unroll
        for (int a = 0; a < RA; ++a) {
            T acc = T(0);
#pragma unroll
            for (int b = 0; b < CB; ++b) {
                const T wold = ww.w[a][b];
                acc += dv[b] * wold;
                ww.w[a][b] = Ops<T>::upd(wold, alpha, ak[a], dv[b]);
            }
            part[a] = acc;
        }
#pragma unroll
        for (int a = 0; a < RA; ++a) {
#pragma unroll
            for (int off = PK; off < 32; off <<= 1) part[a] += __shfl_xor_sync(0xffffffffu, part[a], off);
        }
        T* dout = l == 1 ? d1out : sm + S::doff(l);
#pragma unroll
        for (int r = 0; r < (RA + PJ - 1) / PJ; ++r) {
            const int a = jp + r * PJ, k = kp + a * PK;
            const T v = fastbp_pick(part, a), akk = fastbp_pick(ak, a);
            if (a < RA && k < R) dout[k] = v * akk * (T(1) - akk);  // NumPy's order
        }
        __syncwarp();
    }
}

template <typename T, int NT, int... D>
__global__ void __launch_bounds__(NT)
fastbp_sgd_regs(const unsigned long long* __restrict__ wptrs, const int* __restrict__ dims_g, int L,
                const T* __restrict__ X1, const T* __restrict__ Y, int N, const T* __restrict__ alphas) {
    using S = FastbpRegsShape<D...>;
    static_assert(S::L >= 2 && S::L < FASTBP_MAX_DIMS, "2..63 weight matrices (one: fastbp_sgd_block_fixed)");
    static_assert(NT % 32 == 0 && NT >= 64 && NT <= FASTBP_BLOCK_MAX_THREADS, "NT: a multiple of 32 in [64, 512]");
    FASTBP_DYNAMIC_SMEM(fastbp_smem_raw);
    T* sm = reinterpret_cast<T*>(fastbp_smem_raw);
    constexpr int d0 = S::d(0), d1 = S::d(1), dL = S::d(S::L);
    constexpr int NT0 = NT - 32;                              // threads of W[0]
    constexpr int G0 = fastbp_group_fixed(d1, d0, NT0);       // lanes per column
    constexpr int NG0 = NT0 / G0, P0 = (d1 + NG0 - 1) / NG0, K0 = (d0 + G0 - 1) / G0;
    constexpr int YR = (dL + 31) / 32, Z1 = (d1 + 31) / 32;
    const int tid = threadIdx.x;
    const int net = blockIdx.x;
    if (L != S::L || (int)blockDim.x != NT) return;  // host guarantees both
    (void)dims_g;
    const T alpha = alphas[net];

    if (tid < 32) {  // ---------------------- warp 0: the per-sample chain
        const int lane = tid;
        FastbpWarpW<T, S, 1> ww;
        fastbp_warp_copy<T, S, 1, false>(ww, wptrs, net, lane);
        T yn[YR];
#pragma unroll
        for (int r = 0; r < YR; ++r) {
            const int j = lane + 32 * r;
            if (j < dL && N > 0) sm[S::YOFF + j] = Y[j];
        }
        __syncthreads();  // P and c of sample 0 are ready
        for (int s = 0; s < N; ++s) {
            const int p = s & 1;
            const bool pf = s + 1 < N;
#pragma unroll
            for (int r = 0; r < YR; ++r) {  // the next target row, stored after the step
                const int j = lane + 32 * r;
                yn[r] = (pf && j < dL) ? Y[(size_t)(s + 1) * dL + j] : T(0);
            }
            // A[1] = s(P - alpha c D[1] of sample s-1): x_s times the updated W[0]
            const T* P = sm + S::POFF + p * d1;
            const T* Dp = sm + S::D1OFF + (p ^ 1) * d1;
            const T ac = s > 0 ? alpha * sm[S::COFF + p] : T(0);
#pragma unroll
            for (int r = 0; r < Z1; ++r) {
                const int j = lane + 32 * r;
                if (j < d1) sm[S::aoff(1) + j] = Ops<T>::sigmoid(s > 0 ? P[j] - ac * Dp[j] : P[j]);
            }
            __syncwarp();
            fastbp_warp_forward<T, S, 1>(ww, sm, lane, sm + S::YOFF + p * dL);
            fastbp_warp_backward<T, S, 1>(ww, sm, lane, alpha, sm + S::D1OFF + p * d1);
#pragma unroll
            for (int r = 0; r < YR; ++r) {
                const int j = lane + 32 * r;
                if (pf && j < dL) sm[S::YOFF + (p ^ 1) * dL + j] = yn[r];
            }
            __syncthreads();  // D[1] of sample s, P and c of sample s+1 are ready
        }
        fastbp_warp_copy<T, S, 1, true>(ww, wptrs, net, lane);
    } else {  // ----------------------- warps 1..: W[0], one sample ahead
        const int t0 = tid - 32, grp = t0 / G0, r0 = t0 % G0;
        T* g0 = reinterpret_cast<T*>(wptrs[0]) + (size_t)net * d0 * d1;
        // x rows s-1, s, s+1 (xa, xb, xc) at the start of step s
        T w0[P0][K0], xa[K0], xb[K0], xc[K0];
#pragma unroll
        for (int q = 0; q < P0; ++q) {
#pragma unroll
            for (int i = 0; i < K0; ++i) {
                const int j = grp + q * NG0, k = r0 + i * G0;
                w0[q][i] = (j < d1 && k < d0) ? g0[k * d1 + j] : T(0);
            }
        }
#pragma unroll
        for (int i = 0; i < K0; ++i) {
            const int k = r0 + i * G0;
            xa[i] = T(0);
            xb[i] = (k < d0 && N > 0) ? X1[k] : T(0);
            xc[i] = (k < d0 && N > 1) ? X1[(size_t)d0 + k] : T(0);
        }
        // P = x W[0] and c = x . x_prev (full sums in every lane of a group);
        // lane 0 of group j stores P[j], group 0 also c
        auto products = [&](const T (&x)[K0], const T (&xp)[K0], int slot) {
            T part[P0];
#pragma unroll
            for (int q = 0; q < P0; ++q) {
                T acc = T(0);
#pragma unroll
                for (int i = 0; i < K0; ++i) acc += x[i] * w0[q][i];
                part[q] = fastbp_group_sum_fixed<G0>(acc);
            }
            T c = T(0);
#pragma unroll
            for (int i = 0; i < K0; ++i) c += x[i] * xp[i];
            c = fastbp_group_sum_fixed<G0>(c);
#pragma unroll
            for (int u = 0; u < (P0 + G0 - 1) / G0; ++u) {  // lane r0 stores q = r0, r0 + G0, ...
                const int q = r0 + u * G0, j = grp + q * NG0;
                if (q < P0 && j < d1) sm[S::POFF + slot * d1 + j] = fastbp_pick(part, q);
            }
            if (t0 == 0) sm[S::COFF + slot] = c;
        };
        if (N > 0) products(xb, xa, 0);
        __syncthreads();  // P and c of sample 0 are ready
        for (int s = 0; s < N; ++s) {
            const int p = s & 1;
            if (s > 0) {  // the update of W[0] by sample s-1 (x in xa, its D[1])
                const T* Dp = sm + S::D1OFF + (p ^ 1) * d1;
#pragma unroll
                for (int q = 0; q < P0; ++q) {
                    const int j = grp + q * NG0;
                    const T dj = j < d1 ? Dp[j] : T(0);
#pragma unroll
                    for (int i = 0; i < K0; ++i) w0[q][i] = Ops<T>::upd(w0[q][i], alpha, xa[i], dj);
                }
            }
#pragma unroll
            for (int i = 0; i < K0; ++i) {  // x_{s+2} into the free row
                const int k = r0 + i * G0;
                xa[i] = (k < d0 && s + 2 < N) ? X1[(size_t)(s + 2) * d0 + k] : T(0);
            }
            if (s + 1 < N) products(xc, xb, p ^ 1);
#pragma unroll
            for (int i = 0; i < K0; ++i) {  // rows s, s+1, s+2 -> s-1, s, s+1 of step s+1
                const T t = xa[i];
                xa[i] = xb[i];
                xb[i] = xc[i];
                xc[i] = t;
            }
            __syncthreads();  // D[1] of sample s, P and c of sample s+1 are ready
        }
        if (N > 0) {  // flush the update of W[0] by the last sample (x in xa), write back
            const T* Dl = sm + S::D1OFF + ((N - 1) & 1) * d1;
#pragma unroll
            for (int q = 0; q < P0; ++q) {
                const int j = grp + q * NG0;
                const T dj = j < d1 ? Dl[j] : T(0);
#pragma unroll
                for (int i = 0; i < K0; ++i) {
                    const int k = r0 + i * G0;
                    if (j < d1 && k < d0) g0[k * d1 + j] = Ops<T>::upd(w0[q][i], alpha, xa[i], dj);
                }
            }
        }
    }
}

// ------------------------------------------------------------------------
// Persistent multi-block SGD for networks too large for one block's shared
// memory: the weights are spread over the shared memory of all blocks.
// Block b of nb owns, for every layer l, the contiguous column slice
// cols [l, b] = [b * d[l+1] / nb, (b + 1) * d[l+1] / nb) of W[l] (stored
// column-major: forward pass and its lazy update) and, for l >= 1, the row
// slice rows [b * d[l] / nb, (b + 1) * d[l] / nb) of W[l] (stored row-major:
// hidden delta and its fused update). The two copies receive the same
// updates from the same operands, so they stay bitwise identical.
// For L >= 2 the first layer is block-local and one sample ahead (see the
// comment at first_layer below): 2L - 2 grid barriers per sample.
// Activations and deltas are exchanged through global memory (ws, written
// with st.cg, read with ld.cg so the non-coherent L1 is bypassed), with a
// grid-wide barrier between phases (monotonic 64-bit counter, zeroed by the
// host before the launch). All nb blocks must be co-resident: the host
// launches at most one block per SM, cooperatively when CuPy can. A barrier
// that waits longer than timeout_ns sets status[0] and every block returns
// (no hang), and the host raises.
//
// ws layout (T units): A[l], l=1..L: 2 x d[l] each | D[l], l=1..L: 2 x d[l].
// Dynamic shared memory (T units), with cmax[l] = ceil(d[l+1] / nb),
// rmax[l] = ceil(d[l] / nb): Wc[l]: cmax[l] * d[l] (l = 0..L-1) |
// Wr[l]: rmax[l] * d[l+1] (l = 1..L-1) | x: 3 x d0 | y: 2 x dL |
// Av[l]: 2 x d[l] (l = 1..L-1) | dv: max d | P, own D[1]: cmax[0] each, c: 1 |
// scratch: blockDim / 32.
// ------------------------------------------------------------------------
__device__ __forceinline__ unsigned long long fastbp_globaltimer() {
#ifdef FASTBP_HOST_EMULATION
    return fastbp_emu_globaltimer();
#else
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
#endif
}

// One step of a barrier's spin loop (thread 0): every 1024th spin, true (and
// *s_abort set) when another block reported a failure or this wait has
// passed timeout_ns (then the status becomes FASTBP_STATUS_BARRIER_TIMEOUT).
__device__ __forceinline__ bool fastbp_barrier_give_up(unsigned int* spins, unsigned long long* t0,
                                                       volatile int* status, unsigned long long timeout_ns,
                                                       int* s_abort) {
    if ((++*spins & 1023u) != 0u) return false;
    if (*status != FASTBP_STATUS_OK) { *s_abort = 1; return true; }
    const unsigned long long now = fastbp_globaltimer();
    if (*t0 == 0) {
        *t0 = now;
    } else if (now - *t0 > timeout_ns) {
        atomicCAS((int*)status, FASTBP_STATUS_OK, FASTBP_STATUS_BARRIER_TIMEOUT);
        *s_abort = 1;
        return true;
    }
    return false;
}

// The grid barrier (fastbp_grid_sync below). BAR 0: thread 0 arrives with a
// __threadfence then atomicAdd and spins, then __threadfence (acquire).
// BAR 1, without the two __threadfence: thread 0 arrives with
// red.release.gpu (publishes the block's writes, ordered before it by the
// __syncthreads, without waiting for the atomic's return) and spins with
// ld.acquire.gpu (later reads, ordered after it by the __syncthreads, see the
// other blocks' writes). fastbp_sgd_grid<T, 1>, the default
// (CudaBackend(grid_barrier="acqrel")); 1.1x the fence barrier on an H200.
__device__ __forceinline__ void fastbp_red_release_add(unsigned long long* p, unsigned long long v) {
#ifdef FASTBP_HOST_EMULATION
    __atomic_fetch_add(p, v, __ATOMIC_RELEASE);
#else
    asm volatile("red.release.gpu.global.add.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
#endif
}

__device__ __forceinline__ unsigned long long fastbp_ld_acquire(const unsigned long long* p) {
#ifdef FASTBP_HOST_EMULATION
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#else
    unsigned long long v;
    asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
#endif
}

// Grid barrier with block-local work between arriving and waiting: work()
// is run by every thread of the block after thread 0 has arrived (so the
// other blocks need not wait for it) and before it spins; it must touch only
// this block's shared memory. Returns false when the barrier timed out or
// another block reported a failure (then every thread of the block must
// return).
template <int BAR, typename F>
__device__ __forceinline__ bool fastbp_grid_sync(unsigned long long* counter, unsigned long long target,
                                                 volatile int* status, unsigned long long timeout_ns, int* s_abort,
                                                 F&& work) {
    __syncthreads();
    if (threadIdx.x == 0) {
        if constexpr (BAR == 1) {
            fastbp_red_release_add(counter, 1ULL);
        } else {
            __threadfence();  // publish this block's writes before arriving
            atomicAdd(counter, 1ULL);
        }
    }
    work();
    if (threadIdx.x == 0) {
        unsigned long long t0 = 0;
        unsigned int spins = 0;
        if constexpr (BAR == 1) {
            while (fastbp_ld_acquire(counter) < target) {
                if (fastbp_barrier_give_up(&spins, &t0, status, timeout_ns, s_abort)) break;
            }
        } else {
            volatile unsigned long long* vc = counter;
            while (*vc < target) {
                if (fastbp_barrier_give_up(&spins, &t0, status, timeout_ns, s_abort)) break;
            }
            __threadfence();  // acquire: later ld.cg see the other blocks' writes
        }
    }
    __syncthreads();
    return *s_abort == 0;
}

template <typename T>
__device__ __forceinline__ T fastbp_ldcg(const T* p) { return __ldcg(p); }
template <typename T>
__device__ __forceinline__ void fastbp_stcg(T* p, T v) { __stcg(p, v); }

template <typename T, int BAR = 0>  // BAR 0: __threadfence barrier; 1: release/acquire barrier
__global__ void __launch_bounds__(FASTBP_GRID_THREADS, 1)  // (256, 1): without the 1 ptxas capped at 40 registers and spilled
fastbp_sgd_grid(const unsigned long long* __restrict__ wptrs, const int* __restrict__ dims_g, int L,
                const T* __restrict__ X1, const T* __restrict__ Y, int N, const T* __restrict__ alphas,
                T* ws, unsigned long long* counter, int* status, unsigned long long timeout_ns, int replicate) {
    FASTBP_DYNAMIC_SMEM(fastbp_smem_raw);
    T* smem = reinterpret_cast<T*>(fastbp_smem_raw);
    __shared__ int d[FASTBP_MAX_DIMS];
    __shared__ int c0[FASTBP_MAX_DIMS], nc[FASTBP_MAX_DIMS];   // own columns of W[l]
    __shared__ int r0[FASTBP_MAX_DIMS], nr[FASTBP_MAX_DIMS];   // own rows of W[l]
    __shared__ int wcoff[FASTBP_MAX_DIMS], wroff[FASTBP_MAX_DIMS], avoff[FASTBP_MAX_DIMS];
    __shared__ int gaoff[FASTBP_MAX_DIMS], gdoff[FASTBP_MAX_DIMS];
    __shared__ int xoff, yoff, dvoff, poff, wfoff, soff;
    __shared__ int s_abort, s_rep;

    const int tid = threadIdx.x;
    const int nthreads = blockDim.x;
    const int nb = gridDim.x;
    const int b = blockIdx.x;
    if (L < 1 || L >= FASTBP_MAX_DIMS) return;

    if (tid == 0) {
        s_abort = 0;
        s_rep = replicate != 0 && L >= 2;
        for (int l = 0; l <= L; ++l) d[l] = dims_g[l];
        int o = 0, dmax = 0;
        for (int l = 0; l <= L; ++l) dmax = d[l] > dmax ? d[l] : dmax;
        for (int l = 0; l < L; ++l) {  // (replicated last layer: no slices of W[L-1])
            const int n = d[l + 1];
            c0[l] = (int)(((long long)b * n) / nb);
            nc[l] = (int)(((long long)(b + 1) * n) / nb) - c0[l];
            wcoff[l] = o;
            if (!(s_rep && l == L - 1)) o += ((n + nb - 1) / nb) * d[l];
        }
        for (int l = 1; l < L; ++l) {
            const int n = d[l];
            r0[l] = (int)(((long long)b * n) / nb);
            nr[l] = (int)(((long long)(b + 1) * n) / nb) - r0[l];
            wroff[l] = o;
            if (!(s_rep && l == L - 1)) o += ((n + nb - 1) / nb) * d[l + 1];
        }
        xoff = o; o += 3 * d[0];
        yoff = o; o += 2 * d[L];
        avoff[0] = -1;
        for (int l = 1; l < L; ++l) { avoff[l] = o; o += 2 * d[l]; }
        dvoff = o; o += dmax;
        poff = o; o += 2 * ((d[1] + nb - 1) / nb) + 1;  // P, own D[1], c (L >= 2)
        wfoff = o;  // replicated last layer: W[L-1] | A[L] | D[L] | D[L-1]
        if (s_rep) o += d[L - 1] * d[L] + 2 * d[L] + d[L - 1];
        soff = o;
        int go = 0;
        for (int l = 1; l <= L; ++l) { gaoff[l] = go; go += 2 * d[l]; }
        for (int l = 1; l <= L; ++l) { gdoff[l] = go; go += 2 * d[l]; }
        if (nthreads > FASTBP_GRID_THREADS || (nthreads & 31) != 0) {
            atomicExch(status, FASTBP_STATUS_BAD_LAUNCH);
            s_abort = 1;
        }
    }
    __syncthreads();
    if (s_abort) return;
    const bool rep = s_rep;

    const T alpha = alphas[0];
    T* scratch = smem + soff;
    T* dv = smem + dvoff;
    const int d0 = d[0];
    const int dL = d[L];
    unsigned long long target = 0;

    // load the owned slices (replicated last layer: all of W[L-1])
    for (int l = 0; l < L; ++l) {
        const int n = d[l + 1], m = d[l], cols = nc[l], cstart = c0[l];
        const T* src = reinterpret_cast<const T*>(wptrs[l]);
        if (rep && l == L - 1) {
            for (int i = tid; i < m * n; i += nthreads) smem[wfoff + i] = src[i];
            continue;
        }
        T* wc = smem + wcoff[l];
        for (int i = tid; i < cols * m; i += nthreads) {
            const int k = i / cols, c = i - k * cols;   // coalesced along columns
            wc[c * m + k] = src[(size_t)k * n + cstart + c];
        }
        if (l >= 1) {
            T* wr = smem + wroff[l];
            const T* rs = src + (size_t)r0[l] * n;
            for (int i = tid; i < nr[l] * n; i += nthreads) wr[i] = rs[i];
        }
    }
    for (int i = tid; i < d0; i += nthreads) smem[xoff + i] = X1[i];
    for (int i = tid; i < dL; i += nthreads) smem[yoff + i] = Y[i];
    __syncthreads();

    // L >= 2: the first layer runs block-locally, ahead of the chain (as in
    // fastbp_sgd_regs): block b owns columns [c0[0], c0[0] + nc[0]) of W[0]
    // and the same rows of W[1], so it computes D[1] of exactly the units it
    // feeds. In the hidden-delta phase of W[1] for sample s it writes A[1] of
    // sample s+1 = s(P - alpha c D1_s) with P = x_{s+1} W[0] and c =
    // x_{s+1} . x_s prepared one sample earlier (exactly s(x_{s+1} W[0]
    // after the update of sample s)); then, between arriving at that phase's
    // grid barrier and waiting for it, it applies the update of sample s to
    // its columns of W[0] and prepares P and c for sample s+2. So the first
    // layer costs no grid barrier (2L - 2 per sample instead of 2L - 1) and
    // its work hides behind the barrier's latency. L == 1: the first layer
    // is a forward phase as before.
    const bool pre = L >= 2;
    T* P = smem + poff;
    T* d1own = P + (d[1] + nb - 1) / nb;
    T* cxx = d1own + (d[1] + nb - 1) / nb;
    const int cols0 = nc[0], cstart0 = c0[0];
    auto xrow = [&](int t) { return smem + xoff + (t % 3) * d0; };  // x_t lives in slot t % 3
    // First layer, own columns: with xu, W[0] -= alpha xu^T D1 (own D[1]);
    // with xp, P = xp W[0] (after that update) and, with xq too, c = xp . xq.
    // Every thread calls it (it synchronises the block).
    auto first_layer = [&](const T* xu, const T* xp, const T* xq) {
        T* wc = smem + wcoff[0];
        const int g = fastbp_group_size(cols0 > 0 ? cols0 : 1, d0, nthreads);
        const int ngroups = nthreads / g;
        const int grp = tid / g, lane = tid % g;
        for (int base = 0; base < cols0; base += ngroups) {
            const int c = base + grp;
            T acc = T(0);
            if (c < cols0) {
                T* wcol = wc + c * d0;
                const T dj = xu ? d1own[c] : T(0);
                for (int k = lane; k < d0; k += g) {
                    T wk = wcol[k];
                    if (xu) {
                        wk = Ops<T>::upd(wk, alpha, xu[k], dj);
                        wcol[k] = wk;
                    }
                    if (xp) acc += xp[k] * wk;
                }
            }
            if (xp) {
                acc = fastbp_group_sum(acc, g, scratch);
                if (c < cols0 && lane == 0) P[c] = acc;
            }
        }
        if (xp && xq) {
            T v = T(0);
            for (int k = tid; k < d0; k += nthreads) v += xp[k] * xq[k];
            v = fastbp_group_sum(v, nthreads, scratch);
            if (tid == 0) *cxx = v;
        }
    };
    if (pre && N > 0) {  // A[1] of sample 0 = s(x_0 W[0]); then P, c of sample 1
        if (N > 1)
            for (int i = tid; i < d0; i += nthreads) xrow(1)[i] = X1[(size_t)d0 + i];
        first_layer(nullptr, xrow(0), nullptr);
        __syncthreads();
        for (int c = tid; c < cols0; c += nthreads) fastbp_stcg(ws + gaoff[1] + cstart0 + c, Ops<T>::sigmoid(P[c]));
        target += (unsigned long long)nb;
        if (!fastbp_grid_sync<BAR>(counter, target, status, timeout_ns, &s_abort, [&] {
                if (N > 1) first_layer(nullptr, xrow(1), xrow(0));
            }))
            return;
    }

    for (int s = 0; s < N; ++s) {
        const int p = s & 1, q = p ^ 1;
        // rows stored at the end of the first phase: x_{s+2} (pre; its slot held
        // x_{s-1}, whose update is applied) or x_{s+1} (L == 1), and y_{s+1}
        const int xa = pre ? s + 2 : s + 1;
        const bool px = xa < N, py = s + 1 < N;
        const T* xs = X1 + (size_t)(px ? xa : s) * d0;
        const T* ys = Y + (size_t)(py ? s + 1 : s) * dL;
        FastbpPrefetch<T, 4> xpf;
        FastbpPrefetch<T, 1> ypf;
        if (px) xpf.load(xs, d0, tid, nthreads);
        if (py) ypf.load(ys, dL, tid, nthreads);
        auto store_rows = [&] {
            if (px) xpf.store(xrow(xa), xs, d0, tid, nthreads);
            if (py) ypf.store(smem + yoff + q * dL, ys, dL, tid, nthreads);  // held y_{s-1}
        };
        // own unit r of D[1] (= own column r of W[0]): kept for the update of
        // W[0], and A[1] of sample s+1 = s(P - alpha c D1_s) from it
        auto own_d1 = [&](int r, T dk) {
            d1own[r] = dk;
            if (s + 1 < N)
                fastbp_stcg(ws + gaoff[1] + q * d[1] + r0[1] + r, Ops<T>::sigmoid(P[r] - alpha * *cxx * dk));
        };
        // the step's last grid barrier; while it completes, the update of W[0]
        // by sample s and P, c for sample s+2
        auto last_barrier = [&] {
            target += (unsigned long long)nb;
            return fastbp_grid_sync<BAR>(counter, target, status, timeout_ns, &s_abort, [&] {
                first_layer(xrow(s), s + 2 < N ? xrow(s + 2) : nullptr, xrow(s + 1));
            });
        };
        // ---------------- forward (replicated last layer: up to W[L-2])
        const int fwd0 = pre ? 1 : 0, fwd1 = rep ? L - 1 : L;
        for (int l = fwd0; l < fwd1; ++l) {
            const int m = d[l], n = d[l + 1];
            const int cols = nc[l], cstart = c0[l];
            const bool lazy = s > 0;
            const T* in;
            const T* inprev;
            if (l == 0) {
                in = xrow(s);
                inprev = xrow(s + 2);  // x_{s-1}
            } else {
                T* av = smem + avoff[l];
                const T* ga = ws + gaoff[l] + p * m;
                for (int i = tid; i < m; i += nthreads) av[p * m + i] = fastbp_ldcg(ga + i);
                in = av + p * m;
                inprev = av + q * m;
            }
            if (lazy) {  // D[l+1] of sample s-1, own columns
                const T* gd = ws + gdoff[l + 1] + q * n + cstart;
                for (int i = tid; i < cols; i += nthreads) dv[i] = fastbp_ldcg(gd + i);
            }
            __syncthreads();
            T* wc = smem + wcoff[l];
            const int g = fastbp_group_size(cols > 0 ? cols : 1, m, nthreads);
            const int ngroups = nthreads / g;
            const int grp = tid / g, lane = tid % g;
            for (int base = 0; base < cols; base += ngroups) {
                const int c = base + grp;
                T acc = T(0);
                if (c < cols) {
                    T* wcol = wc + c * m;
                    if (lazy) {
                        const T dj = dv[c];
                        for (int k = lane; k < m; k += g) {
                            const T wk = Ops<T>::upd(wcol[k], alpha, inprev[k], dj);
                            wcol[k] = wk;
                            acc += in[k] * wk;
                        }
                    } else {
                        for (int k = lane; k < m; k += g) acc += in[k] * wcol[k];
                    }
                }
                acc = fastbp_group_sum(acc, g, scratch);
                if (c < cols && lane == 0) {
                    const int j = cstart + c;
                    const T a = Ops<T>::sigmoid(acc);
                    fastbp_stcg(ws + gaoff[l + 1] + p * n + j, a);
                    if (l == L - 1) {
                        const T yj = smem[yoff + p * dL + j];
                        fastbp_stcg(ws + gdoff[L] + p * n + j, (a - yj) * a * (T(1) - a));
                    }
                }
            }
            if (l == fwd0) store_rows();  // first phase of the step: the prefetched rows
            target += (unsigned long long)nb;
            if (!fastbp_grid_sync<BAR>(counter, target, status, timeout_ns, &s_abort, [] {})) return;
        }
        // ---------------- replicated last layer: every block computes A[L],
        // D[L], D[L-1] (all units) and the update of its copy of W[L-1]: the
        // same operations on the same values in every block, so the copies
        // stay identical, and no grid barrier between these three steps.
        T* Wf = smem + wfoff;
        T* aLv = Wf + d[L - 1] * dL;
        T* DLv = aLv + dL;
        T* Dm = DLv + dL;
        if (rep) {
            const int m = d[L - 1], n = dL;
            T* av = smem + avoff[L - 1];
            const T* ga = ws + gaoff[L - 1] + p * m;
            for (int i = tid; i < m; i += nthreads) av[p * m + i] = fastbp_ldcg(ga + i);
            if (fwd0 == fwd1) store_rows();  // no forward phase: the prefetched rows here
            __syncthreads();
            const T* a = av + p * m;
            {
                const int g = fastbp_group_size(n, m, nthreads);
                const int ngroups = nthreads / g;
                const int grp = tid / g, lane = tid % g;
                for (int base = 0; base < n; base += ngroups) {
                    const int j = base + grp;
                    T acc = T(0);
                    if (j < n)
                        for (int k = lane; k < m; k += g) acc += a[k] * Wf[k * n + j];
                    acc = fastbp_group_sum(acc, g, scratch);
                    if (j < n && lane == 0) {
                        const T aj = Ops<T>::sigmoid(acc);
                        const T yj = smem[yoff + p * dL + j];
                        aLv[j] = aj;
                        DLv[j] = (aj - yj) * aj * (T(1) - aj);
                    }
                }
            }
            __syncthreads();
            fastbp_rows_delta(Wf, m, n, a, DLv, alpha, scratch, [&](int r, T dk) { Dm[r] = dk; });
            __syncthreads();
            if (L == 2) {  // D[1] of every unit is here: the step ends
                for (int r = tid; r < nr[1]; r += nthreads) own_d1(r, Dm[r0[1] + r]);
                if (!last_barrier()) return;
            } else {  // own columns of W[L-2] need D[L-1] for their (lazy) update
                for (int c = tid; c < nc[L - 2]; c += nthreads)
                    fastbp_stcg(ws + gdoff[L - 1] + p * m + c0[L - 2] + c, Dm[c0[L - 2] + c]);
            }
        }
        // ---------------- hidden deltas (row copies updated in the same pass;
        // replicated last layer: from D[L-1] above, in the same phase)
        for (int l = rep ? L - 2 : L - 1; l >= 1; --l) {
            const int m = d[l], n = d[l + 1];
            const T* gd = ws + gdoff[l + 1] + p * n;
            for (int i = tid; i < n; i += nthreads) dv[i] = (rep && l == L - 2) ? Dm[i] : fastbp_ldcg(gd + i);
            __syncthreads();
            const int rstart = r0[l];
            // own rows, with A[l] loaded by this sample's forward
            fastbp_rows_delta(smem + wroff[l], nr[l], n, smem + avoff[l] + p * m + rstart, dv, alpha, scratch,
                              [&](int r, T dk) {
                                  if (l == 1 && pre) own_d1(r, dk);
                                  else fastbp_stcg(ws + gdoff[l] + p * m + rstart + r, dk);
                              });
            if (l == 1 && pre) {
                if (!last_barrier()) return;
            } else {
                target += (unsigned long long)nb;
                if (!fastbp_grid_sync<BAR>(counter, target, status, timeout_ns, &s_abort, [] {})) return;
            }
        }
    }

    // flush the pending (lazy) update of every column copy, write back
    if (N > 0) {
        const int s = N - 1, p = s & 1;
        for (int l = pre ? 1 : 0; l < (rep ? L - 1 : L); ++l) {  // (pre: W[0]'s update is applied; rep: W[L-1]'s)
            const int m = d[l], n = d[l + 1], cols = nc[l], cstart = c0[l];
            const T* aprev = (l == 0) ? smem + xoff + (s % 3) * d0 : smem + avoff[l] + p * m;
            const T* gd = ws + gdoff[l + 1] + p * n + cstart;
            __syncthreads();
            for (int i = tid; i < cols; i += nthreads) dv[i] = fastbp_ldcg(gd + i);
            __syncthreads();
            T* wc = smem + wcoff[l];
            for (int i = tid; i < cols * m; i += nthreads) {
                const int c = i / m, k = i - c * m;
                wc[i] = Ops<T>::upd(wc[i], alpha, aprev[k], dv[c]);
            }
        }
    }
    __syncthreads();
    for (int l = 0; l < L; ++l) {
        const int n = d[l + 1], m = d[l], cols = nc[l], cstart = c0[l];
        T* dst = reinterpret_cast<T*>(wptrs[l]);
        if (rep && l == L - 1) {  // the copies are identical: block 0 writes its own
            if (b == 0)
                for (int i = tid; i < m * n; i += nthreads) dst[i] = smem[wfoff + i];
            continue;
        }
        const T* wc = smem + wcoff[l];
        for (int i = tid; i < cols * m; i += nthreads) {
            const int k = i / cols, c = i - k * cols;
            dst[(size_t)k * n + cstart + c] = wc[c * m + k];
        }
    }
}

// ------------------------------------------------------------------------
// Batched kernels of the contract (whole matrices, one thread per output).
// forward:  C[i][j] = s(sum_k A[i][k] B[k][j])             A: MxK, B: KxN
// hidden:   C[i][k] = (sum_j A[i][j] B[k][j]) E[i][k](1 - E[i][k])
//           (A = D_next: MxK', B = W_l: NxK', E = A_l: MxN)
// The sigmoid / its derivative are applied to the accumulator in registers,
// in the same pass that produces the product.
// ------------------------------------------------------------------------
template <typename T, bool TRANS_B, bool DSIG>
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
        if (DSIG) { const T e = E[o]; C[o] = acc * e * (T(1) - e); }
        else C[o] = Ops<T>::sigmoid(acc);
    }
}

template <typename T>
__global__ void fastbp_forward(const T* __restrict__ A, const T* __restrict__ B, T* __restrict__ C,
                               int M, int N, int K) {
    fastbp_gemm_tile<T, false, false>(A, B, nullptr, C, M, N, K);
}

template <typename T>
__global__ void fastbp_hidden_delta(const T* __restrict__ Dn, const T* __restrict__ W,
                                    const T* __restrict__ Al, T* __restrict__ C, int M, int N, int K) {
    fastbp_gemm_tile<T, true, true>(Dn, W, Al, C, M, N, K);
}
