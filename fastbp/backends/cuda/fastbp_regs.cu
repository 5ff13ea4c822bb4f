// fastbp_train_regs<T, NT, d0, ..., dL>, L >= 2: persistent single-block
// SGD with every weight in one thread's registers; block k trains network k
// (blockIdx.x = network, stacked weights and alphas as fastbp_train_block)
// for E epochs over all N samples in one launch, e.g.
// "fastbp_train_regs<double, 320, 65, 33, 17, 10>". Shared memory holds only
// activations, deltas, targets and the first layer's products.
// ONE __syncthreads per sample (warp 0 and warps 1.. reach it from their own
// code paths: valid where barriers count threads, compute capability 7.0
// and later; the host plans this kernel only there):
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
// NumPy's order, lazily for W[0]: flushed after the epoch's last sample);
// the activations differ from NumPy's by rounding (sums of partial sums, and
// the first layer's product by the identity above). Every epoch starts as a
// fresh launch would, so E epochs in one launch give bit for bit the weights
// of E launches of one. After the epochs in record[0..R-1] both roles store
// their weights to global memory and the whole block computes the loss
// (fastbp_loss_part) into losses[r * gridDim.x + k]; a network whose loss or
// weights are not finite stops training.
// Dynamic shared memory (T units), regs_smem_elems() in plan.py:
// A[l], l=1..L: d[l] each | D[l], l=1..L: d[l] each (D[1] unused) |
// D[1]: 2 x d1 (sample parity) | y: 2 x dL | P: 2 x d1 | c: 2.
// scratch: gridDim.x x NT / 32 warps x 2 x hmax elements for the loss.
#include "fastbp_common.cuh"

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

// Warps 1..: their elements of W[0] from (STORE: to) global memory.
template <typename T, int P0, int K0, bool STORE>
__device__ __forceinline__ void fastbp_regs_copy_w0(T (&w0)[P0][K0], T* g0, int grp, int r0, int NG0, int G0, int d0,
                                                    int d1) {
#pragma unroll
    for (int q = 0; q < P0; ++q) {
#pragma unroll
        for (int i = 0; i < K0; ++i) {
            const int j = grp + q * NG0, k = r0 + i * G0;
            if (STORE) {
                if (j < d1 && k < d0) g0[k * d1 + j] = w0[q][i];
            } else {
                w0[q][i] = (j < d1 && k < d0) ? g0[k * d1 + j] : T(0);
            }
        }
    }
}

template <typename T, int NT, int... D>
__global__ void __launch_bounds__(NT, 1)  // one block per SM: all of the register file
fastbp_train_regs(const unsigned long long* __restrict__ wptrs, const int* __restrict__ dims,
                  const T* __restrict__ X1, const T* __restrict__ Y, int N, const T* __restrict__ alphas, int E,
                  const int* __restrict__ record, int R, double* __restrict__ losses, T* __restrict__ scratch) {
    using S = FastbpRegsShape<D...>;
    static_assert(S::L >= 2 && S::L < FASTBP_MAX_DIMS, "2..63 weight matrices (one: fastbp_train_block)");
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
    if ((int)blockDim.x != NT || N < 1) return;  // the host guarantees both
    const T alpha = alphas[net];
    // the loss of a recorded epoch, from the weights both roles stored to
    // global memory (every thread calls it, from its role's code path)
    auto loss = [&]() {
        __syncthreads();  // the stored weights are visible to the whole block
        return fastbp_loss_part<T, false>(
            [&](int l) { return (const T*)(reinterpret_cast<T*>(wptrs[l]) + (size_t)net * dims[l] * dims[l + 1]); },
            dims, S::L, X1, Y, N, 0, 1, scratch + (size_t)net * (NT / 32) * 2 * S::hmax(), S::hmax(), tid, NT);
    };

    if (tid < 32) {  // ---------------------- warp 0: the per-sample chain
        const int lane = tid;
        FastbpWarpW<T, S, 1> ww;
        fastbp_warp_copy<T, S, 1, false>(ww, wptrs, net, lane);
        T yn[YR];
        int r = 0;
        for (int e = 1; e <= E; ++e) {
#pragma unroll
            for (int q = 0; q < YR; ++q) {
                const int j = lane + 32 * q;
                if (j < dL) sm[S::YOFF + j] = Y[j];
            }
            __syncthreads();  // P and c of sample 0 are ready
            for (int s = 0; s < N; ++s) {
                const int p = s & 1;
                const bool pf = s + 1 < N;
#pragma unroll
                for (int q = 0; q < YR; ++q) {  // the next target row, stored after the step
                    const int j = lane + 32 * q;
                    yn[q] = (pf && j < dL) ? Y[(size_t)(s + 1) * dL + j] : T(0);
                }
                // A[1] = s(P - alpha c D[1] of sample s-1): x_s times the updated W[0]
                const T* P = sm + S::POFF + p * d1;
                const T* Dp = sm + S::D1OFF + (p ^ 1) * d1;
                const T ac = s > 0 ? alpha * sm[S::COFF + p] : T(0);
#pragma unroll
                for (int q = 0; q < Z1; ++q) {
                    const int j = lane + 32 * q;
                    if (j < d1) sm[S::aoff(1) + j] = Ops<T>::sigmoid(s > 0 ? P[j] - ac * Dp[j] : P[j]);
                }
                __syncwarp();
                fastbp_warp_forward<T, S, 1>(ww, sm, lane, sm + S::YOFF + p * dL);
                fastbp_warp_backward<T, S, 1>(ww, sm, lane, alpha, sm + S::D1OFF + p * d1);
#pragma unroll
                for (int q = 0; q < YR; ++q) {
                    const int j = lane + 32 * q;
                    if (pf && j < dL) sm[S::YOFF + (p ^ 1) * dL + j] = yn[q];
                }
                __syncthreads();  // D[1] of sample s, P and c of sample s+1 are ready
            }
            if (r < R && record[r] == e) {  // (reloaded afterwards: no registers held across the loss)
                fastbp_warp_copy<T, S, 1, true>(ww, wptrs, net, lane);
                const double sum = loss();
                if (lane == 0) losses[(size_t)r * gridDim.x + net] = fastbp_loss_value(sum);
                ++r;
                if (!isfinite(sum)) break;  // the same value in every thread of the block
                fastbp_warp_copy<T, S, 1, false>(ww, wptrs, net, lane);
            }
        }
        fastbp_warp_copy<T, S, 1, true>(ww, wptrs, net, lane);
    } else {  // ----------------------- warps 1..: W[0], one sample ahead
        const int t0 = tid - 32, grp = t0 / G0, r0 = t0 % G0;
        T* g0 = reinterpret_cast<T*>(wptrs[0]) + (size_t)net * d0 * d1;
        // x rows s-1, s, s+1 (xa, xb, xc) at the start of step s
        T w0[P0][K0], xa[K0], xb[K0], xc[K0];
        fastbp_regs_copy_w0<T, P0, K0, false>(w0, g0, grp, r0, NG0, G0, d0, d1);
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
        int r = 0;
        for (int e = 1; e <= E; ++e) {
#pragma unroll
            for (int i = 0; i < K0; ++i) {
                const int k = r0 + i * G0;
                xa[i] = T(0);
                xb[i] = k < d0 ? X1[k] : T(0);
                xc[i] = (k < d0 && N > 1) ? X1[(size_t)d0 + k] : T(0);
            }
            products(xb, xa, 0);
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
            {  // flush the update of W[0] by the epoch's last sample (x in xa)
                const T* Dl = sm + S::D1OFF + ((N - 1) & 1) * d1;
#pragma unroll
                for (int q = 0; q < P0; ++q) {
                    const int j = grp + q * NG0;
                    const T dj = j < d1 ? Dl[j] : T(0);
#pragma unroll
                    for (int i = 0; i < K0; ++i) w0[q][i] = Ops<T>::upd(w0[q][i], alpha, xa[i], dj);
                }
            }
            if (r < R && record[r] == e) {  // (reloaded afterwards: no registers held across the loss)
                fastbp_regs_copy_w0<T, P0, K0, true>(w0, g0, grp, r0, NG0, G0, d0, d1);
                const double sum = loss();
                ++r;
                if (!isfinite(sum)) break;  // the same value in every thread of the block
                fastbp_regs_copy_w0<T, P0, K0, false>(w0, g0, grp, r0, NG0, G0, d0, d1);
            }
        }
        fastbp_regs_copy_w0<T, P0, K0, true>(w0, g0, grp, r0, NG0, G0, d0, d1);
    }
}
