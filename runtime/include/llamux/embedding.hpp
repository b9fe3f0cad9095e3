// Text embeddings from a session's hidden states (Session::embed), pooled and normalized as
// llama.cpp's embedding tool and llama-cpp-python do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace llamux {

class Session;

// How a sequence's positions become its embedding (llama.cpp's --pooling).
enum class Pooling {
    None,  // one embedding per position
    Mean,  // the mean of every position's
    Cls,   // the first position's
    Last,  // the last position's
};

// "none", "mean", "cls" or "last"; anything else is an Error naming `flag` and the choices.
Pooling parse_pooling(const std::string& name, const std::string& flag);
const char* pooling_name(Pooling pooling);

// Pools rows = [n_tokens][n_embd] (row-major): every row for None, else one row.
std::vector<float> pool_embeddings(const std::vector<float>& rows, int64_t n_embd, Pooling pooling);

// Scales v[0..n) in place as llama.cpp's --embd-normalize: -1 leaves it, 0 scales the
// largest magnitude to 32760 (an int16 range), 1 to a unit taxicab norm, 2 to a unit
// euclidean norm, p > 2 to a unit p-norm. A zero vector stays zero; p < -1 is an Error.
void normalize_embedding(float* v, int64_t n, int32_t norm);

// The embeddings of `tokens` evaluated from an empty cache (the session is reset before
// and after), pooled and normalized: one row of n_embd values, or one per token for None.
std::vector<float> embed_sequence(Session& session, const std::vector<int32_t>& tokens,
                                  Pooling pooling, int32_t norm);

}  // namespace llamux
