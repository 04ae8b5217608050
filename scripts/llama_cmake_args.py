"""Print the CMake flags that make llama-cpp-python build a llama.cpp this CPU can run.

llama-cpp-python compiles llama.cpp on install with GGML_NATIVE, i.e. -march=native.
On Intel Xeons that advertise AMX this turns on ggml's AMX kernels, which die with
SIGILL in llama.cpp 0.3.36 (the tile configuration is set on one thread only), and a
native wheel copied to an older CPU faults on its first AVX-512 instruction. So the
build is explicit: AVX2/FMA/F16C/BMI2 as the floor, AVX-512 only where this CPU has
it, AMX never. Used as:

    CMAKE_ARGS="$(python3.11 scripts/llama_cmake_args.py)" pip install -e .

`--floor` prints the floor alone (a wheel that runs on any x86-64 CPU since Haswell).
Off x86-64 it prints nothing, so llama.cpp's own defaults apply.
"""

import os
import platform
import sys
from pathlib import Path

FLOOR = ("avx", "avx2", "fma", "f16c", "bmi2")
# ggml's AVX512 option means F + BW + DQ + VL + CD (-mavx512f ... in ggml-cpu/CMakeLists.txt).
AVX512_BASE = ("avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd")
AVX512_EXTRAS = {"avx512vbmi": "GGML_AVX512_VBMI", "avx512_vnni": "GGML_AVX512_VNNI", "avx512_bf16": "GGML_AVX512_BF16"}
# AVX-VNNI (the VEX form) adds nothing where AVX512-VNNI is on, and stays off like
# llama.cpp's own default; AMX crashes in this version.
NEVER = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16", "GGML_AVX_VNNI")


def cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cmake_args(flags: set[str], floor_only: bool = False) -> list[str]:
    missing = [f for f in FLOOR if f not in flags]
    if missing:
        raise SystemExit(f"this CPU lacks {', '.join(missing)}; build llama-cpp-python with its own defaults (unset CMAKE_ARGS)")
    args = ["-DGGML_NATIVE=OFF", "-DGGML_SSE42=ON"] + [f"-DGGML_{f.upper()}=ON" for f in FLOOR]
    has_avx512 = not floor_only and all(f in flags for f in AVX512_BASE)
    args.append(f"-DGGML_AVX512={'ON' if has_avx512 else 'OFF'}")
    for flag, option in AVX512_EXTRAS.items():
        args.append(f"-D{option}={'ON' if has_avx512 and flag in flags else 'OFF'}")
    return args + [f"-D{option}=OFF" for option in NEVER]


def main() -> None:
    if platform.machine().lower() not in ("x86_64", "amd64") or not Path("/proc/cpuinfo").exists():
        print(os.environ.get("CMAKE_ARGS", ""))
        return
    args = cmake_args(cpu_flags(Path("/proc/cpuinfo").read_text()), floor_only="--floor" in sys.argv[1:])
    # Flags the user set already come last, so they win.
    print(" ".join(args + os.environ.get("CMAKE_ARGS", "").split()))


if __name__ == "__main__":
    main()
