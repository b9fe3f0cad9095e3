#include "interactive_turns.hpp"

#include <iostream>
#include <optional>

#include "escapes.hpp"
#include "write_out.hpp"

namespace llamux::tools {
namespace {

// What the user typed, as tokens: --in-prefix-bos, --in-prefix, the input, --in-suffix;
// n_typed counts the input's own tokens (main's budget takes them off). The prefix and
// suffix are printed around the input as main prints them. nullopt when stdin ended.
struct UserInput {
    std::vector<int32_t> tokens;
    int32_t n_typed = 0;
};

std::optional<UserInput> read_input(const InteractiveSetup& setup, const DisplayFlags& display,
                                    InterruptToUser& interrupt, const Tokenizer& tok) {
    UserInput input;
    if (setup.flags.prefix_bos) input.tokens.push_back(tok.bos());
    write_out(setup.flags.prefix);
    display.begin_user_input();
    interrupt.set_waiting(true);
    std::optional<std::string> text = read_user_input(std::cin, setup.flags.multiline);
    interrupt.set_waiting(false);
    display.end_user_input();
    if (!text) return std::nullopt;
    if (text->size() <= 1) return input;  // an empty line hands the turn back
    write_out(setup.flags.suffix);
    if (setup.escapes) *text = process_escapes(*text);
    const auto append = [&](const std::string& part, bool special) {
        const std::vector<int32_t> ids = tok.encode(part, false, special);
        input.tokens.insert(input.tokens.end(), ids.begin(), ids.end());
        return static_cast<int32_t>(ids.size());
    };
    append(setup.flags.prefix, true);
    input.n_typed = append(*text, false);
    append(setup.flags.suffix, true);
    return input;
}

void add_turn(GenerateStats& total, const GenerateStats& turn) {
    total.n_prompt += turn.n_prompt;
    total.n_generated += turn.n_generated;
    total.prompt_ms += turn.prompt_ms;
    total.generate_ms += turn.generate_ms;
    total.n_shifts += turn.n_shifts;
    total.hit_eos = turn.hit_eos;
    total.context_full = turn.context_full;
}

}  // namespace

TurnOutput::TurnOutput(const Tokenizer& tok, const DisplayFlags& display, ReversePrompts& reverse,
                       InterruptToUser* interrupt)
    : tok_(tok), display_(display), reverse_(reverse), interrupt_(interrupt), decoder_(tok) {}

bool TurnOutput::on_token(int32_t token) {
    last_ = token;
    write_out(decoder_.push(token) + display_.control_text(tok_, token));
    const bool at_reverse = reverse_.push(token);
    return !at_reverse && !(interrupt_ && interrupt_->take());
}

void TurnOutput::end_turn(const GenerateStats& turn) {
    write_out(decoder_.flush() + (turn.hit_eos ? display_.control_text(tok_, tok_.eos()) : ""));
}

void TurnOutput::start_turn() {
    last_ = -1;
    if (interrupt_) interrupt_->take();
}

void run_interactive_turns(Session& session, GenerateOptions options, GenerateStats& stats, TurnOutput& out,
                           const InteractiveSetup& setup, const DisplayFlags& display, InterruptToUser& interrupt) {
    const Tokenizer& tok = session.model().tokenizer();
    const int32_t n_predict = setup.n_predict;
    // main's budget: -n tokens a turn, the typed tokens counted against it.
    int32_t n_remain = n_predict - stats.n_generated - (stats.hit_eos ? 1 : 0);
    options.kept_positions = stats.kept_positions;  // later turns keep what the first kept
    options.reuse_cache = false;
    options.after_prompt = nullptr;
    GenerateStats turn = stats;  // the last turn's
    const auto on_token = [&](int32_t token) { return out.on_token(token); };
    while (!turn.context_full) {
        // The turn's last token (end of text too) was not evaluated: it goes first.
        std::vector<int32_t> next;
        if (turn.hit_eos) {
            next.push_back(tok.eos());
            write_out("\n");
        } else if (turn.n_generated > 0) {
            next.push_back(out.last());
        }
        auto n_unseen = static_cast<int32_t>(next.size());  // evaluated, not seen by the sampler
        if (turn.hit_eos && !setup.reverse_prompts.empty()) {
            const auto first = tok.encode(setup.reverse_prompts.front(), false, true);
            next.insert(next.end(), first.begin(), first.end());
        }
        if (n_predict >= 0 && n_remain <= 0) n_remain = n_predict;
        const std::optional<UserInput> input = read_input(setup, display, interrupt, tok);
        if (!input) return;  // stdin ended
        next.insert(next.end(), input->tokens.begin(), input->tokens.end());
        n_remain -= input->n_typed;
        // main's sampler starts afresh after input: the penalties and the reverse prompts see
        // what follows the last token.
        out.reverse().restart({next.begin() + n_unseen, next.end()});
        if (next.empty()) {
            // Nothing new (an empty line after -if): evaluate the last position again for
            // its logits.
            next.push_back(session.tokens().back());
            session.rewind(session.n_past() - 1);
            n_unseen = 1;
        }
        options.n_predict = n_predict < 0 ? -1 : n_remain;
        if (n_predict >= 0 && n_remain <= 0) {
            // The typed tokens spent the budget: main evaluates them and asks again.
            n_remain = n_predict;
            options.n_predict = 0;
        }
        if (!options.context_shift && session.n_past() + next.size() >= static_cast<size_t>(session.n_ctx())) {
            stats.context_full = true;  // main stops here too
            return;
        }
        options.n_unseen = n_unseen;
        if (n_unseen == 1 && next.size() > 1) {
            // main evaluates the last token on its own, then the input (each may shift).
            if (options.context_shift && shift_context_for(session, options.kept_positions, 1)) ++stats.n_shifts;
            session.decode({next.front()});
            next.erase(next.begin());
            options.n_unseen = 0;
        }
        out.start_turn();
        turn = generate(session, next, options, on_token);
        out.end_turn(turn);
        n_remain -= turn.n_generated + (turn.hit_eos ? 1 : 0);
        add_turn(stats, turn);
    }
}

}  // namespace llamux::tools
