#include "interactive.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace llamux::tools {
namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_waiting{false};

extern "C" void on_sigint(int) {
    if (g_waiting.load()) {
        static const char kBye[] = "\n";
        (void)!::write(STDOUT_FILENO, kBye, sizeof kBye - 1);
        ::_exit(130);
    }
    g_interrupted.store(true);
}

}  // namespace

void InteractiveFlags::add_to(CLI::App& cmd) {
    cmd.add_flag("-i,--interactive", interactive,
                 "Interactive: at a reverse prompt (-r), end of text or -n tokens, read a line from stdin and go on");
    cmd.add_flag("--interactive-first", first, "-if: interactive, and read the first input before generating");
    cmd.add_flag("--multiline-input", multiline, "-mli: input lines continue until one ends with '\\'");
    cmd.add_flag("--in-prefix-bos", prefix_bos, "Begin each input with BOS");
    cmd.add_option("--in-prefix", prefix, "Text before each input (e.g. \" \")");
    cmd.add_option("--in-suffix", suffix, "Text after each input (e.g. \"Assistant:\")");
}

std::optional<std::string> read_user_input(std::istream& in, bool multiline) {
    std::string input;
    std::string line;
    bool read_any = false;
    bool more = true;
    while (more && std::getline(in, line)) {
        read_any = true;
        bool continues = multiline;
        if (!line.empty() && line.back() == '/') {  // "always return control", without '/' and newline
            line.pop_back();
            input += line;
            break;
        }
        if (!line.empty() && line.back() == '\\') {
            line.pop_back();
            continues = !continues;
        }
        input += line + '\n';
        more = continues;
    }
    if (!read_any) return std::nullopt;
    return input;
}

InterruptToUser::InterruptToUser() {
    g_interrupted.store(false);
    g_waiting.store(false);
    std::signal(SIGINT, on_sigint);
}

InterruptToUser::~InterruptToUser() { std::signal(SIGINT, SIG_DFL); }

bool InterruptToUser::take() { return g_interrupted.exchange(false); }

void InterruptToUser::set_waiting(bool waiting) { g_waiting.store(waiting); }

}  // namespace llamux::tools
