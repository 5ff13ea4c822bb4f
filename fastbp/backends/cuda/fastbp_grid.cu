// fastbp_train_grid<T>: persistent multi-block SGD of ONE network too large
// for one block's shared memory (network `net` of the stacked weights,
// learning rate alphas[net]), E epochs over all N samples in one
// cooperative launch of nb <= #SM blocks.
//
// Block b of nb owns, for every layer l, the contiguous column slice
// cols [l, b] = [b * d[l+1] / nb, (b + 1) * d[l+1] / nb) of W[l] (stored
// column-major: forward pass and its lazy update) and, for l >= 1, the row
// slice rows [b * d[l] / nb, (b + 1) * d[l] / nb) of W[l] (stored row-major:
// hidden delta and its fused update). The two copies receive the same
// updates from the same operands, so they stay bitwise identical.
// Activations and deltas are exchanged through global memory (ws, written
// with st.cg, read with ld.cg so the non-coherent L1 is bypassed), with a
// grid-wide barrier between phases (monotonic 64-bit counter, zeroed by the
// host before the launch; release/acquire, fastbp_grid_sync). All nb blocks
// must be co-resident: the host launches cooperatively (the driver refuses a
// grid that cannot be). A barrier that waits longer than timeout_ns sets
// status[0] and every block returns (no hang), and the host raises.
//
// Fewer grid barriers per sample, 2L - 4 for L >= 3 (784-256-128-10: 2):
//  * L >= 2: the first layer runs block-locally, one sample ahead (see
//    first_layer below): block b owns columns of W[0] and the same rows of
//    W[1], so it computes D[1] of exactly the units it feeds, and writes
//    A[1] of sample s+1 = s(P - alpha c D1_s) with P = x_{s+1} W[0] and
//    c = x_{s+1} . x_s prepared one sample earlier; the update of its W[0]
//    columns and the next P, c run while the step's last barrier completes.
//  * replicate (L >= 2, where it fits): every block holds all of W[L-1] and
//    computes A[L], D[L] and D[L-1] for all units and the update of its copy
//    (the same operations on the same values in every block: the copies stay
//    identical; block 0 writes it back), then goes straight on to the hidden
//    delta of W[L-2]; the forward and hidden phases of W[L-1] need no barrier.
// Every epoch starts as a fresh launch would (after one grid barrier), so E
// epochs in one launch give bit for bit the weights of E launches of one.
// After the epochs in record[0..R-1] the blocks write their slices back,
// each computes the loss of the samples b, b + nb, ... (fastbp_loss_part,
// weights from global memory), and every block adds the nb parts in block
// order: the same total everywhere, written to losses[r * K + net]; training
// stops when it or a weight is not finite.
//
// ws layout (T units): A[l], l=1..L: 2 x d[l] each | D[l], l=1..L: 2 x d[l].
// part: nb doubles. scratch: nb x blockDim / 32 warps x 2 x hmax (the loss).
// Dynamic shared memory (T units), grid_smem_elems() in plan.py, with
// cmax[l] = ceil(d[l+1] / nb), rmax[l] = ceil(d[l] / nb):
// Wc[l]: cmax[l] * d[l] (l = 0..L-1; replicate: not W[L-1]) |
// Wr[l]: rmax[l] * d[l+1] (l = 1..L-1; replicate: not W[L-1]) | x: 3 x d0 |
// y: 2 x dL | Av[l]: 2 x d[l] (l = 1..L-1) | dv: max d |
// P, own D[1]: cmax[0] each, c: 1 | replicate: W[L-1], A[L], D[L], D[L-1] |
// blockDim / 32.
#include "fastbp_common.cuh"

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

// The block's group reduction: for each output c < n_out, a group of g lanes
// (g = fastbp_group_size(n_out, n_red, blockDim.x)) computes partial(c, lane,
// g), its lanes' shares of a sum of n_red terms, adds them (fastbp_group_sum),
// and the group's lane 0 calls out(c, sum). Every thread of the block calls it
// (the group sums synchronise the block when g > 32).
template <typename T, typename Partial, typename Out>
__device__ __forceinline__ void fastbp_group_dots(int n_out, int n_red, T* scratch, Partial partial, Out out) {
    const int nthreads = blockDim.x, tid = threadIdx.x;
    const int g = fastbp_group_size(n_out > 0 ? n_out : 1, n_red, nthreads);
    const int ngroups = nthreads / g;
    const int grp = tid / g, lane = tid % g;
    for (int base = 0; base < n_out; base += ngroups) {
        const int c = base + grp;
        T acc = c < n_out ? partial(c, lane, g) : T(0);
        acc = fastbp_group_sum(acc, g, scratch);
        if (c < n_out && lane == 0) out(c, acc);
    }
}

// Hidden delta with the fused update, for the rows r < rows of the
// row-major rows x n matrix w (fastbp_train_grid): with the old weights
// acc = sum_j dn[j] w[r][j], then w[r][j] -= alpha a[r] dn[j]; one lane per
// row calls out(r, acc * a_r * (1 - a_r)) (NumPy's order). Every thread of
// the block calls it (group sums).
template <typename T, typename F>
__device__ __forceinline__ void fastbp_rows_delta(T* w, int rows, int n, const T* a, const T* dn, T alpha, T* scratch,
                                                  F out) {
    fastbp_group_dots<T>(
        rows, n, scratch,
        [&](int r, int lane, int g) {
            T acc = T(0);
            const T ar = a[r];
            T* wr = w + r * n;
            for (int j = lane; j < n; j += g) {
                const T wold = wr[j];
                const T dj = dn[j];
                acc += dj * wold;
                wr[j] = Ops<T>::upd(wold, alpha, ar, dj);
            }
            return acc;
        },
        [&](int r, T acc) {
            const T ar = a[r];
            out(r, acc * ar * (T(1) - ar));
        });
}

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

// The grid barrier (fastbp_grid_sync below): thread 0 arrives with
// red.release.gpu (publishes the block's writes, ordered before it by the
// __syncthreads, without waiting for the atomic's return) and spins with
// ld.acquire.gpu (later reads, ordered after it by the __syncthreads, see the
// other blocks' writes): 1.10x a __threadfence barrier (docs/cuda.md).
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
template <typename F>
__device__ __forceinline__ bool fastbp_grid_sync(unsigned long long* counter, unsigned long long target,
                                                 volatile int* status, unsigned long long timeout_ns, int* s_abort,
                                                 F&& work) {
    __syncthreads();
    if (threadIdx.x == 0) fastbp_red_release_add(counter, 1ULL);
    work();
    if (threadIdx.x == 0) {
        unsigned long long t0 = 0;
        unsigned int spins = 0;
        while (fastbp_ld_acquire(counter) < target) {
            if (fastbp_barrier_give_up(&spins, &t0, status, timeout_ns, s_abort)) break;
        }
    }
    __syncthreads();
    return *s_abort == 0;
}

template <typename T>
__device__ __forceinline__ T fastbp_ldcg(const T* p) { return __ldcg(p); }
template <typename T>
__device__ __forceinline__ void fastbp_stcg(T* p, T v) { __stcg(p, v); }

template <typename T>
__global__ void __launch_bounds__(FASTBP_GRID_THREADS, 1)  // (256, 1): without the 1 ptxas caps the registers and spills
fastbp_train_grid(const unsigned long long* __restrict__ wptrs, const int* __restrict__ dims_g, int L,
                  const T* __restrict__ X1, const T* __restrict__ Y, int N, const T* __restrict__ alphas, int E,
                  const int* __restrict__ record, int R, double* __restrict__ losses, T* __restrict__ scratch,
                  int net, int K, T* ws, double* part, unsigned long long* counter, int* status,
                  unsigned long long timeout_ns, int replicate) {
    FASTBP_DYNAMIC_SMEM(fastbp_smem_raw);
    T* smem = reinterpret_cast<T*>(fastbp_smem_raw);
    __shared__ int d[FASTBP_MAX_DIMS];
    __shared__ int c0[FASTBP_MAX_DIMS], nc[FASTBP_MAX_DIMS];   // own columns of W[l]
    __shared__ int r0[FASTBP_MAX_DIMS], nr[FASTBP_MAX_DIMS];   // own rows of W[l]
    __shared__ int wcoff[FASTBP_MAX_DIMS], wroff[FASTBP_MAX_DIMS], avoff[FASTBP_MAX_DIMS];
    __shared__ int gaoff[FASTBP_MAX_DIMS], gdoff[FASTBP_MAX_DIMS];
    __shared__ int xoff, yoff, dvoff, poff, wfoff, soff, hmax;
    __shared__ int s_abort, s_rep;
    __shared__ double s_total;

    const int tid = threadIdx.x;
    const int nthreads = blockDim.x;
    const int nb = gridDim.x;
    const int b = blockIdx.x;
    if (L < 1 || L >= FASTBP_MAX_DIMS || N < 1) return;  // the host guarantees all three

    if (tid == 0) {
        s_abort = 0;
        s_rep = replicate != 0 && L >= 2;
        for (int l = 0; l <= L; ++l) d[l] = dims_g[l];
        int o = 0, dmax = 0;
        hmax = 1;
        for (int l = 0; l <= L; ++l) dmax = d[l] > dmax ? d[l] : dmax;
        for (int l = 1; l < L; ++l) hmax = d[l] > hmax ? d[l] : hmax;
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

    const T alpha = alphas[net];
    T* scratch_g = smem + soff;  // the group sums' scratch
    T* dv = smem + dvoff;
    const int d0 = d[0];
    const int dL = d[L];
    unsigned long long target = 0;
    auto wbase = [&](int l) { return reinterpret_cast<T*>(wptrs[l]) + (size_t)net * d[l] * d[l + 1]; };
    auto sync = [&]() {  // a grid barrier with no work while waiting
        target += (unsigned long long)nb;
        return fastbp_grid_sync(counter, target, status, timeout_ns, &s_abort, [] {});
    };

    // load the owned slices (replicated last layer: all of W[L-1])
    for (int l = 0; l < L; ++l) {
        const int n = d[l + 1], m = d[l], cols = nc[l], cstart = c0[l];
        const T* src = wbase(l);
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
    // the column slices (the replicated last layer from block 0) to global memory
    auto write_back = [&] {
        for (int l = 0; l < L; ++l) {
            const int n = d[l + 1], m = d[l], cols = nc[l], cstart = c0[l];
            T* dst = wbase(l);
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
    };

    // L >= 2: the first layer runs block-locally, ahead of the chain (as in
    // fastbp_train_regs): block b owns columns [c0[0], c0[0] + nc[0]) of W[0]
    // and the same rows of W[1], so it computes D[1] of exactly the units it
    // feeds. In the hidden-delta phase of W[1] for sample s it writes A[1] of
    // sample s+1 = s(P - alpha c D1_s) with P = x_{s+1} W[0] and c =
    // x_{s+1} . x_s prepared one sample earlier (exactly s(x_{s+1} W[0]
    // after the update of sample s)); then, between arriving at that phase's
    // grid barrier and waiting for it, it applies the update of sample s to
    // its columns of W[0] and prepares P and c for sample s+2. So the first
    // layer costs no grid barrier and its work hides behind the barrier's
    // latency. L == 1: the first layer is a forward phase.
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
        fastbp_group_dots<T>(
            cols0, d0, scratch_g,
            [&](int c, int lane, int g) {
                T acc = T(0);
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
                return acc;
            },
            [&](int c, T acc) {
                if (xp) P[c] = acc;
            });
        if (xp && xq) {
            T v = T(0);
            for (int k = tid; k < d0; k += nthreads) v += xp[k] * xq[k];
            v = fastbp_group_sum(v, nthreads, scratch_g);
            if (tid == 0) *cxx = v;
        }
    };

    int r = 0;  // next entry of record
    for (int e = 1; e <= E; ++e) {
        // every block has finished the previous epoch (its flush reads ws)
        if (e > 1 && !sync()) return;
        for (int i = tid; i < d0; i += nthreads) smem[xoff + i] = X1[i];
        for (int i = tid; i < dL; i += nthreads) smem[yoff + i] = Y[i];
        __syncthreads();
        if (pre) {  // A[1] of sample 0 = s(x_0 W[0]); then P, c of sample 1
            if (N > 1)
                for (int i = tid; i < d0; i += nthreads) xrow(1)[i] = X1[(size_t)d0 + i];
            first_layer(nullptr, xrow(0), nullptr);
            __syncthreads();
            for (int c = tid; c < cols0; c += nthreads)
                fastbp_stcg(ws + gaoff[1] + cstart0 + c, Ops<T>::sigmoid(P[c]));
            target += (unsigned long long)nb;
            if (!fastbp_grid_sync(counter, target, status, timeout_ns, &s_abort, [&] {
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
            auto own_d1 = [&](int rr, T dk) {
                d1own[rr] = dk;
                if (s + 1 < N)
                    fastbp_stcg(ws + gaoff[1] + q * d[1] + r0[1] + rr, Ops<T>::sigmoid(P[rr] - alpha * *cxx * dk));
            };
            // the step's last grid barrier; while it completes, the update of W[0]
            // by sample s and P, c for sample s+2
            auto last_barrier = [&] {
                target += (unsigned long long)nb;
                return fastbp_grid_sync(counter, target, status, timeout_ns, &s_abort, [&] {
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
                fastbp_group_dots<T>(
                    cols, m, scratch_g,
                    [&](int c, int lane, int g) {
                        T acc = T(0);
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
                        return acc;
                    },
                    [&](int c, T acc) {
                        const int j = cstart + c;
                        const T a = Ops<T>::sigmoid(acc);
                        fastbp_stcg(ws + gaoff[l + 1] + p * n + j, a);
                        if (l == L - 1) {
                            const T yj = smem[yoff + p * dL + j];
                            fastbp_stcg(ws + gdoff[L] + p * n + j, (a - yj) * a * (T(1) - a));
                        }
                    });
                if (l == fwd0) store_rows();  // first phase of the step: the prefetched rows
                if (!sync()) return;
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
                fastbp_group_dots<T>(
                    n, m, scratch_g,
                    [&](int j, int lane, int g) {
                        T acc = T(0);
                        for (int k = lane; k < m; k += g) acc += a[k] * Wf[k * n + j];
                        return acc;
                    },
                    [&](int j, T acc) {
                        const T aj = Ops<T>::sigmoid(acc);
                        const T yj = smem[yoff + p * dL + j];
                        aLv[j] = aj;
                        DLv[j] = (aj - yj) * aj * (T(1) - aj);
                    });
                __syncthreads();
                fastbp_rows_delta(Wf, m, n, a, DLv, alpha, scratch_g, [&](int rr, T dk) { Dm[rr] = dk; });
                __syncthreads();
                if (L == 2) {  // D[1] of every unit is here: the step ends
                    for (int rr = tid; rr < nr[1]; rr += nthreads) own_d1(rr, Dm[r0[1] + rr]);
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
                fastbp_rows_delta(smem + wroff[l], nr[l], n, smem + avoff[l] + p * m + rstart, dv, alpha, scratch_g,
                                  [&](int rr, T dk) {
                                      if (l == 1 && pre) own_d1(rr, dk);
                                      else fastbp_stcg(ws + gdoff[l] + p * m + rstart + rr, dk);
                                  });
                if (l == 1 && pre) {
                    if (!last_barrier()) return;
                } else {
                    if (!sync()) return;
                }
            }
        }

        // flush the pending (lazy) update of every column copy
        {
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
        if (r < R && record[r] == e) {  // the loss, over every block's samples
            write_back();
            if (!sync()) return;
            const double sum = fastbp_loss_part<T, true>(wbase, d, L, X1, Y, N, b, nb,
                                                         scratch + (size_t)b * (nthreads / 32) * 2 * hmax, hmax,
                                                         b * nthreads + tid, nb * nthreads);
            if (tid == 0) fastbp_stcg(part + b, sum);
            if (!sync()) return;
            if (tid == 0) {
                double total = 0.0;
                for (int i = 0; i < nb; ++i) total += fastbp_ldcg(part + i);
                s_total = total;
                if (b == 0) losses[(size_t)r * K + net] = fastbp_loss_value(total);
            }
            __syncthreads();
            const double total = s_total;
            ++r;
            if (!isfinite(total)) break;  // the same value in every block
        }
    }
    write_back();
}
