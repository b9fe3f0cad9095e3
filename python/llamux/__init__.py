"""llamux from Python: Llama 2 GGUF models with llama-cpp-python's interface.

    from llamux import Llama
    llm = Llama(model_path="llama-2-7b-chat.Q4_0.gguf", n_ctx=2048, n_gpu_layers=20)
    out = llm("Q: Name the planets in the solar system. A:", max_tokens=64, stop=["Q:"])
    print(out["choices"][0]["text"])

Completions come back as OpenAI-style dicts (`create_completion`, `create_chat_completion`,
or iterators of chunks with `stream=True`). See docs/python.md.
"""

from ._llamux import LlamuxError
from .grammar import LlamaGrammar
from .processors import LogitsProcessorList, StoppingCriteriaList
from .llama import (GGML_TYPE_BF16, GGML_TYPE_F16, GGML_TYPE_F32, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
                    GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, LLAMA_POOLING_TYPE_CLS, LLAMA_POOLING_TYPE_LAST,
                    LLAMA_POOLING_TYPE_MEAN, LLAMA_POOLING_TYPE_NONE, LLAMA_POOLING_TYPE_UNSPECIFIED,
                    Llama, LlamaState)

__all__ = ["Llama", "LlamaGrammar", "LlamaState", "LlamuxError", "LogitsProcessorList",
           "StoppingCriteriaList", "LLAMA_POOLING_TYPE_UNSPECIFIED",
           "LLAMA_POOLING_TYPE_NONE", "LLAMA_POOLING_TYPE_MEAN", "LLAMA_POOLING_TYPE_CLS",
           "LLAMA_POOLING_TYPE_LAST", "GGML_TYPE_F16", "GGML_TYPE_F32", "GGML_TYPE_BF16", "GGML_TYPE_Q8_0",
           "GGML_TYPE_Q4_0", "GGML_TYPE_Q4_1", "GGML_TYPE_Q5_0", "GGML_TYPE_Q5_1"]
