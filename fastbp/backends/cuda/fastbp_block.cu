// fastbp_train_block<T, NT, d0, ..., dL>: persistent single-block SGD with
// the weights in shared memory; block k trains network k (weights at offset
// k * d[l] * d[l+1] in the stacked arrays wptrs[l], learning rate
// alphas[k]) for E epochs over all N samples, in one launch.
//
// The thread count NT and the widths are template arguments (the host
// builds the name expression per network, e.g.
// "fastbp_train_block<double, 512, 65, 33, 17, 10>"), so every group size,
// loop bound and shared-memory offset is a constant and the inner loops
// unroll fully (a phase's shared-memory loads issue together).
//
// One per-sample step, 2L - 1 block barriers:
//   * forward, layer by layer: each output is owned by a group of g <= 32
//     lanes (fastbp_group_fixed: the reduction is shuffles only); the last
//     layer also writes D[L];
//   * hidden deltas, top down; the update of W[l], l >= 1, is fused into
//     the hidden-delta pass of layer l: the lane that reads the old
//     W[l][k][j] for D[l][k] is the only one that writes the new value, so
//     D[l] sees the pre-update weights without a barrier between the two;
//   * W[0] is updated lazily: the next sample's forward pass, in the lane
//     that owns the column, applies the pending update with the previous
//     sample's x and D[1] and then uses the new weight; after the epoch's
//     last sample a flush applies the last update.
// Activations and deltas are double-buffered by sample parity, x triple-
// buffered; the next sample's x / y are loaded into registers at the start
// of a step and stored to shared memory at the end of its last phase.
// Every epoch starts as a fresh launch would (the same operations), so E
// epochs in one launch give bit for bit the weights of E launches of one.
// After the epochs in record[0..R-1] the block computes its network's loss
// (fastbp_loss_part, weights read from shared memory) into
// losses[r * gridDim.x + k], and stops training a network whose loss or
// weights are not finite.
//
// Dynamic shared memory (T units), block_smem_elems() in plan.py:
// W (all layers) | x: 3 x d0 | y: 2 x dL | A[l], l=1..L: 2 x d[l] each |
// D[l], l=1..L: 2 x d[l] each | NT / 32.
// scratch: gridDim.x x NT / 32 warps x 2 x hmax elements for the loss.
#include "fastbp_common.cuh"

template <int... D>
struct FastbpBlockShape : FastbpShape<D...> {
    using B = FastbpShape<D...>;
    static constexpr int L = B::L;
    static constexpr int XOFF = B::woff(L);
    static constexpr int YOFF = XOFF + 3 * B::d(0);
    __host__ __device__ static constexpr int aoff(int l) {  // l = 1..L
        int o = YOFF + 2 * B::d(L);
        for (int i = 1; i < l; ++i) o += 2 * B::d(i);
        return o;
    }
    __host__ __device__ static constexpr int doff(int l) {  // l = 1..L
        int o = aoff(L + 1);
        for (int i = 1; i < l; ++i) o += 2 * B::d(i);
        return o;
    }
};

// Forward pass of layer l (l == L - 1 also makes D[L]); LAZY: apply the
// pending update of W[0] from sample s-1 first (l == 0, s > 0 only).
template <typename T, int NT, typename S, int l, bool LAZY>
__device__ __forceinline__ void fastbp_block_forward(T* smem, int tid, int p, const T* x_cur, const T* x_prev,
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
__device__ __forceinline__ void fastbp_block_hidden(T* smem, int tid, int p, T alpha) {
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
__device__ __forceinline__ void fastbp_block_forward_rest(T* smem, int tid, int p, T alpha) {
    if constexpr (l < S::L) {
        fastbp_block_forward<T, NT, S, l, false>(smem, tid, p, nullptr, nullptr, alpha);
        __syncthreads();
        fastbp_block_forward_rest<T, NT, S, l + 1>(smem, tid, p, alpha);
    }
}

// Hidden deltas l..1 (top down), a barrier after each but the last (l == 1:
// the caller stores the prefetched sample first, then synchronises).
template <typename T, int NT, typename S, int l>
__device__ __forceinline__ void fastbp_block_hidden_rest(T* smem, int tid, int p, T alpha) {
    if constexpr (l >= 1) {
        fastbp_block_hidden<T, NT, S, l>(smem, tid, p, alpha);
        if constexpr (l > 1) {
            __syncthreads();
            fastbp_block_hidden_rest<T, NT, S, l - 1>(smem, tid, p, alpha);
        }
    }
}

// Weights of layers l..L-1 between global memory and shared memory (every
// size and offset a constant).
template <typename T, int NT, typename S, int l, bool STORE>
__device__ __forceinline__ void fastbp_block_copy_w(T* smem, const unsigned long long* __restrict__ wptrs, int net,
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
        fastbp_block_copy_w<T, NT, S, l + 1, STORE>(smem, wptrs, net, tid);
    }
}

// 1024 / NT blocks per SM (64 registers a thread): the registers the kernel
// used when it was measured (48-64), and four 256-thread blocks per SM for
// many networks; without the second bound ptxas picks fewer and spills.
template <typename T, int NT, int... D>
__global__ void __launch_bounds__(NT, (1024 / NT > 1 ? 1024 / NT : 1))
fastbp_train_block(const unsigned long long* __restrict__ wptrs, const int* __restrict__ dims,
                   const T* __restrict__ X1, const T* __restrict__ Y, int N, const T* __restrict__ alphas, int E,
                   const int* __restrict__ record, int R, double* __restrict__ losses, T* __restrict__ scratch) {
    using S = FastbpBlockShape<D...>;
    static_assert(S::L >= 1 && S::L < FASTBP_MAX_DIMS, "1..63 weight matrices");
    static_assert(NT % 32 == 0 && NT >= 32 && NT <= FASTBP_BLOCK_MAX_THREADS, "NT: a multiple of 32, <= 512");
    FASTBP_DYNAMIC_SMEM(fastbp_smem_raw);
    T* smem = reinterpret_cast<T*>(fastbp_smem_raw);
    constexpr int d0 = S::d(0), dL = S::d(S::L);
    const int tid = threadIdx.x;
    const int net = blockIdx.x;
    if ((int)blockDim.x != NT || N < 1) return;  // the host guarantees both

    const T alpha = alphas[net];
    fastbp_block_copy_w<T, NT, S, 0, false>(smem, wptrs, net, tid);
    int r = 0;  // next entry of record
    for (int e = 1; e <= E; ++e) {
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
            if (s > 0) fastbp_block_forward<T, NT, S, 0, true>(smem, tid, p, x_cur, x_prev, alpha);
            else fastbp_block_forward<T, NT, S, 0, false>(smem, tid, p, x_cur, x_prev, alpha);
            if constexpr (S::L > 1) {
                __syncthreads();
                fastbp_block_forward_rest<T, NT, S, 1>(smem, tid, p, alpha);
                fastbp_block_hidden_rest<T, NT, S, S::L - 1>(smem, tid, p, alpha);
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

        {  // flush the pending update of W[0] (the epoch's last sample)
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
        if (r < R && record[r] == e) {
            const double sum = fastbp_loss_part<T, false>(
                [&](int l) {
                    int o = 0;
                    for (int i = 0; i < l; ++i) o += dims[i] * dims[i + 1];
                    return (const T*)(smem + o);
                },
                dims, S::L, X1, Y, N, 0, 1, scratch + (size_t)net * (NT / 32) * 2 * S::hmax(), S::hmax(), tid, NT);
            if (tid == 0) losses[(size_t)r * gridDim.x + net] = fastbp_loss_value(sum);
            ++r;
            if (!isfinite(sum)) break;  // the same value in every thread
        }
    }
    fastbp_block_copy_w<T, NT, S, 0, true>(smem, wptrs, net, tid);
}
