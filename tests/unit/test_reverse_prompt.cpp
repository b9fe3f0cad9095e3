// `llamux run -r TEXT`: generation stops once the text ends with a reverse prompt, as in
// llama.cpp's main without -i.
#include <gtest/gtest.h>

#include "test_data.hpp"

namespace llamux {
namespace {

// llama.cpp c392e50's main on stories260K (`llama-cli -no-cnv -n 100 -t 1 -c 256 <flags>`):
// it stops right after the reverse prompt, keeps it in the text, and looks only at the end
// of the text (the prompt's own "Once" stops nothing).
TEST(ReversePrompt, RunStopsWhereLlamaCppMainStops) {
    LLAMUX_FIXTURE(model, "models/stories260K.gguf");
    const std::string start = "Once upon a time";
    test::expect_outputs({"run", "-m", model.string(), "-p", start, "-n", "100", "-t", "1", "-c", "256"}, {
        {{"--temp", "0", "-r", "Lily"}, start + ", there was a little girl named Lily"},
        {{"--temp", "0", "-r", "park."},
         start + ", there was a little girl named Lily. She loved to play outside in the park."},
        {{"--temp", "0", "-r", "zzz", "-r", "red ball"},
         start + ", there was a little girl named Lily. She loved to play outside in the park. One day, "
                 "she saw a big, red ball"},
        {{"-s", "42", "-r", "toys"}, start + ", there was a little boy named Timmy. Timmy loved to play with his toys"},
        {{"--temp", "0", "-r", ","}, start + ","},
        {{"--temp", "0", "-r", "Once"},
         start + ", there was a little girl named Lily. She loved to play outside in the park. One day, "
                 "she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom "
                 "said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do"},
    });
}

}  // namespace
}  // namespace llamux
