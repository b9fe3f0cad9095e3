// --rope-freq-base, --rope-freq-scale and --rope-scale: llama.cpp's RoPE overrides.
#include <gtest/gtest.h>

#include "test_data.hpp"

namespace llamux {
namespace {

// Greedy texts of llama.cpp c392e50's main (`llama-cli -no-cnv --temp 0 -n 40 -c 256
// <flags>`) on stories260K, whose own base is 10000 and scale 1.
TEST(RopeOverrides, RunGivesLlamaCppMainsText) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    test::expect_outputs({"run", "-m", model.string(), "-p", "Once upon a time", "-n", "40", "--temp", "0",
                          "-c", "256", "-t", "1"}, {
        {{"--rope-freq-base", "20000"},
         "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
         "park with her friends. One day, she went to the p"},
        {{"--rope-scale", "2"},
         "Once upon a time, there was a little girloate. The glowlue was very shiny and had a big, "
         "shiny blug. The"},
        {{"--rope-freq-scale", "0.5"},
         "Once upon a time, there was a little girloate. The glowlue was very shiny and had a big, "
         "shiny blug. The"},
        {{"--rope-freq-base", "5000", "--rope-freq-scale", "0.75"},
         "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
         "park. One day, she saw a big, red ball."},
    });
}

TEST(RopeOverrides, BadValuesNameTheFlag) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    test::expect_flag_errors({"run", "-m", model.string(), "-p", "Once", "-n", "2"}, {
        {{"--rope-freq-base", "-5"}, "--rope-freq-base: expected a base > 0 (0: the model's), got -5"},
        {{"--rope-freq-scale", "nan"}, "--rope-freq-scale: expected a scale > 0"},
        {{"--rope-scale", "-2"}, "--rope-scale: expected a factor > 0"},
        {{"--rope-scale", "2", "--rope-freq-scale", "0.5"}, "--rope-scale and --rope-freq-scale: give only one"},
    });
}

}  // namespace
}  // namespace llamux
