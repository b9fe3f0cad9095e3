"""llama-cpp-python's logits processors and stopping criteria.

A logits processor is called as processor(input_ids, scores) before each token is drawn,
with the context's token ids (numpy intc) and the next token's logits (numpy float32), and
returns the logits to draw from; the sampling chain then runs on them. A stopping criterion
is called as criterion(input_ids, logits) once a token is drawn, before it is returned; True
ends the text there (without that token, finish_reason "stop"). numpy is needed only when
they are used.
"""


class LogitsProcessorList(list):
    """Processors applied in order, each to the previous one's scores."""

    def __call__(self, input_ids, scores):
        for processor in self:
            scores = processor(input_ids, scores)
        return scores


class StoppingCriteriaList(list):
    """Stops when any criterion says so."""

    def __call__(self, input_ids, logits):
        return any(criterion(input_ids, logits) for criterion in self)


def check_callable(name, value):
    if value is not None and not callable(value):
        raise ValueError(f"{name}: expected a callable (e.g. a {name.title().replace('_', '')}List), "
                         f"got {value!r}")
    return value


def arrays(engine):
    """(input_ids, logits) of the engine as llama-cpp-python passes them."""
    import numpy as np  # only for code that uses processors or criteria
    return np.array(engine.tokens(), dtype=np.intc), np.array(engine.logits(), dtype=np.single)
