// Host emulation of fastbp's persistent CUDA kernels (no GPU needed).
//
// Compiles fastbp/backends/cuda/fastbp_kernels.cu as host C++20: one OS
// thread per CUDA thread (std::barrier for __syncthreads, a per-warp
// exchange for __shfl_xor_sync), one forked process per thread block for the
// grid kernel (function-static "__shared__" variables are then per block;
// "global memory" is a MAP_SHARED mapping, so the grid barrier's atomics and
// the ld.cg / st.cg exchange really cross blocks). It checks the kernels'
// indexing, phase order, double/triple buffering, lazy update and flush, and
// the grid barrier protocol; it cannot check the CUDA memory model, timing or
// NVRTC itself.
//
// Usage: cuda_emulation DIR   (files written by tests/test_cuda_source.py)
//        cuda_emulation --sigmoid DIR   (DIR/z.bin -> DIR/s.bin, the float64 sigmoid)
//   DIR/params.i64: kernel (0 block, 1 grid, 2 block_fixed, 3 grid with the acq/rel barrier, 4 regs), itemsize, L, N, K, blocks, threads, smem_bytes, timeout_ns, replicate (grid: last layer in every block)
//   DIR/dims.i32, DIR/w<l>.bin (K stacked), DIR/x.bin, DIR/y.bin, DIR/alphas.bin
// Writes DIR/w<l>.out and DIR/status.txt.
//
// The shape-specialised fastbp_sgd_block_fixed<T, NT, D...> needs its shapes
// at compile time: tests/test_cuda_source.py compiles this file with
// -DFASTBP_EMU_FIXED_LIST='F(double, 128, 65, 33, 17, 10) F(float, ...) ...'
// (element type, threads, widths), and kernel 2 runs the instantiation whose
// type, threads and widths match the run's (exit 3 when none does).
// Likewise fastbp_sgd_regs<T, NT, D...> (kernel 4) with -DFASTBP_EMU_REGS_LIST.
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <initializer_list>
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

struct Dim3 { unsigned int x = 1, y = 1, z = 1; };
static thread_local Dim3 threadIdx;
static Dim3 blockIdx, blockDim, gridDim;

static unsigned char* g_dyn_smem = nullptr;
#define FASTBP_DYNAMIC_SMEM(name) unsigned char* name = g_dyn_smem

static std::barrier<>* g_block_bar = nullptr;
static std::vector<std::unique_ptr<std::barrier<>>> g_warp_bar;
static double g_warp_buf[32][32];

static inline void __syncthreads() { g_block_bar->arrive_and_wait(); }
static inline void __syncwarp(unsigned int = 0xffffffffu) { g_warp_bar[threadIdx.x >> 5]->arrive_and_wait(); }
static inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <typename T>
static inline T __shfl_xor_sync(unsigned int, T v, int off) {
    const int w = threadIdx.x >> 5, lane = threadIdx.x & 31;
    g_warp_bar[w]->arrive_and_wait();  // earlier readers are done
    g_warp_buf[w][lane] = (double)v;
    g_warp_bar[w]->arrive_and_wait();
    return (T)g_warp_buf[w][lane ^ off];
}

static inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
    return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
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
static inline long long __double_as_longlong(double x) { long long i; std::memcpy(&i, &x, 8); return i; }
static inline double __longlong_as_double(long long i) { double x; std::memcpy(&x, &i, 8); return x; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }

static inline unsigned long long fastbp_emu_globaltimer() {
    sched_yield();  // let the other emulated blocks run while spinning
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

#include "../fastbp/backends/cuda/fastbp_kernels.cu"

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
    const int replicate = prm.size() > 9 ? (int)prm[9] : 0;
    auto dimsb = read_file(dir + "/dims.i32");
    std::vector<int> dims(L + 1);
    std::memcpy(dims.data(), dimsb.data(), sizeof(int) * (L + 1));
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
    const T* X = (const T*)xb.data();
    const T* Y = (const T*)yb.data();
    const T* A = (const T*)ab.data();
    int status_code = 0;
    blockDim.x = threads;
    if (kernel == 2 || kernel == 4) {
        gridDim.x = K;
        bool found = false;
        auto try_fixed = [&](auto kern, int nt, std::initializer_list<int> shape) {
            if (found || nt != threads || (int)shape.size() != L + 1) return;
            int i = 0;
            for (int v : shape) if (v != dims[i++]) return;
            found = true;
            for (int k = 0; k < K; ++k) {
                blockIdx.x = k;
                run_block(threads, smem, [&] { kern(wptrs.data(), dims.data(), L, X, Y, N, A); });
            }
        };
#define F(TT, NT, ...)                                                                          \
        if constexpr (std::is_same_v<T, TT>) try_fixed(fastbp_sgd_block_fixed<TT, NT, __VA_ARGS__>, NT, {__VA_ARGS__});
#ifdef FASTBP_EMU_FIXED_LIST
        if (kernel == 2) { FASTBP_EMU_FIXED_LIST }
#endif
#undef F
#define F(TT, NT, ...)                                                                          \
        if constexpr (std::is_same_v<T, TT>) try_fixed(fastbp_sgd_regs<TT, NT, __VA_ARGS__>, NT, {__VA_ARGS__});
#ifdef FASTBP_EMU_REGS_LIST
        if (kernel == 4) { FASTBP_EMU_REGS_LIST }
#endif
#undef F
        if (!found) {
            std::fprintf(stderr, "no fastbp_sgd_block_fixed / fastbp_sgd_regs instantiation for this shape/threads/type\n");
            return 3;
        }
    } else if (kernel == 0) {
        gridDim.x = K;
        for (int k = 0; k < K; ++k) {
            blockIdx.x = k;
            run_block(threads, smem, [&] { fastbp_sgd_block<T>(wptrs.data(), dims.data(), L, X, Y, N, A); });
        }
    } else {
        size_t wse = 0;
        for (int l = 1; l <= L; ++l) wse += 4 * (size_t)dims[l];
        T* ws = (T*)shared_alloc(wse * sizeof(T));
        for (size_t i = 0; i < wse; ++i) ws[i] = NAN;
        auto* counter = (unsigned long long*)shared_alloc(sizeof(unsigned long long));
        int* status = (int*)shared_alloc(sizeof(int));
        *counter = 0;
        *status = 0;
        gridDim.x = nb;
        std::vector<pid_t> kids;
        std::fflush(nullptr);
        for (int b = 0; b < nb; ++b) {
            pid_t pid = fork();
            if (pid == 0) {
                blockIdx.x = b;
                run_block(threads, smem, [&] {
                    if (kernel == 3)
                        fastbp_sgd_grid<T, 1>(wptrs.data(), dims.data(), L, X, Y, N, A, ws, counter, status, timeout_ns,
                                              replicate);
                    else
                        fastbp_sgd_grid<T>(wptrs.data(), dims.data(), L, X, Y, N, A, ws, counter, status, timeout_ns,
                                           replicate);
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
    for (int l = 0; l < L; ++l) {
        std::ofstream f(dir + "/w" + std::to_string(l) + ".out", std::ios::binary);
        f.write((const char*)W[l], (std::streamsize)wbytes[l]);
    }
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
