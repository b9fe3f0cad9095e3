// Helpers of the tests that run whole models through a Session: where a fixture model is,
// the greedy continuation of a prompt as `llamux run --temp 0` prints it, where the nodes
// of a plan run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llamux/model.hpp"
#include "llamux/session.hpp"
#include "llamux/tokenizer.hpp"

namespace llamux::test {

// models/<name> or models/synth/<name> under data_root(); empty if neither exists.
std::filesystem::path model_fixture(const std::string& name);

// The n greedy tokens after `prompt` (temperature 0) and their text, streamed through
// StreamDecoder as `llamux run` prints it.
std::pair<std::vector<int32_t>, std::string> greedy(Session& session, const Tokenizer& tok,
                                                    const std::vector<int32_t>& prompt, int32_t n);

// The n greedy tokens after `prompt` with llama.cpp main's context shift on (the BOS kept,
// half of the rest dropped whenever the context is full), and how many shifts were made.
std::pair<std::vector<int32_t>, int32_t> greedy_shifting(Session& session,
                                                         const std::vector<int32_t>& prompt,
                                                         int32_t n);

// `source` cut to its first block, written into `dir`: in one block a position's key and
// value depend only on its token and position (context-shift checks).
std::shared_ptr<const Model> one_block_model(const std::filesystem::path& source, const std::filesystem::path& dir);

// The plans for 1 and 7 tokens run every node but the token embedding (get_rows, on the
// host) on `backend`, and none falls back (gtest expectations).
void expect_all_but_embedding_on(Session& session, const std::string& backend);

}  // namespace llamux::test
