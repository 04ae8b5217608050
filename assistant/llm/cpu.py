"""Refuse a llama.cpp build that this CPU would fault on, before it loads a model.

llama-cpp-python compiles llama.cpp on install; what it was compiled for is fixed in
the library (``llama_print_system_info``: ``AVX512 = 1`` means ``__AVX512F__`` was
defined). A wheel from pip's cache built on another machine, or a native build with
AMX, otherwise dies with SIGILL at the first long prompt, mid-answer and without a word.
Comparing the build's features with /proc/cpuinfo turns that into one line saying how
to rebuild. Pure apart from reading /proc/cpuinfo; the caller passes the build's text.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

from index.errors import ModelError

# The build's feature -> the CPU flags it executes (ggml-cpu/CMakeLists.txt's -m options).
NEEDS = {
    "AVX": ("avx",), "AVX2": ("avx2",), "F16C": ("f16c",), "FMA": ("fma",), "BMI2": ("bmi2",), "AVX_VNNI": ("avx_vnni",),
    "AVX512": ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"),
    "AVX512_VBMI": ("avx512vbmi",), "AVX512_VNNI": ("avx512_vnni",), "AVX512_BF16": ("avx512_bf16",),
    "AMX_INT8": ("amx_tile", "amx_int8"),
}
# Features that crash even where the CPU has them: llama.cpp's AMX kernels in the
# llama-cpp-python we pin set the tile configuration on one thread only.
BROKEN = {"AMX_INT8": "its AMX kernels crash in this llama.cpp version"}
REBUILD = ('CMAKE_ARGS="$(python3.11 scripts/llama_cmake_args.py)" pip install --force-reinstall '
           '--no-deps --no-cache-dir llama-cpp-python==0.3.36')


def compiled_features(system_info: str) -> set[str]:
    """``"CPU : SSE3 = 1 | AVX2 = 1 | ..."`` -> {"SSE3", "AVX2", ...}."""
    return {m.group(1) for m in re.finditer(r"(\w+) = 1\b", system_info)}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The CPU's flags on x86-64 Linux; None where they cannot be read (no check then)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), None)
    return set(line.partition(":")[2].split()) if line else None


def problems(features: set[str], flags: set[str] | None) -> list[str]:
    found = [f"{f} ({why})" for f, why in BROKEN.items() if f in features]
    if flags is not None:
        found += [f"{f} (this CPU lacks {', '.join(n for n in needs if n not in flags)})"
                  for f, needs in NEEDS.items() if f in features and f not in BROKEN and not set(needs) <= flags]
    return found


def check(system_info: str, flags: set[str] | None = None) -> None:
    """Raise ModelError, one line, if the build uses instructions that would fault here."""
    bad = problems(compiled_features(system_info), cpu_flags() if flags is None else flags)
    if bad:
        raise ModelError(f"llama.cpp was built with {'; '.join(bad)}, so it would crash on this machine; "
                         f"rebuild it from the project folder: {REBUILD}")
