// Chooses the dot-product kernels for this CPU. Compiled without instruction-set flags:
// nothing here executes an AVX instruction; it only probes the CPU and hands out pointers
// to the kernels of kernels_internal.hpp, which run only where detect_isa() found their set.
//
// Tables: one per Isa level, each complete for every weight type with a dot product. A level
// takes its own kernels where it has them and inherits the rest from the level below, so
// kernels_for(t, Isa::Avx512) may return AVX2 (or scalar) entries; TypeKernels::isa says which.
#include <cpuid.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>

#include "kernels.hpp"
#include "kernels_internal.hpp"
#include "llamux/quant_blocks.hpp"
#include "llamux/quant_ref.hpp"

namespace llamux::cpu {
namespace {

// ---- CPU probing ---------------------------------------------------------------------

// XCR0: which register states the OS saves on a context switch.
uint64_t read_xcr0() {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return 0;
    if ((ecx & (1u << 27)) == 0) return 0;  // OSXSAVE: xgetbv is not available
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}

// AMX-TILE, AMX-INT8 and AMX-BF16 in CPUID, the tile state in XCR0, and Linux's permission
// for this process to use it (without the request the first tile instruction faults).
bool amx_usable(uint64_t xcr0) {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    const bool cpu = (edx & (1u << 24)) != 0 && (edx & (1u << 25)) != 0 && (edx & (1u << 22)) != 0;
    const bool os = (xcr0 & (3ull << 17)) == (3ull << 17);  // XTILECFG, XTILEDATA
    if (!cpu || !os) return false;
#if defined(__linux__) && defined(SYS_arch_prctl)
    constexpr long kReqXcompPerm = 0x1023;  // ARCH_REQ_XCOMP_PERM
    constexpr long kXtileData = 18;         // XFEATURE_XTILEDATA
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
#else
    return false;
#endif
}

// AVX-VNNI (CPUID.(EAX=7, ECX=1):EAX[4]), with the YMM state the OS saves; probed once.
bool has_avx_vnni() {
    static const bool vnni = [] {
        uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
        if ((read_xcr0() & 0x6u) != 0x6u) return false;
        if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) == 0) return false;
        return (eax & (1u << 4)) != 0;
    }();
    return vnni;
}

Isa probe_cpu() {
    __builtin_cpu_init();
    const uint64_t xcr0 = read_xcr0();
    const bool os_avx = (xcr0 & 0x6u) == 0x6u;            // XMM and YMM state
    const bool os_avx512 = os_avx && (xcr0 & 0xE0u) == 0xE0u;  // opmask, ZMM_Hi256, Hi16_ZMM
    const bool avx2 = os_avx && __builtin_cpu_supports("avx2") &&
                      __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (!avx2) return Isa::Scalar;
    const bool avx512 = os_avx512 && __builtin_cpu_supports("avx512f") &&
                        __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512vnni");
    if (!avx512) return has_avx_vnni() ? Isa::AvxVnni : Isa::Avx2;
    return amx_usable(xcr0) ? Isa::Amx : Isa::Avx512;
}

// LLAMUX_CPU_ISA=scalar|avx2|avxvnni|avx512 caps the choice; unset or unknown: no cap.
Isa env_cap() {
    const char* v = std::getenv("LLAMUX_CPU_ISA");
    if (v == nullptr) return Isa::Amx;
    if (std::strcmp(v, "scalar") == 0) return Isa::Scalar;
    if (std::strcmp(v, "avx2") == 0) return Isa::Avx2;
    if (std::strcmp(v, "avxvnni") == 0) return Isa::AvxVnni;
    if (std::strcmp(v, "avx512") == 0) return Isa::Avx512;
    return Isa::Amx;
}

Isa min_isa(Isa a, Isa b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

// The level whose table serves a request for `isa`: AvxVnni falls back to Avx2 on a CPU
// without AVX-VNNI (an AVX-512 CPU asked for it, or capped to it).
Isa usable(Isa isa) { return isa == Isa::AvxVnni && !has_avx_vnni() ? Isa::Avx2 : isa; }

// ---- scalar kernels: graph's reference routines ---------------------------------------

template <DType T>
float dot_scalar(int64_t n, const void* w, const void* a) {
    return vec_dot_ref(T, n, w, a);
}

// Activations as the reference matmul converts them (quantize_activation_row_ref: for Q8_0
// llama.cpp's x86 rounding, else quantize_row_ref).
template <DType Act>
void from_float_scalar(const float* x, void* dst, int64_t n) {
    quantize_activation_row_ref(Act, x, dst, n);
}

// dst[c * ldd + r] = dot(row r of w, column c of a), one vec_dot per pair.
template <DType T>
void tile_scalar(int64_t n, const void* w, size_t w_stride, const void* a, size_t a_stride,
                 float* dst, size_t ldd, int nr, int nc) {
    const auto* wb = static_cast<const unsigned char*>(w);
    const auto* ab = static_cast<const unsigned char*>(a);
    for (int c = 0; c < nc; ++c) {
        for (int r = 0; r < nr; ++r) {
            dst[static_cast<size_t>(c) * ldd + static_cast<size_t>(r)] =
                vec_dot_ref(T, n, wb + static_cast<size_t>(r) * w_stride,
                            ab + static_cast<size_t>(c) * a_stride);
        }
    }
}

template <DType T, DType Act>
constexpr TypeKernels scalar_entry() {
    return {T,
            Act,
            &dot_scalar<T>,
            Act == DType::F32 ? nullptr : &from_float_scalar<Act>,
            &tile_scalar<T>,
            Isa::Scalar,
            nullptr,
            nullptr,
            nullptr};
}

constexpr std::array kScalar = {
    scalar_entry<DType::F32, DType::F32>(),   scalar_entry<DType::F16, DType::F16>(),
    scalar_entry<DType::BF16, DType::BF16>(), scalar_entry<DType::Q4_0, DType::Q8_0>(),
    scalar_entry<DType::Q4_1, DType::Q8_0>(), scalar_entry<DType::Q5_0, DType::Q8_0>(),
    scalar_entry<DType::Q5_1, DType::Q8_0>(), scalar_entry<DType::Q8_0, DType::Q8_0>(),
    scalar_entry<DType::Q2_K, DType::Q8_K>(), scalar_entry<DType::Q3_K, DType::Q8_K>(),
    scalar_entry<DType::Q4_K, DType::Q8_K>(), scalar_entry<DType::Q5_K, DType::Q8_K>(),
    scalar_entry<DType::Q6_K, DType::Q8_K>(),
};
constexpr size_t kTypes = kScalar.size();

// ---- the faster levels: what each replaces (nullptr: keep the level below's) -----------

struct Override {
    DType weight;
    VecDotFn vec_dot;
    FromFloatFn from_float;
    TileFn tile;
};

constexpr Override kAvx2[] = {
    {DType::F32, &f32_dot_avx2, nullptr, &f32_tile_avx2},
    {DType::F16, &f16_dot_avx2, &f16_from_float_avx2, &f16_tile_avx2},
    {DType::BF16, &bf16_dot_avx2, &bf16_from_float_avx2, &bf16_tile_avx2},
    {DType::Q4_0, &q4_0_dot_avx2, &q8_0_from_float_avx2, &q4_0_tile_avx2},
    {DType::Q4_1, &q4_1_dot_avx2, &q8_0_from_float_avx2, &q4_1_tile_avx2},
    {DType::Q5_0, &q5_0_dot_avx2, &q8_0_from_float_avx2, &q5_0_tile_avx2},
    {DType::Q5_1, &q5_1_dot_avx2, &q8_0_from_float_avx2, &q5_1_tile_avx2},
    {DType::Q8_0, &q8_0_dot_avx2, &q8_0_from_float_avx2, &q8_0_tile_avx2},
    {DType::Q2_K, &q2_k_dot_avx2, &q8_k_from_float_avx2, &q2_k_tile_avx2},
    {DType::Q3_K, &q3_k_dot_avx2, &q8_k_from_float_avx2, &q3_k_tile_avx2},
    {DType::Q4_K, &q4_k_dot_avx2, &q8_k_from_float_avx2, &q4_k_tile_avx2},
    {DType::Q5_K, &q5_k_dot_avx2, &q8_k_from_float_avx2, &q5_k_tile_avx2},
    {DType::Q6_K, &q6_k_dot_avx2, &q8_k_from_float_avx2, &q6_k_tile_avx2},
};

constexpr Override kAvx512[] = {
    {DType::F32, &f32_dot_avx512, nullptr, &f32_tile_avx512},
    {DType::F16, &f16_dot_avx512, nullptr, &f16_tile_avx512},
    {DType::BF16, &bf16_dot_avx512, nullptr, &bf16_tile_avx512},
    {DType::Q4_0, &q4_0_dot_avx512, nullptr, &q4_0_tile_avx512},
    {DType::Q4_1, &q4_1_dot_avx512, nullptr, &q4_1_tile_avx512},
    {DType::Q5_0, &q5_0_dot_avx512, nullptr, &q5_0_tile_avx512},
    {DType::Q5_1, &q5_1_dot_avx512, nullptr, &q5_1_tile_avx512},
    {DType::Q8_0, &q8_0_dot_avx512, nullptr, &q8_0_tile_avx512},
    {DType::Q2_K, &q2_k_dot_avx512, nullptr, &q2_k_tile_avx512},
    {DType::Q3_K, &q3_k_dot_avx512, nullptr, &q3_k_tile_avx512},
    {DType::Q4_K, &q4_k_dot_avx512, nullptr, &q4_k_tile_avx512},
    {DType::Q5_K, &q5_k_dot_avx512, nullptr, &q5_k_tile_avx512},
    {DType::Q6_K, &q6_k_dot_avx512, nullptr, &q6_k_tile_avx512},
};

// The AMX level adds matrix-unit products for prompt processing to the AVX-512 kernels.
struct GemmOverride {
    DType weight;
    const GemmKernels* gemm;
};

constexpr GemmOverride kAmx[] = {
    {DType::F16, &f16_gemm_amx},
    {DType::BF16, &bf16_gemm_amx},
    {DType::Q4_0, &q4_0_gemm_amx},
    {DType::Q8_0, &q8_0_gemm_amx},
    {DType::Q4_1, &q4_1_gemm_amx},
    {DType::Q5_0, &q5_0_gemm_amx},
    {DType::Q5_1, &q5_1_gemm_amx},
    {DType::Q4_K, &q4_k_gemm_amx},
    {DType::Q5_K, &q5_k_gemm_amx},
    {DType::Q6_K, &q6_k_gemm_amx},
};

using Table = std::array<TypeKernels, kTypes>;

Table apply(const Table& below, const Override* begin, const Override* end, Isa isa) {
    Table t = below;
    for (const Override* o = begin; o != end; ++o) {
        for (TypeKernels& k : t) {
            if (k.weight != o->weight) continue;
            if (o->vec_dot != nullptr) k.vec_dot = o->vec_dot;
            if (o->from_float != nullptr) k.from_float = o->from_float;
            if (o->tile != nullptr) k.tile = o->tile;
            if (o->vec_dot != nullptr || o->tile != nullptr) k.isa = isa;
        }
    }
    return t;
}

// Q5_0 and Q5_1 are not repacked here: their AMX products read the original rows (no AMX
// product on their repacked form has been measured).
Table apply_gemm(const Table& below, const GemmOverride* begin, const GemmOverride* end) {
    Table t = below;
    for (const GemmOverride* o = begin; o != end; ++o) {
        for (TypeKernels& k : t) {
            if (k.weight == o->weight) k.gemm = o->gemm;
            if (k.weight == DType::Q4_0) k.packed_gemm = &q4_0_packed_gemm_amx;
            if (k.weight == DType::Q4_1) k.packed_gemm = &q4_1_packed_gemm_amx;
            if (k.weight == DType::Q8_0) k.packed_gemm = &q8_0_packed_gemm_amx;
            if (k.weight == DType::Q5_0 || k.weight == DType::Q5_1) k.packed_gemv = nullptr;
        }
    }
    return t;
}

// AVX2: Q4_0 and the K-quants Q4_K, Q5_K, Q6_K through the products on column-interleaved
// activations, which beat the 4x4 tiles there (kernels_avx2_gemm.cpp); F16 and BF16 through
// products on operands widened once (kernels_avx2_float_gemm.cpp).
Table apply_avx2_gemm(const Table& below) {
    Table t = below;
    for (TypeKernels& k : t) {
        if (k.weight == DType::F16) k.gemm = &f16_gemm_avx2;
        if (k.weight == DType::BF16) k.gemm = &bf16_gemm_avx2;
        if (k.weight == DType::Q4_0) k.gemm = &q4_0_gemm_avx2;
        if (k.weight == DType::Q4_K) k.gemm = &q4_k_gemm_avx2;
        if (k.weight == DType::Q5_K) k.gemm = &q5_k_gemm_avx2;
        if (k.weight == DType::Q6_K) k.gemm = &q6_k_gemm_avx2;
    }
    return t;
}

// AVX2: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 weights repacked for generation
// (kernels_avx2_packed.cpp); prompts on them take the repacked rows' few-columns product, as
// at the AVX-512 level (on a Zen 5 capped to AVX2, 1.1B Q4_0 pp512 192 t/s against 176 for
// the block kernel on the original rows).
Table apply_avx2_packed(const Table& below) {
    Table t = below;
    for (TypeKernels& k : t) {
        if (k.weight == DType::Q4_0) k.packed_gemv = &q4_0_packed_avx2;
        if (k.weight == DType::Q4_1) k.packed_gemv = &q4_1_packed_avx2;
        if (k.weight == DType::Q5_0) k.packed_gemv = &q5_0_packed_avx2;
        if (k.weight == DType::Q5_1) k.packed_gemv = &q5_1_packed_avx2;
        if (k.weight == DType::Q8_0) k.packed_gemv = &q8_0_packed_avx2;
    }
    return t;
}

// AVX-512 and above: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 weights repacked for generation;
// prompts then read the repacked rows too (packed_gemv's columns, or the AMX level's packed
// gemm), so Q4_0's AVX2 block kernel, which reads the original rows, is dropped. On Intel
// cores the K-quants keep their AVX2 block kernels, faster there than the AVX-512 tiles (the
// Sapphire Rapids VM capped to AVX-512, 1.1B pp512: Q4_K_M 172 against 130 t/s, Q5_K_M 165
// against 114, Q6_K 156 against 137) until the AMX level brings its own; on an AMD Zen 5 the
// tiles are the faster (docs/performance.md, "On an AMD EPYC (Zen 5) VM"), so AMD cores drop
// those kernels too.
Table apply_packed(const Table& below, CpuVendor vendor) {
    Table t = below;
    for (TypeKernels& k : t) {
        if (k.gemm == &q4_0_gemm_avx2) k.gemm = nullptr;
        const bool kquant_gemm = k.gemm == &q4_k_gemm_avx2 || k.gemm == &q5_k_gemm_avx2 || k.gemm == &q6_k_gemm_avx2;
        if (vendor == CpuVendor::Amd && kquant_gemm) k.gemm = nullptr;
        if (k.weight == DType::Q4_0) k.packed_gemv = &q4_0_packed_avx512;
        if (k.weight == DType::Q4_1) k.packed_gemv = &q4_1_packed_avx512;
        if (k.weight == DType::Q8_0) k.packed_gemv = &q8_0_packed_avx512;
        if (k.weight == DType::Q5_0) k.packed_gemv = &q5_0_packed_avx512;
        if (k.weight == DType::Q5_1) k.packed_gemv = &q5_1_packed_avx512;
    }
    return t;
}

// AVX-512 without AMX: F16 and BF16 prompts through block products on weights and
// activations widened once (kernels_avx512_float_gemm.cpp), not in the tiles' inner loop;
// BF16 through vdpbf16ps where the CPU has it (twice the multiply-adds per instruction).
Table apply_avx512_gemm(const Table& below, bool avx512_bf16) {
    Table t = below;
    for (TypeKernels& k : t) {
        if (k.weight == DType::F16) k.gemm = &f16_gemm_avx512;
        if (k.weight == DType::BF16) k.gemm = avx512_bf16 ? &bf16_dot_gemm_avx512 : &bf16_gemm_avx512;
    }
    return t;
}

// ---- block axpy (quantized V caches): the scalar twin and AVX2 ----------------------------

template <DType T>
void block_axpy_scalar(int64_t n, float p, const void* x, float* out) {
    const DTypeInfo& ti = info(T);
    const auto* bytes = static_cast<const unsigned char*>(x);
    float values[kQK8_0];  // one block: every type here has 32 values
    for (int64_t b = 0; b < n / ti.block_size; ++b) {
        dequantize_row_ref(T, bytes + static_cast<size_t>(b) * ti.type_size, values, ti.block_size);
        for (int64_t i = 0; i < ti.block_size; ++i) out[b * ti.block_size + i] += p * values[i];
    }
}

struct BlockAxpyEntry {
    DType type;
    BlockAxpyFn scalar, avx2;
};
constexpr BlockAxpyEntry kBlockAxpy[] = {
    {DType::Q4_0, &block_axpy_scalar<DType::Q4_0>, &q4_0_axpy_avx2},
    {DType::Q4_1, &block_axpy_scalar<DType::Q4_1>, &q4_1_axpy_avx2},
    {DType::Q5_0, &block_axpy_scalar<DType::Q5_0>, &q5_0_axpy_avx2},
    {DType::Q5_1, &block_axpy_scalar<DType::Q5_1>, &q5_1_axpy_avx2},
    {DType::Q8_0, &block_axpy_scalar<DType::Q8_0>, &q8_0_axpy_avx2},
};

// AVX-VNNI: the AVX2 level's products on repacked rows and its block products, with vpdpbusd
// (kernels_avxvnni_packed.cpp, kernels_avxvnni_gemm.cpp).
Table apply_avxvnni(const Table& below) {
    Table t = below;
    for (TypeKernels& k : t) {
        if (k.gemm == &q4_0_gemm_avx2) k.gemm = &q4_0_gemm_avxvnni;
        if (k.gemm == &q4_k_gemm_avx2) k.gemm = &q4_k_gemm_avxvnni;
        if (k.gemm == &q5_k_gemm_avx2) k.gemm = &q5_k_gemm_avxvnni;
        if (k.gemm == &q6_k_gemm_avx2) k.gemm = &q6_k_gemm_avxvnni;
        if (k.weight == DType::Q4_0) k.packed_gemv = &q4_0_packed_avxvnni;
        if (k.weight == DType::Q4_1) k.packed_gemv = &q4_1_packed_avxvnni;
        if (k.weight == DType::Q5_0) k.packed_gemv = &q5_0_packed_avxvnni;
        if (k.weight == DType::Q5_1) k.packed_gemv = &q5_1_packed_avxvnni;
        if (k.weight == DType::Q8_0) k.packed_gemv = &q8_0_packed_avxvnni;
    }
    return t;
}

struct Tables {
    Table level[5];
};

const Tables& tables() {
    static const Tables t = [] {
        Tables r{};
        r.level[0] = Table{};
        for (size_t i = 0; i < kTypes; ++i) r.level[0][i] = kScalar[i];
        r.level[1] = apply_avx2_packed(apply_avx2_gemm(apply(r.level[0], std::begin(kAvx2), std::end(kAvx2), Isa::Avx2)));
        r.level[2] = apply_avxvnni(r.level[1]);
        r.level[3] = apply_avx512_gemm(
            apply_packed(apply(r.level[1], std::begin(kAvx512), std::end(kAvx512), Isa::Avx512),
                         detect_vendor()),
            has_avx512_bf16());
        r.level[4] = apply_gemm(r.level[3], std::begin(kAmx), std::end(kAmx));
        return r;
    }();
    return t;
}

}  // namespace

Isa detect_isa() {
    static const Isa isa = usable(min_isa(probe_cpu(), env_cap()));
    return isa;
}

bool has_avx512_bf16() {
    static const bool bf16 = [] {
        if (static_cast<int>(detect_isa()) < static_cast<int>(Isa::Avx512)) return false;
        uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
        if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) == 0) return false;
        return (eax & (1u << 5)) != 0;  // CPUID.(EAX=7, ECX=1):EAX[5]
    }();
    return bf16;
}

CpuVendor detect_vendor() {
    static const CpuVendor vendor = [] {
        uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
        if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return CpuVendor::Other;
        char id[13] = {};
        std::memcpy(id, &ebx, 4);
        std::memcpy(id + 4, &edx, 4);
        std::memcpy(id + 8, &ecx, 4);
        if (std::strcmp(id, "AuthenticAMD") == 0) return CpuVendor::Amd;
        if (std::strcmp(id, "GenuineIntel") == 0) return CpuVendor::Intel;
        return CpuVendor::Other;
    }();
    return vendor;
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case Isa::Scalar: return "scalar";
        case Isa::Avx2: return "avx2";
        case Isa::AvxVnni: return "avxvnni";
        case Isa::Avx512: return "avx512";
        case Isa::Amx: return "amx";
    }
    return "unknown";
}

BlockAxpyFn block_axpy_for(DType type, Isa isa) {
    const bool avx2 = static_cast<int>(min_isa(isa, detect_isa())) >= static_cast<int>(Isa::Avx2);
    for (const BlockAxpyEntry& e : kBlockAxpy) {
        if (e.type == type) return avx2 ? e.avx2 : e.scalar;
    }
    return nullptr;
}

const TypeKernels* kernels_for(DType weight, Isa isa) {
    const Isa level = usable(min_isa(isa, detect_isa()));
    for (const TypeKernels& k : tables().level[static_cast<int>(level)]) {
        if (k.weight == weight) return &k;
    }
    return nullptr;
}

}  // namespace llamux::cpu
