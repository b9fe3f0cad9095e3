// llamux._llamux: the C++ side of the Python package. Exposes an Engine (model + session +
// last logits; the session's prefill is the prompt cache), the Sampler and the chat layouts;
// stop strings, response dicts and the server live in the Python package, which is the
// interface users call.
//
// Errors: llamux::Error becomes llamux.LlamuxError (a RuntimeError) with the same message.
// The GIL is released while a model loads and while tokens are evaluated.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "engine.hpp"
#include "llamux/chat.hpp"
#include "llamux/dtype.hpp"
#include "llamux/error.hpp"
#include "llamux/grammar_sampling.hpp"
#include "llamux/json_schema.hpp"
#include "llamux/log.hpp"
#include "llamux/sampler.hpp"

namespace py = pybind11;

namespace llamux::python {
namespace {

// The session options of Llama(...)'s arguments (checked in Python; the runtime checks the
// rest and names the value it refuses).
SessionOptions session_options(int32_t n_ctx, int32_t n_batch, int32_t n_threads,
                               const std::string& backend, int32_t n_gpu_layers,
                               const std::string& placement,
                               const std::vector<std::string>& plugin_dirs, float rope_freq_base,
                               float rope_freq_scale, int32_t type_k, int32_t type_v, int32_t n_threads_batch) {
    SessionOptions o;  // the other fields keep the runtime's defaults
    // ggml's type ids; Session refuses the types a cache cannot have.
    for (const auto& [name, id] : {std::pair{"type_k", type_k}, std::pair{"type_v", type_v}}) {
        if (!dtype_info(id)) throw Error(std::string(name) + ": " + std::to_string(id) + " is not a ggml type id");
    }
    o.kv_type_k = static_cast<DType>(type_k);
    o.kv_type_v = static_cast<DType>(type_v);
    o.rope_freq_base = rope_freq_base;
    o.rope_freq_scale = rope_freq_scale;
    o.n_ctx = n_ctx;
    o.n_batch = n_batch;
    o.n_threads = n_threads;
    o.n_threads_batch = n_threads_batch;
    o.placement.default_backend = backend;
    o.placement.n_gpu_layers = n_gpu_layers;
    o.placement.map = placement;
    o.plugins.dirs.assign(plugin_dirs.begin(), plugin_dirs.end());
    return o;
}

// Grammar is an opaque type; Python holds it through this.
struct ParsedGrammar {
    std::shared_ptr<const Grammar> grammar;
};

// The sampler's settings from Python keywords (llamux/sampling.py checks their types).
SamplingParams sampling_params(const py::kwargs& kw) {
    SamplingParams p;
    std::vector<std::string> known;  // every setting's name, to refuse unknown keywords
    const auto set = [&](const char* name, auto& field) {
        known.emplace_back(name);
        if (kw.contains(name)) field = kw[name].cast<std::decay_t<decltype(field)>>();
    };
    set("temperature", p.temperature);
    set("top_k", p.top_k);
    set("top_p", p.top_p);
    set("min_p", p.min_p);
    set("repeat_penalty", p.repeat_penalty);
    set("repeat_last_n", p.repeat_last_n);
    set("seed", p.seed);
    set("frequency_penalty", p.frequency_penalty);
    set("presence_penalty", p.presence_penalty);
    set("typical_p", p.typical_p);
    set("mirostat", p.mirostat);
    set("mirostat_tau", p.mirostat_tau);
    set("mirostat_eta", p.mirostat_eta);
    set("min_keep", p.min_keep);
    set("xtc_probability", p.xtc_probability);
    set("xtc_threshold", p.xtc_threshold);
    set("dynatemp_range", p.dynatemp_range);
    set("dynatemp_exponent", p.dynatemp_exponent);
    set("top_n_sigma", p.top_n_sigma);
    set("dry_multiplier", p.dry_multiplier);
    set("dry_base", p.dry_base);
    set("dry_allowed_length", p.dry_allowed_length);
    set("dry_penalty_last_n", p.dry_penalty_last_n);
    set("dry_sequence_breakers", p.dry_sequence_breakers);
    std::vector<std::pair<int32_t, float>> biases;
    set("logit_bias", biases);
    for (const auto& [token, bias] : biases) p.logit_bias.push_back({token, bias});
    for (const auto& item : kw) {
        const auto name = item.first.cast<std::string>();
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            throw Error("Sampler: unknown setting " + name);
        }
    }
    return p;
}

void bind_engine(py::module_& m) {
    py::class_<Engine>(m, "Engine", "A model and one session over it (not thread-safe)")
        .def(py::init([](const std::string& model_path, int32_t n_ctx, int32_t n_batch,
                         int32_t n_threads, const std::string& backend, int32_t n_gpu_layers,
                         const std::string& placement, const std::vector<std::string>& plugin_dirs,
                         float rope_freq_base, float rope_freq_scale, int32_t type_k, int32_t type_v, bool use_mmap,
                         bool use_mlock, int32_t n_threads_batch) {
                 const LoadOptions load{use_mmap, use_mlock};
                 return new Engine(model_path, load,
                                   session_options(n_ctx, n_batch, n_threads, backend, n_gpu_layers, placement,
                                                   plugin_dirs, rope_freq_base, rope_freq_scale, type_k, type_v,
                                                   n_threads_batch));
             }),
             py::arg("model_path"), py::arg("n_ctx"), py::arg("n_batch"), py::arg("n_threads"),
             py::arg("backend"), py::arg("n_gpu_layers"), py::arg("placement"),
             py::arg("plugin_dirs"), py::arg("rope_freq_base") = 0.0f, py::arg("rope_freq_scale") = 0.0f,
             py::arg("type_k") = int32_t{LMX_TYPE_F16}, py::arg("type_v") = int32_t{LMX_TYPE_F16},
             py::arg("use_mmap") = true, py::arg("use_mlock") = false, py::arg("n_threads_batch") = 0,
             py::call_guard<py::gil_scoped_release>())
        .def(
            "tokenize",
            [](const Engine& e, const std::string& text, bool add_bos, bool special) {
                return e.tokenizer().encode(text, add_bos, special);
            },
            py::arg("text"), py::arg("add_bos"), py::arg("special"))
        .def(
            "detokenize",
            [](const Engine& e, const std::vector<int32_t>& tokens) {
                return py::bytes(e.tokenizer().decode(tokens));
            },
            py::arg("tokens"))
        .def(
            "token_bytes",
            [](const Engine& e, int32_t token) { return py::bytes(e.tokenizer().token_to_bytes(token)); },
            py::arg("token"))
        .def("eval", &Engine::eval, py::arg("tokens"), py::arg("every_row") = false,
             py::call_guard<py::gil_scoped_release>())
        .def("prefill", &Engine::prefill, py::arg("prompt"), py::call_guard<py::gil_scoped_release>())
        .def(
            "logprobs",
            [](const Engine& e, int64_t row, int32_t token, int32_t n_top) {
                Engine::Logprobs lp = e.logprobs(row, token, n_top);
                return py::make_tuple(lp.logprob, lp.top);
            },
            py::arg("row"), py::arg("token"), py::arg("n_top"),
            "(log p(token), [(id, log p) of the n_top most likely]) from one row of logits")
        .def("embed", &Engine::embed, py::arg("tokens"), py::arg("pooling"), py::arg("normalize"),
             py::call_guard<py::gil_scoped_release>(),
             "Pooled, normalized embeddings of the tokens from an empty cache, row-major")
        .def("logits", &Engine::logits, "The last evaluated token's logits (a copy)")
        .def(
            "save_state",
            [](Engine& e) {
                std::string state;
                {
                    py::gil_scoped_release unlocked;
                    state = e.save_state();
                }
                return py::bytes(state);  // needs the lock
            },
            "The cache's tokens and rows as bytes")
        .def("load_state", &Engine::load_state, py::arg("state"), py::arg("logits"),
             py::call_guard<py::gil_scoped_release>(), "Restores save_state's bytes and these logits")
        .def("rewind", &Engine::rewind, py::arg("n"))
        .def("tokens", [](const Engine& e) { return e.session().tokens(); }, "The cached tokens")
        .def_property_readonly("n_past", [](const Engine& e) { return e.session().n_past(); })
        .def_property_readonly("n_ctx", [](const Engine& e) { return e.session().n_ctx(); })
        .def_property_readonly("n_vocab", [](const Engine& e) { return e.tokenizer().n_vocab(); })
        .def_property_readonly("n_embd", [](const Engine& e) { return e.model().hparams().n_embd; })
        .def_property_readonly("bos", [](const Engine& e) { return e.tokenizer().bos(); })
        .def_property_readonly("eos", [](const Engine& e) { return e.tokenizer().eos(); })
        .def_property_readonly("add_bos", [](const Engine& e) { return e.tokenizer().add_bos(); })
        .def(
            "chat_prompt",
            [](const Engine& e, const std::string& format,
               const std::vector<std::pair<std::string, std::string>>& messages) {
                std::vector<ChatMessage> chat;
                for (const auto& [role, content] : messages) chat.push_back({role, content});
                const ChatPrompt p = chat_prompt(parse_chat_format(format), chat, e.tokenizer());
                return py::make_tuple(p.tokens, p.stop_texts, p.stop_tokens);
            },
            py::arg("format"), py::arg("messages"),
            "(prompt tokens, stop texts, stop tokens) for [(role, content), ...] (llamux/chat.hpp)")
        .def("chat_format",
             [](const Engine& e) { return std::string(chat_format_name(detect_chat_format(e.model().file()))); })
        .def("metadata", [](const Engine& e) {
            py::dict d;
            for (const auto& [key, value] : e.metadata()) d[py::str(key)] = py::str(value);
            return d;
        });
}

void bind_sampler(py::module_& m) {
    py::class_<ParsedGrammar>(m, "Grammar", "A parsed GBNF grammar (llamux/grammar.hpp)")
        .def(py::init([](const std::string& text, const std::string& source) {
                 return ParsedGrammar{parse_grammar(text, source)};
             }),
             py::arg("text"), py::arg("source"));
    m.def("json_schema_to_grammar", &json_schema_to_grammar, py::arg("schema"), py::arg("source"),
          "GBNF text for the JSON values of a JSON schema (llamux/json_schema.hpp)");
    m.def("json_grammar", &json_grammar, "GBNF text for any JSON object");

    py::class_<Sampler>(m, "Sampler", "llama.cpp's sampling chain with a seeded generator")
        .def(py::init([](Engine* engine, const ParsedGrammar* grammar,
                         const std::vector<int32_t>& end_tokens, const py::kwargs& kw) {
                 auto sampler = std::make_unique<Sampler>(sampling_params(kw), engine ? &engine->tokenizer() : nullptr);
                 if (grammar) {
                     if (!engine) throw Error("Sampler: a grammar needs the engine (its vocabulary)");
                     sampler->set_constraint(grammar_constraint(grammar->grammar, engine->grammar_vocab(end_tokens)));
                 }
                 return sampler;
             }),
             py::arg("engine") = nullptr, py::arg("grammar") = nullptr,
             py::arg("end_tokens") = std::vector<int32_t>{},
             "Keywords: SamplingParams' fields (llamux/sampler.hpp), mirostat for its mode and "
             "logit_bias as [(token, bias)]; grammar (with engine) limits the text to its "
             "language, ending at end of text or one of end_tokens")
        .def(
            "sample",
            [](Sampler& s, const Engine& e) {
                if (e.logits().empty()) throw Error("sample: no logits yet: evaluate tokens first");
                return s.sample(e.logits(), e.session().tokens());  // the cache is the history
            },
            py::arg("engine"), "The next token from the engine's last logits")
        .def(
            "sample_logits",
            [](Sampler& s, const Engine& e, const std::vector<float>& logits) {
                if (logits.size() != static_cast<size_t>(e.tokenizer().n_vocab())) {
                    throw Error("logits_processor: expected " + std::to_string(e.tokenizer().n_vocab()) +
                                " scores, got " + std::to_string(logits.size()));
                }
                return s.sample(logits, e.session().tokens());
            },
            py::arg("engine"), py::arg("logits"),
            "The next token from these logits (the engine's, changed by a logits processor)")
        .def_property_readonly("seed", &Sampler::seed);
}

}  // namespace
}  // namespace llamux::python

PYBIND11_MODULE(_llamux, m) {
    m.doc() = "llamux's C++ engine; use llamux.Llama";
    py::register_exception<llamux::Error>(m, "LlamuxError", PyExc_RuntimeError);
    m.def("chat_formats", [] {
        std::vector<std::string> names;
        for (auto f : llamux::kChatFormats) names.emplace_back(llamux::chat_format_name(f));
        return names;
    }, "The chat layouts the runtime knows (llamux/chat.hpp)");
    m.def(
        "set_log_level",
        [](const std::string& level) { llamux::set_log_level(spdlog::level::from_str(level)); },
        py::arg("level"), "One of trace, debug, info, warning, error, critical, off");
    llamux::python::bind_engine(m);
    llamux::python::bind_sampler(m);
}
