// What a session's cache holds, to and from a byte stream: the tokens and their key and
// value rows, for llama.cpp's --prompt-cache and llama-cpp-python's save_state. The format
// is llamux's own (not llama.cpp's session files):
//
//   "LMXSTATE" | u32 version | u64 model fingerprint | u32 n_layer | u32 n_embd_kv
//   | u32 n_vocab | u32 key cache dtype | u32 value cache dtype | u32 n_tokens
//   | i32 tokens[n_tokens] | per block: u64 key row bytes, key rows[n_tokens], u64 value
//   row bytes, value rows
//
// Version 1 (before keys and values could differ) had one cache dtype for both; it is
// still read.
// all little-endian, as the machines llamux runs on.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "llamux/model.hpp"
#include "llamux/resident_tensors.hpp"

namespace llamux {

// Identifies a model file's weights: its size, tensor count and a hash of the first bytes of
// its embedding and output tensors, so that a state is not loaded into a fine-tune or a
// quantization of the same shape.
uint64_t model_fingerprint(const Model& model);

// Writes the first tokens.size() rows of every block's caches. Throws Error when the
// stream fails or a cache was never allocated.
void write_session_state(std::ostream& out, const Model& model, KvCache& kv,
                         const std::vector<int32_t>& tokens);

// Reads a state into the caches and returns its tokens. Throws Error naming `source` and
// the field when the stream is short or malformed, or the state was made for another model,
// cache type or a longer context than n_ctx; the caches may then hold part of it (the
// caller forgets the session's tokens).
std::vector<int32_t> read_session_state(std::istream& in, const std::string& source,
                                        const Model& model, KvCache& kv, int32_t n_ctx);

}  // namespace llamux
