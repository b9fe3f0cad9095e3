// The emulated cuBLAS GEMMs (cublas.hpp): inputs widened to float, products accumulated in
// float, the work queued on the handle's stream like a kernel.
#include "cuda_emulator/cublas.hpp"

#include <algorithm>
#include <vector>

#include "cuda_emulator/half.hpp"

struct cublasContext {
    cudaStream_t stream = nullptr;
};

namespace {

bool supported(cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16F; }

float load(const void* p, cudaDataType t, size_t i) {
    switch (t) {
        case CUDA_R_16F: return __half2float(static_cast<const __half*>(p)[i]);
        default: return static_cast<const float*>(p)[i];
    }
}

void store(void* p, cudaDataType t, size_t i, float v) {
    switch (t) {
        case CUDA_R_16F: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
        default: static_cast<float*>(p)[i] = v; break;
    }
}

// op(M), of a column-major M with leading dimension ld, as `rows` x `cols` row-major floats.
std::vector<float> widen(const void* m, cudaDataType t, cublasOperation_t op, int rows, int cols, int ld) {
    std::vector<float> out(static_cast<size_t>(rows) * cols);
    for (int r = 0; r < rows; ++r) {
        for (int c = 0; c < cols; ++c) {
            const size_t at = op == CUBLAS_OP_N ? static_cast<size_t>(c) * ld + r : static_cast<size_t>(r) * ld + c;
            out[static_cast<size_t>(r) * cols + c] = load(m, t, at);
        }
    }
    return out;
}

cublasStatus_t gemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                    float alpha, const void* A, cudaDataType at, int lda, const void* B, cudaDataType bt, int ldb,
                    float beta, void* C, cudaDataType ct, int ldc) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!supported(at) || !supported(bt) || !supported(ct)) return CUBLAS_STATUS_NOT_SUPPORTED;
    const int a_rows = transa == CUBLAS_OP_N ? m : k;
    const int b_rows = transb == CUBLAS_OP_N ? k : n;
    if (m < 0 || n < 0 || k < 0 || lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m)) {
        return CUBLAS_STATUS_INVALID_VALUE;
    }
    const cudaError_t e = cuemu::enqueue(handle->stream, [=]() {
        // a: m x k, b as n x k (row j is column j of op(B)), so both inner loops run along k.
        const std::vector<float> a = widen(A, at, transa, m, k, lda);
        const std::vector<float> b = widen(B, bt, transb == CUBLAS_OP_N ? CUBLAS_OP_T : CUBLAS_OP_N, n, k, ldb);
        for (int j = 0; j < n; ++j) {
            for (int i = 0; i < m; ++i) {
                float acc = 0.0f;
                const float* ai = a.data() + static_cast<size_t>(i) * k;
                const float* bj = b.data() + static_cast<size_t>(j) * k;
                for (int l = 0; l < k; ++l) acc += ai[l] * bj[l];
                const size_t at_c = static_cast<size_t>(j) * ldc + i;
                // beta == 0: C is not read (it may hold anything, NaN included), as in cuBLAS.
                store(C, ct, at_c, beta == 0.0f ? alpha * acc : alpha * acc + beta * load(C, ct, at_c));
            }
        }
    });
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
    *handle = new cublasContext;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void*, size_t) {
    return handle ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

const char* cublasGetStatusName(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS: return "success";
        case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
        case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
        case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
        case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
        case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    }
    return "unknown error";
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* A, int lda, const float* B, int ldb,
                           const float* beta, float* C, int ldc) {
    return gemm(handle, transa, transb, m, n, k, *alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, *beta, C, CUDA_R_32F,
                ldc);
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t, cublasGemmAlgo_t) {
    // Compute type 32F: alpha and beta are floats.
    return gemm(handle, transa, transb, m, n, k, *static_cast<const float*>(alpha), A, Atype, lda, B, Btype, ldb,
                *static_cast<const float*>(beta), C, Ctype, ldc);
}
