/*
 * llamux backend plugin ABI.
 *
 * The only interface between the llamux runtime and a backend plugin (a shared library
 * loaded at run time). Plain C: no C++ standard library type crosses this boundary, so a
 * plugin may be built by another compiler (nvcc, clang) or another standard library.
 *
 * A plugin exports exactly one symbol, LMX_ENTRY_POINT, of type lmx_get_api_fn. The host
 * calls it with the ABI version it was built against; the plugin returns a pointer to its
 * static table (never freed, valid while the library is loaded), normally whatever the
 * host's version, so that the host can name both versions when it refuses a table whose
 * abi_version differs from its own. NULL means the plugin cannot serve at all.
 *
 * Ownership and lifetime, stated once for the whole table:
 *  - Every object a plugin creates (backend, buffer, program, weight state in `extra`) is
 *    destroyed by the matching call of the same table. The host keeps the library loaded
 *    while any such object is alive.
 *  - Pointers the host passes in (configs, nodes, tensors, names) are only valid for the
 *    duration of the call, except where a call says otherwise (compile: nodes and tensors
 *    stay valid and unmoved until program_free).
 *  - Functions returning lmx_status fill `err->message` (NUL-terminated, truncated to fit)
 *    on failure. They never throw and never abort the process on bad input.
 *
 * Versioning: the host loads a plugin only if the table's abi_version equals its own
 * LMX_ABI_VERSION (no range, no negotiation; a mismatch is refused naming both versions).
 * So a plugin built against version N sees exactly version N's layouts, enum values,
 * signatures and documented meanings. LMX_ABI_VERSION changes whenever a struct layout, an
 * enum value, a function signature or meaning, or the table's slots change. Appending an
 * op or a dtype does not change existing values but still bumps the version, because an
 * older plugin could not be told about it. After a bump, plugins are rebuilt against the
 * new header. See docs/writing-a-backend.md ("ABI stability").
 */
#ifndef LLAMUX_BACKEND_ABI_H
#define LLAMUX_BACKEND_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LMX_ABI_VERSION 2u /* 2: lmx_backend_config.n_threads_batch */
#define LMX_ENTRY_POINT "lmx_backend_get_api"
#define LMX_MAX_DIMS 4
#define LMX_MAX_SRC 4
#define LMX_ERROR_CAPACITY 512
#define LMX_TEXT_CAPACITY 256

#if defined(_WIN32)
#define LMX_PLUGIN_EXPORT __declspec(dllexport)
#else
#define LMX_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

typedef enum lmx_status {
    LMX_OK = 0,
    LMX_ERR_UNSUPPORTED = 1,   /* op, dtype or shape not handled by this backend */
    LMX_ERR_OUT_OF_MEMORY = 2, /* an allocation on the backend's device failed */
    LMX_ERR_INVALID = 3,       /* the host passed something inconsistent */
    LMX_ERR_DEVICE = 4,        /* the device or its driver reported an error */
    LMX_ERR_INTERNAL = 5       /* a bug in the plugin */
} lmx_status;

/* Element types. Numeric values equal the GGUF/GGML tensor type ids, so a GGUF type id
 * can be used directly once validated. */
typedef enum lmx_dtype {
    LMX_TYPE_F32 = 0,
    LMX_TYPE_F16 = 1,
    LMX_TYPE_Q4_0 = 2,
    LMX_TYPE_Q4_1 = 3,
    LMX_TYPE_Q5_0 = 6,
    LMX_TYPE_Q5_1 = 7,
    LMX_TYPE_Q8_0 = 8,
    LMX_TYPE_Q8_1 = 9,
    LMX_TYPE_Q2_K = 10,
    LMX_TYPE_Q3_K = 11,
    LMX_TYPE_Q4_K = 12,
    LMX_TYPE_Q5_K = 13,
    LMX_TYPE_Q6_K = 14,
    LMX_TYPE_Q8_K = 15,
    LMX_TYPE_I8 = 24,
    LMX_TYPE_I16 = 25,
    LMX_TYPE_I32 = 26,
    LMX_TYPE_I64 = 27,
    LMX_TYPE_F64 = 28,
    LMX_TYPE_BF16 = 30
} lmx_dtype;

/* The op set. Shapes use ggml order: ne[0] is the innermost (contiguous) dimension.
 * Every op writes `dst`, which is F32 unless stated; params are in lmx_node. */
typedef enum lmx_op {
    LMX_OP_NONE = 0,
    /* dst[n_embd, n_tok] = rows src[1][t] (I32 ids) of table src[0][n_embd, n_vocab] (any dtype) */
    LMX_OP_GET_ROWS = 1,
    /* dst[n, rows] = x / sqrt(mean(x^2) + eps) * w; src[0] = x F32, src[1] = w F32[n];
     * fparams[0] = eps */
    LMX_OP_RMS_NORM = 2,
    /* dst[N, M] = W x: src[0] = W[K, N] (weight, any dtype), src[1] = x F32[K, M] */
    LMX_OP_MATMUL = 3,
    /* Rotary embedding, llama.cpp "normal" mode (adjacent pairs): src[0] = x F32[head_dim,
     * n_head, n_tok], src[1] = positions I32[n_tok]; iparams[0] = n_rot;
     * fparams[0] = freq_base, fparams[1] = freq_scale */
    LMX_OP_ROPE = 4,
    /* Writes src[0] F32[n_embd_kv, n_tok] into rows n_past .. n_past+n_tok-1 of the cache
     * dst[n_embd_kv, n_ctx] (F32 or F16), converting. dst is persistent, not a fresh output. */
    LMX_OP_KV_STORE = 5,
    /* Causal grouped-query attention over the cache: src[0] = q F32[head_dim, n_head, n_tok],
     * src[1] = k cache [head_dim*n_head_kv, n_ctx], src[2] = v cache (same shape);
     * query t sits at position n_past + t and sees cache rows 0 .. n_past + t.
     * iparams[0] = n_head, iparams[1] = n_head_kv; fparams[0] = scale (1/sqrt(head_dim)).
     * dst F32[head_dim*n_head, n_tok]. */
    LMX_OP_ATTENTION = 6,
    /* dst = silu(src[0]) * src[1], all F32 of one shape */
    LMX_OP_SWIGLU = 7,
    /* dst = src[0] + src[1], all F32 of one shape */
    LMX_OP_ADD = 8,
    /* dst = src[0] converted to dst's dtype (F32/F16/BF16), same element count */
    LMX_OP_COPY = 9,
    LMX_OP_COUNT = 10
} lmx_op;

/* What a tensor is for; lets a backend tell weights from scratch activations. */
typedef enum lmx_tensor_role {
    LMX_ROLE_ACTIVATION = 0, /* scratch owned by the host's allocator for one graph */
    LMX_ROLE_WEIGHT = 1,     /* model parameter, prepared once via prepare_weight */
    LMX_ROLE_KV_CACHE = 2,   /* persistent across graph executions of one session */
    LMX_ROLE_INPUT = 3,      /* written by the host before execute (token ids, positions) */
    LMX_ROLE_OUTPUT = 4      /* read by the host after execute (logits) */
} lmx_tensor_role;

typedef struct lmx_tensor {
    int32_t dtype;             /* lmx_dtype */
    int32_t role;              /* lmx_tensor_role */
    int64_t ne[LMX_MAX_DIMS];  /* elements per dimension; unused dimensions are 1 */
    size_t nb[LMX_MAX_DIMS];   /* byte strides; nb[0] is the size of one block or element */
    void* data;                /* address in the memory space of the backend that owns it */
    void* extra;               /* backend-private state for a prepared weight, or NULL */
    const char* name;          /* for messages; valid as long as the tensor */
} lmx_tensor;

typedef struct lmx_node {
    int32_t op;    /* lmx_op */
    int32_t layer; /* transformer block index; -1 before the blocks, n_layer after them */
    const lmx_tensor* src[LMX_MAX_SRC]; /* unused entries are NULL */
    lmx_tensor* dst;
    int32_t iparams[8];
    float fparams[4];
} lmx_node;

/* Per-execution inputs that do not change the graph's shape. */
typedef struct lmx_exec_args {
    uint32_t struct_size;
    int32_t n_past; /* cache rows already filled before this batch */
} lmx_exec_args;

typedef struct lmx_error {
    char message[LMX_ERROR_CAPACITY];
} lmx_error;

/* Log levels follow spdlog: 0 trace, 1 debug, 2 info, 3 warn, 4 error. */
typedef void (*lmx_log_fn)(void* user, int32_t level, const char* message);

typedef struct lmx_probe_result {
    uint32_t struct_size;
    int32_t score;   /* 0: cannot run here; higher: preferred when choosing automatically */
    int32_t n_devices;
    uint64_t memory_total; /* bytes of the first device; 0 when not meaningful */
    uint64_t memory_free;
    char device[LMX_TEXT_CAPACITY]; /* "AVX2 FMA, 16 threads", "NVIDIA H100 80GB" */
    char reason[LMX_TEXT_CAPACITY]; /* why score is 0 (or notes) */
} lmx_probe_result;

typedef struct lmx_backend_config {
    uint32_t struct_size;
    int32_t n_threads;       /* <= 0: the plugin's choice */
    int32_t n_threads_batch; /* for programs of more than one token (prompts); <= 0: n_threads */
    int32_t device;          /* device index for multi-device plugins */
    lmx_log_fn log;    /* may be NULL; valid until destroy */
    void* log_user;
} lmx_backend_config;

typedef struct lmx_backend lmx_backend; /* opaque, plugin-owned */
typedef struct lmx_buffer lmx_buffer;   /* opaque, plugin-owned */
typedef struct lmx_program lmx_program; /* opaque, plugin-owned */

typedef struct lmx_backend_api {
    uint32_t abi_version; /* LMX_ABI_VERSION the plugin was built with */
    uint32_t struct_size; /* sizeof(lmx_backend_api) in the plugin's build */
    const char* name;        /* short unique name used on the command line ("cpu") */
    const char* description; /* one line */

    /* Can this plugin run on this machine? Must be cheap and must not execute
     * instructions the CPU may lack. Never fails: a score of 0 plus a reason means no. */
    void (*probe)(lmx_probe_result* out);

    /* Creates a backend instance. *out is destroyed with destroy(). */
    lmx_status (*create)(const lmx_backend_config* config, lmx_backend** out, lmx_error* err);
    void (*destroy)(lmx_backend* backend);

    /* 1 if execute() can run this node with these dtypes and shapes, else 0.
     * The host falls back to its host backend for nodes answered 0. */
    int32_t (*supports_node)(lmx_backend* backend, const lmx_node* node);

    /* 1 if buffer memory and tensor data of this backend are ordinary host memory that the
     * host may read and write directly, else 0 (device memory: use tensor_read/write). */
    int32_t (*is_host_memory)(lmx_backend* backend);

    /* Memory for activations and caches. *base is the address that tensor data pointers
     * are computed from (a device address for device backends). Zero-filled. */
    lmx_status (*buffer_alloc)(lmx_backend* backend, size_t size, lmx_buffer** out, void** base,
                               lmx_error* err);
    void (*buffer_free)(lmx_backend* backend, lmx_buffer* buffer);

    /* Copy bytes between host memory and a tensor of this backend. offset and size are in
     * bytes from tensor->data. tensor_read returns when the bytes are in host memory.
     * tensor_write may return early if synchronize() completes it; the host leaves the
     * source memory untouched until it has called synchronize(). */
    lmx_status (*tensor_write)(lmx_backend* backend, lmx_tensor* dst, const void* src,
                               size_t offset, size_t size, lmx_error* err);
    lmx_status (*tensor_read)(lmx_backend* backend, const lmx_tensor* src, void* dst,
                              size_t offset, size_t size, lmx_error* err);

    /* Takes a weight whose bytes are at host_data (the mmapped file; valid until
     * release_weight) and makes it usable: set weight->data (host_data itself for zero-copy
     * host backends, or device memory) and optionally weight->extra (repacked form).
     * Everything allocated here is freed by release_weight. */
    lmx_status (*prepare_weight)(lmx_backend* backend, lmx_tensor* weight, const void* host_data,
                                 lmx_error* err);
    void (*release_weight)(lmx_backend* backend, lmx_tensor* weight);

    /* Compiles a run of consecutive nodes (all supported) into a program that can be
     * executed many times. Nodes and the tensors they point to stay valid and unmoved until
     * program_free; their data pointers are final. */
    lmx_status (*compile)(lmx_backend* backend, const lmx_node* nodes, int32_t n_nodes,
                          lmx_program** out, lmx_error* err);
    lmx_status (*execute)(lmx_backend* backend, lmx_program* program, const lmx_exec_args* args,
                          lmx_error* err);
    void (*program_free)(lmx_backend* backend, lmx_program* program);

    /* Waits for all queued work and copies. */
    lmx_status (*synchronize)(lmx_backend* backend, lmx_error* err);
} lmx_backend_api;

/* The one exported entry point. host_abi_version is the host's LMX_ABI_VERSION. */
typedef const lmx_backend_api* (*lmx_get_api_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif

#endif /* LLAMUX_BACKEND_ABI_H */
