// Host emulation of fastbp's persistent CUDA kernels (no GPU needed).
//
// Compiles fastbp/backends/cuda/fastbp_{block,regs,grid}.cu as host C++20:
// one OS thread per CUDA thread (std::barrier for __syncthreads, a per-warp
// barrier and exchange for __syncwarp and __shfl_xor_sync), one forked
// process per thread block for the grid kernel (function-static
// "__shared__" variables are then per block; "global memory" is a
// MAP_SHARED mapping, so the grid barrier's atomics and the ld.cg / st.cg
// exchange really cross blocks). It checks the kernels' indexing, phase
// order, buffering, lazy update and flush, the epoch loop, the loss on the
// device and the grid barrier protocol; it cannot check the CUDA memory
// model, timing or NVRTC itself.
//
// Usage: cuda_emulation DIR           (files written by tests/test_cuda_source.py)
//        cuda_emulation --sigmoid DIR (DIR/z.bin -> DIR/s.bin, the float64 sigmoid)
//   DIR/params.i64: kernel (0 block, 1 regs, 2 grid), itemsize, L, N, K, blocks,
//     threads, smem_bytes, timeout_ns, replicate, epochs, R
//   DIR/dims.i32, DIR/w<l>.bin (K stacked), DIR/x.bin, DIR/y.bin, DIR/alphas.bin,
//   DIR/record.i32 (R epochs)
// Writes DIR/w<l>.out, DIR/losses.f64 (R x K) and DIR/status.txt.
//
// The block and register kernels take their shapes as template arguments:
// tests/test_cuda_source.py compiles this file with
// -DFASTBP_EMU_BLOCK_LIST='F(double, 128, 65, 33, 17, 10) F(float, ...) ...'
// (element type, threads, widths) and -DFASTBP_EMU_REGS_LIST likewise, and a
// run uses the instantiation whose type, threads and widths match (exit 3
// when none does).
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define FASTBP_HOST_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) alignas(n)
using std::isfinite;

struct Dim3 { unsigned int x = 1, y = 1, z = 1; };
static thread_local Dim3 threadIdx;
static Dim3 blockIdx, blockDim, gridDim;

static unsigned char* g_dyn_smem = nullptr;
#define FASTBP_DYNAMIC_SMEM(name) unsigned char* name = g_dyn_smem

static std::barrier<>* g_block_bar = nullptr;
static std::vector<std::unique_ptr<std::barrier<>>> g_warp_bar;
static double g_warp_buf[16][32];

static inline void __syncthreads() { g_block_bar->arrive_and_wait(); }
static inline void __syncwarp(unsigned int = 0xffffffffu) { g_warp_bar[threadIdx.x >> 5]->arrive_and_wait(); }

template <typename T>
static inline T __shfl_xor_sync(unsigned int, T v, int off) {
    const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    g_warp_bar[w]->arrive_and_wait();  // earlier readers are done
    g_warp_buf[w][lane] = (double)v;
    g_warp_bar[w]->arrive_and_wait();
    return (T)g_warp_buf[w][lane ^ off];
}

static inline int atomicCAS(int* p, int expected, int desired) {
    __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}
static inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }

template <typename T> static inline T __ldcg(const T* p) { return *(const volatile T*)p; }
template <typename T> static inline void __stcg(T* p, T v) { *(volatile T*)p = v; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __drcp_rn(double a) { return 1.0 / a; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
static inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __frcp_rn(float a) { return 1.0f / a; }

static inline unsigned long long fastbp_emu_globaltimer() {
    sched_yield();  // let the other emulated blocks run while spinning
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

#include "../fastbp/backends/cuda/fastbp_block.cu"
#include "../fastbp/backends/cuda/fastbp_regs.cu"
#include "../fastbp/backends/cuda/fastbp_grid.cu"

static std::vector<char> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) { std::fprintf(stderr, "cannot read %s\n", path.c_str()); std::exit(2); }
    return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

static void* shared_alloc(size_t n) {
    void* p = mmap(nullptr, n ? n : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { std::perror("mmap"); std::exit(2); }
    return p;
}

template <typename F>
static void run_block(int nthreads, size_t smem_bytes, F body) {
    std::vector<unsigned char> smem(smem_bytes + 64, 0xFF);  // NaN-filled: catch reads of unset memory
    g_dyn_smem = smem.data() + (64 - ((uintptr_t)smem.data() % 64)) % 64;
    std::barrier<> bar(nthreads);
    g_block_bar = &bar;
    g_warp_bar.clear();
    for (int w = 0; w < nthreads / 32; ++w) g_warp_bar.emplace_back(new std::barrier<>(32));
    std::vector<std::thread> ts;
    for (int t = 0; t < nthreads; ++t) ts.emplace_back([t, &body] { threadIdx.x = t; body(); });
    for (auto& th : ts) th.join();
}

template <typename T>
static int run(const std::string& dir, const std::vector<long long>& prm) {
    const int kernel = (int)prm[0], L = (int)prm[2], N = (int)prm[3], K = (int)prm[4];
    const int nb = (int)prm[5], threads = (int)prm[6];
    const size_t smem = (size_t)prm[7];
    const unsigned long long timeout_ns = (unsigned long long)prm[8];
    const int replicate = (int)prm[9], E = (int)prm[10], R = (int)prm[11];
    if (threads / 32 > 16) { std::fprintf(stderr, "too many threads\n"); return 2; }
    auto dimsb = read_file(dir + "/dims.i32");
    std::vector<int> dims(L + 1);
    std::memcpy(dims.data(), dimsb.data(), sizeof(int) * (L + 1));
    int hmax = 1;
    for (int l = 1; l < L; ++l) hmax = dims[l] > hmax ? dims[l] : hmax;
    std::vector<T*> W(L);
    std::vector<size_t> wbytes(L);
    std::vector<unsigned long long> wptrs(L);
    for (int l = 0; l < L; ++l) {
        auto b = read_file(dir + "/w" + std::to_string(l) + ".bin");
        wbytes[l] = b.size();
        W[l] = (T*)shared_alloc(b.size());
        std::memcpy(W[l], b.data(), b.size());
        wptrs[l] = (unsigned long long)(uintptr_t)W[l];
    }
    auto xb = read_file(dir + "/x.bin"), yb = read_file(dir + "/y.bin"), ab = read_file(dir + "/alphas.bin");
    auto rb = read_file(dir + "/record.i32");
    const T* X = (const T*)xb.data();
    const T* Y = (const T*)yb.data();
    const T* A = (const T*)ab.data();
    const int* rec = (const int*)rb.data();
    const int nblocks = kernel == 2 ? nb : K;
    auto* losses = (double*)shared_alloc(sizeof(double) * (R > 0 ? R : 1) * K);
    for (int i = 0; i < R * K; ++i) losses[i] = NAN;
    T* scratch = (T*)shared_alloc(sizeof(T) * (size_t)nblocks * (threads / 32) * 2 * hmax);
    int status_code = 0;
    blockDim.x = threads;
    if (kernel == 0 || kernel == 1) {
        gridDim.x = K;
        bool found = false;
        auto try_shape = [&](auto kern, int nt, std::initializer_list<int> shape) {
            if (found || nt != threads || (int)shape.size() != L + 1) return;
            int i = 0;
            for (int v : shape) if (v != dims[i++]) return;
            found = true;
            for (int k = 0; k < K; ++k) {
                blockIdx.x = k;
                run_block(threads, smem, [&] { kern(wptrs.data(), dims.data(), X, Y, N, A, E, rec, R, losses, scratch); });
            }
        };
#define F(TT, NT, ...)                                                                          \
        if constexpr (std::is_same_v<T, TT>) try_shape(fastbp_train_block<TT, NT, __VA_ARGS__>, NT, {__VA_ARGS__});
#ifdef FASTBP_EMU_BLOCK_LIST
        if (kernel == 0) { FASTBP_EMU_BLOCK_LIST }
#endif
#undef F
#define F(TT, NT, ...)                                                                          \
        if constexpr (std::is_same_v<T, TT>) try_shape(fastbp_train_regs<TT, NT, __VA_ARGS__>, NT, {__VA_ARGS__});
#ifdef FASTBP_EMU_REGS_LIST
        if (kernel == 1) { FASTBP_EMU_REGS_LIST }
#endif
#undef F
        if (!found) {
            std::fprintf(stderr, "no fastbp_train_block / fastbp_train_regs instantiation for this shape/threads/type\n");
            return 3;
        }
    } else {
        size_t wse = 0;
        for (int l = 1; l <= L; ++l) wse += 4 * (size_t)dims[l];
        T* ws = (T*)shared_alloc(wse * sizeof(T));
        for (size_t i = 0; i < wse; ++i) ws[i] = NAN;
        auto* part = (double*)shared_alloc(sizeof(double) * nb);
        auto* counter = (unsigned long long*)shared_alloc(sizeof(unsigned long long));
        int* status = (int*)shared_alloc(sizeof(int));
        gridDim.x = nb;
        std::fflush(nullptr);
        for (int net = 0; net < K; ++net) {  // one launch per network, as the host does
            *counter = 0;
            *status = 0;
            std::vector<pid_t> kids;
            for (int b = 0; b < nb; ++b) {
                pid_t pid = fork();
                if (pid == 0) {
                    blockIdx.x = b;
                    run_block(threads, smem, [&] {
                        fastbp_train_grid<T>(wptrs.data(), dims.data(), L, X, Y, N, A, E, rec, R, losses, scratch, net,
                                             K, ws, part, counter, status, timeout_ns, replicate);
                    });
                    std::fflush(nullptr);
                    _exit(0);
                }
                kids.push_back(pid);
            }
            for (pid_t pid : kids) {
                int st = 0;
                waitpid(pid, &st, 0);
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) status_code = 100;
            }
            if (*status != 0) status_code = *status;
        }
    }
    for (int l = 0; l < L; ++l) {
        std::ofstream f(dir + "/w" + std::to_string(l) + ".out", std::ios::binary);
        f.write((const char*)W[l], (std::streamsize)wbytes[l]);
    }
    std::ofstream(dir + "/losses.f64", std::ios::binary).write((const char*)losses, (std::streamsize)(sizeof(double) * R * K));
    std::ofstream(dir + "/status.txt") << status_code << "\n";
    return status_code;
}

int main(int argc, char** argv) {
    if (argc != 2 && argc != 3) { std::fprintf(stderr, "usage: %s DIR | --sigmoid DIR\n", argv[0]); return 2; }
    const std::string dir = argv[1];
    if (dir == "--sigmoid" && argc == 3) {  // DIR/z.bin (float64) -> DIR/s.bin: Ops<double>::sigmoid
        const std::string d2 = argv[2];
        auto zb = read_file(d2 + "/z.bin");
        std::vector<double> z(zb.size() / 8), out(zb.size() / 8);
        std::memcpy(z.data(), zb.data(), zb.size());
        for (size_t i = 0; i < z.size(); ++i) out[i] = Ops<double>::sigmoid(z[i]);
        std::ofstream(d2 + "/s.bin", std::ios::binary).write((const char*)out.data(), (std::streamsize)(8 * out.size()));
        return 0;
    }
    auto pb = read_file(dir + "/params.i64");
    std::vector<long long> prm(pb.size() / sizeof(long long));
    std::memcpy(prm.data(), pb.data(), pb.size());
    const int rc = prm[1] == 8 ? run<double>(dir, prm) : run<float>(dir, prm);
    return rc == 0 ? 0 : 1;
}
