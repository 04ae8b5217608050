"""The binding to llama-cpp-python: the one module of the project that imports llama_cpp.

Every call into llama_cpp goes through the functions here, and each imports it
inside, so that ``--help`` and the tests that need no model stay fast. That
includes the few internals of llama-cpp-python we reach into (``_model``,
``_ctx``): a new version that moves them breaks here, in one place.
"""

from __future__ import annotations

import collections
import ctypes
import sys
from pathlib import Path
from typing import Callable

from assistant.llm import cpu

# ----------------------------------------------------------------- the library


def load(model_path: Path | str, **options):
    """A ``llama_cpp.Llama`` of the GGUF at model_path; options as Llama takes them."""
    from llama_cpp import Llama

    return Llama(model_path=str(model_path), **options)


def system_info() -> str:
    """What llama.cpp was compiled for: ``"CPU : SSE3 = 1 | AVX2 = 1 | ..."``."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode().strip()


def check_llama_build() -> None:
    """ModelError, before any model loads, if llama.cpp was built for instructions this CPU lacks."""
    cpu.check(system_info())


def chat_formatter(template: str, *, eos_token: str, bos_token: str):
    """llama-cpp-python's renderer of a GGUF's Jinja chat template, ending on the answer's turn."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    return Jinja2ChatFormatter(template=template, eos_token=eos_token, bos_token=bos_token, add_generation_prompt=True)


# ------------------------------------------------------------------ the vocabulary


def token_text(llm, token: int) -> str:
    return llm._model.token_get_text(token)  # token texts are only reachable through the internal model


def special_texts(llm) -> set[str]:
    """The strings of the vocabulary's control and user-defined tokens (<|im_start|>, ...)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    wanted = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
    return {token_text(llm, t) for t in range(llm.n_vocab()) if llama_cpp.llama_vocab_get_attr(vocab, t) & wanted}


def adds_bos(llm) -> bool:
    """Whether llama.cpp puts BOS in front of a prompt for this vocabulary."""
    import llama_cpp

    return bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)))


def end_of_generation(llm) -> Callable[[int], bool]:
    """token -> whether the vocabulary marks it as ending a generation (EOS, EOT, ...)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    return lambda token: llama_cpp.llama_vocab_is_eog(vocab, token)


def token_p(llm, token: int) -> float:
    """The probability of ``token`` as the next one, from the logits of the last token decoded
    (softmax at temperature 1): read before the next decode overwrites them."""
    import llama_cpp
    import numpy as np

    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))
    top = float(logits.max())
    return float(np.exp(logits[token] - top) / np.exp(logits - top).sum())


# ------------------------------------------------------------------ context state


def version() -> str:
    import llama_cpp

    return llama_cpp.__version__


def save_state(llm) -> tuple[ctypes.Array, int]:
    """A copy of the context's state (its KV cache) and its size in bytes."""
    import llama_cpp

    size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
    data = (ctypes.c_uint8 * size)()
    return data, llama_cpp.llama_state_get_data(llm._ctx.ctx, data, size)


def restore_state(llm, data: ctypes.Array, size: int) -> bool:
    """Put a saved state back; False if it does not fit this context."""
    import llama_cpp

    return llama_cpp.llama_state_set_data(llm._ctx.ctx, data, size) == size


# ---------------------------------------------------------------------- logging

_log_lines: collections.deque[str] = collections.deque(maxlen=20)
_log_verbose = False
_log_callback = None  # kept referenced: ctypes would free it while C still calls it


def install_log_callback() -> None:
    """Route llama.cpp's C logging through us: printed when verbose, otherwise
    kept (the last lines) so a failed load can say why in its one-line error.
    llama-cpp-python's own callback prints errors even when verbose=False."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = text.decode("utf-8", errors="replace")
        if _log_verbose:
            print(line, end="", file=sys.stderr, flush=True)
        elif line.strip():
            _log_lines.append(line.strip())

    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    _log_callback = callback


def start_log(verbose: bool) -> None:
    """From now on print llama.cpp's log (verbose) or keep it for llama_said(), from empty."""
    global _log_verbose
    _log_verbose = verbose
    _log_lines.clear()


def llama_said() -> str:
    """The most telling recent llama.cpp log line, for an error message: an
    "error ..." line says why, the "failed ..." that follows it only that it failed."""
    for word in ("error", "failed"):
        for line in reversed(_log_lines):
            if word in line.lower():
                return line.split(": ", 1)[-1]  # drop the C function name
    return _log_lines[-1] if _log_lines else "no details from llama.cpp"
