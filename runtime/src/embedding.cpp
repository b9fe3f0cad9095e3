#include "llamux/embedding.hpp"

#include <algorithm>
#include <cmath>

#include "llamux/error.hpp"
#include "llamux/session.hpp"

namespace llamux {

Pooling parse_pooling(const std::string& name, const std::string& flag) {
    for (Pooling p : {Pooling::None, Pooling::Mean, Pooling::Cls, Pooling::Last}) {
        if (name == pooling_name(p)) return p;
    }
    throw Error(flag + ": expected none, mean, cls or last, got '" + name + "'");
}

const char* pooling_name(Pooling pooling) {
    switch (pooling) {
        case Pooling::None: return "none";
        case Pooling::Mean: return "mean";
        case Pooling::Cls: return "cls";
        case Pooling::Last: return "last";
    }
    return "?";
}

std::vector<float> pool_embeddings(const std::vector<float>& rows, int64_t n_embd, Pooling pooling) {
    const auto width = static_cast<size_t>(n_embd);
    const size_t n_tokens = width > 0 ? rows.size() / width : 0;
    if (n_tokens == 0 || rows.size() != n_tokens * width) {
        throw Error("embeddings: expected whole rows of " + std::to_string(n_embd) + " values, got " +
                    std::to_string(rows.size()));
    }
    switch (pooling) {
        case Pooling::None: return rows;
        case Pooling::Cls: return {rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(width)};
        case Pooling::Last: return {rows.end() - static_cast<std::ptrdiff_t>(width), rows.end()};
        case Pooling::Mean: break;
    }
    std::vector<double> sum(width, 0.0);
    for (size_t t = 0; t < n_tokens; ++t) {
        for (size_t i = 0; i < width; ++i) sum[i] += rows[t * width + i];
    }
    std::vector<float> mean(width);
    for (size_t i = 0; i < width; ++i) mean[i] = static_cast<float>(sum[i] / double(n_tokens));
    return mean;
}

void normalize_embedding(float* v, int64_t n, int32_t norm) {
    if (norm < -1) {
        throw Error("embedding normalization: expected -1, 0, 1, 2 or a p > 2, got " +
                    std::to_string(norm));
    }
    if (norm == -1) return;
    double sum = 0.0;
    if (norm == 0) {  // largest magnitude to the int16 range, as llama.cpp
        for (int64_t i = 0; i < n; ++i) sum = std::max(sum, double(std::fabs(v[i])));
        sum /= 32760.0;
    } else if (norm == 2) {
        for (int64_t i = 0; i < n; ++i) sum += v[i] * v[i];  // float products, as llama.cpp
        sum = std::sqrt(sum);
    } else {
        for (int64_t i = 0; i < n; ++i) sum += std::pow(std::fabs(double(v[i])), norm);
        sum = std::pow(sum, 1.0 / norm);
    }
    const float scale = sum > 0.0 ? static_cast<float>(1.0 / sum) : 0.0f;
    for (int64_t i = 0; i < n; ++i) v[i] *= scale;
}

std::vector<float> embed_sequence(Session& session, const std::vector<int32_t>& tokens,
                                  Pooling pooling, int32_t norm) {
    const int64_t n_embd = session.model().hparams().n_embd;
    session.reset();
    std::vector<float> result = pool_embeddings(session.embed(tokens), n_embd, pooling);
    session.reset();
    for (size_t row = 0; row < result.size(); row += static_cast<size_t>(n_embd)) {
        normalize_embedding(result.data() + row, n_embd, norm);
    }
    return result;
}

}  // namespace llamux
