"""The llama.cpp build flags and the check that refuses a build this CPU would fault on.

Pure logic over /proc/cpuinfo texts of real CPU kinds; the installed build itself is
checked by test_installed_build_runs_here and, in CI, by scripts/smoke_llama.py.
"""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from assistant.llm import cpu
from index.errors import ModelError

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("llama_cmake_args", ROOT / "scripts" / "llama_cmake_args.py")
cmake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cmake)

COMMON = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat sse sse2 ssse3 sse4_1 sse4_2 popcnt"
SAPPHIRE_RAPIDS = COMMON + " avx f16c fma avx2 bmi1 bmi2 avx512f avx512dq avx512cd avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8"
HASWELL = COMMON + " avx f16c fma avx2 bmi1 bmi2"
SANDY_BRIDGE = COMMON + " avx"
NATIVE_ON_SAPPHIRE = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"


def _cpuinfo(flags: str) -> str:
    return f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\nbugs\t\t: none\n"


def _options(args: list[str]) -> dict[str, str]:
    return dict(a.removeprefix("-D").split("=") for a in args)


def test_amx_cpu_gets_avx512_and_never_amx():
    opts = _options(cmake.cmake_args(cmake.cpu_flags(_cpuinfo(SAPPHIRE_RAPIDS))))
    assert opts["GGML_NATIVE"] == "OFF"  # -march=native would turn AMX on
    assert {opts[k] for k in ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")} == {"OFF"}
    assert opts["GGML_AVX512"] == opts["GGML_AVX512_VNNI"] == opts["GGML_AVX512_BF16"] == "ON"
    assert opts["GGML_AVX2"] == opts["GGML_FMA"] == opts["GGML_F16C"] == "ON"


def test_cpu_without_avx512_gets_the_floor_only():
    opts = _options(cmake.cmake_args(cmake.cpu_flags(_cpuinfo(HASWELL))))
    assert opts["GGML_AVX2"] == "ON" and opts["GGML_AVX512"] == "OFF" and opts["GGML_AVX512_VNNI"] == "OFF"
    assert _options(cmake.cmake_args(cmake.cpu_flags(_cpuinfo(SAPPHIRE_RAPIDS)), floor_only=True))["GGML_AVX512"] == "OFF"


def test_cpu_below_the_floor_is_told_so():
    with pytest.raises(SystemExit, match="lacks avx2, fma, f16c, bmi2"):
        cmake.cmake_args(cmake.cpu_flags(_cpuinfo(SANDY_BRIDGE)))


def test_build_features_are_read_from_system_info():
    assert cpu.compiled_features(NATIVE_ON_SAPPHIRE) >= {"AVX2", "AVX512", "AMX_INT8"}
    assert "AVX512" not in cpu.compiled_features("CPU : AVX2 = 1 | AVX512 = 0 |")


def test_native_amx_build_is_refused_even_on_its_own_cpu():
    flags = cmake.cpu_flags(_cpuinfo(SAPPHIRE_RAPIDS))
    with pytest.raises(ModelError, match=r"AMX_INT8 .*crash.*llama_cmake_args\.py"):
        cpu.check(NATIVE_ON_SAPPHIRE, flags)


def test_avx512_build_is_refused_on_a_cpu_without_it():
    portable_avx512 = NATIVE_ON_SAPPHIRE.replace("AVX_VNNI = 1 | ", "").replace("AMX_INT8 = 1 | ", "")
    assert cpu.problems(cpu.compiled_features(portable_avx512), cmake.cpu_flags(_cpuinfo(SAPPHIRE_RAPIDS))) == []
    found = cpu.problems(cpu.compiled_features(portable_avx512), cmake.cpu_flags(_cpuinfo(HASWELL)))
    assert found and found[0].startswith("AVX512 (this CPU lacks avx512f")


def test_installed_build_runs_here():
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    assert cpu.problems(cpu.compiled_features(info), cpu.cpu_flags()) == [], info


# Instructions that fault where the CPU (or this llama.cpp's threads) cannot run them.
AMX = re.compile(r"\b(tilezero|tileloadd|tileloaddt1|tilestored|tilerelease|ldtilecfg|sttilecfg|tdp\w+)\b")
AVX512 = re.compile(r"%zmm\d|%k[1-7]\b")


def _disassembly(lib: Path) -> str:
    return subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(lib)], capture_output=True, text=True, check=True).stdout


needs_objdump = pytest.mark.skipif(not shutil.which("objdump") or not shutil.which("gcc"), reason="needs binutils' objdump and gcc")


@needs_objdump
def test_the_scanner_sees_amx_and_avx512_instructions(tmp_path):
    # a real object with one AMX and one AVX-512 instruction, so the scan below can fail
    (tmp_path / "k.c").write_text("#include <immintrin.h>\nvoid z(void){_tile_zero(0);}\n"
                                  "__m512 a(__m512 x,__m512 y){return _mm512_add_ps(x,y);}\n")
    subprocess.run(["gcc", "-O2", "-mamx-tile", "-mavx512f", "-c", "k.c"], cwd=tmp_path, check=True)
    text = _disassembly(tmp_path / "k.o")
    assert AMX.search(text) and AVX512.search(text)


@needs_objdump
def test_installed_llama_cpp_has_no_instruction_this_cpu_lacks():
    import llama_cpp

    lib = Path(llama_cpp.__file__).parent / "lib" / "libggml-cpu.so"
    text = _disassembly(lib)
    assert not AMX.search(text), f"{lib} holds AMX instructions: rebuild with scripts/llama_cmake_args.py"
    flags = cpu.cpu_flags()
    if flags is not None and "avx512f" not in flags:
        assert not AVX512.search(text), f"{lib} holds AVX-512 instructions this CPU lacks"
