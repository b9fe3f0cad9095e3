// Session flags llama.cpp users pass: the RoPE overrides (--rope-freq-base,
// --rope-freq-scale, --rope-scale) and the KV cache type (-ctk, -ctv).
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

// As llama.cpp's main gives with the same flags (`-n 100 --temp 0 -c 256`); -ctk takes the
// "-ctk=f32" spelling too.
TEST(CacheType, F32CacheRunsAsLlamaCpp) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const std::string greedy =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
        "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n"
        "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do";
    test::expect_outputs({"run", "-m", model.string(), "-p", "Once upon a time", "-n", "100", "--temp", "0",
                          "-c", "256", "-t", "1"},
                         {{{"-ctk", "f32", "-ctv", "f32"}, greedy}, {{"-ctk=f32", "-ctv=f32"}, greedy}});
    test::expect_flag_errors({"run", "-m", model.string(), "-p", "Once", "-n", "2"}, {
        {{"-ctk", "q4_K"}, "-ctk: expected f16, f32, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1, got q4_K"},
        {{"-ctv", "Q8_0"}, "-ctv: expected f16, f32, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1, got Q8_0"},
        {{"-ctk", "iq4_nl"}, "got iq4_nl (llamux has no iq4_nl type)"},
        {{"-ctk", "q4_0"}, "-ctk q4_0: needs a head size that is a multiple of 32; "},
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
