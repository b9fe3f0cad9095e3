"""llama-cpp-python arguments that llamux does not implement.

Code written for llama-cpp-python often passes them at their neutral values; those are
accepted and change nothing. Any other value raises ValueError naming the argument, rather
than being ignored; an argument llama-cpp-python does not know either raises TypeError.
"""

CONSTRUCTOR = {
    "vocab_only": False, "main_gpu": 0, "tensor_split": None,
    "logits_all": False, "lora_path": None, "flash_attn": False,
}
# tfs_z: llama.cpp dropped tail-free sampling (and so does its main's chain).
SAMPLING = {
    "tfs_z": 1.0,
}


def check(where, kwargs, neutral):
    for name, value in kwargs.items():
        if name not in neutral:
            raise TypeError(f"{where}() got an unexpected keyword argument {name!r}")
        if value != neutral[name]:
            raise ValueError(f"{name}: not supported by llamux; only {neutral[name]!r} "
                             f"(no effect) is accepted, got {value!r}")
