"""The machine under the local model: CPU features, the build's AMX, the load mode, the health cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.models.runtime import (
    BuildInfo,
    HealthReport,
    LoadLog,
    cached_health,
    cpu_fingerprint,
    cpu_info,
    health_key,
    use_extra_buffers,
)

XEON = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_vnni avx512_bf16
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp i8mm bf16 sve
"""
AMX_BUILD = BuildInfo("0.3.36", "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |", "", "/x")
PLAIN_BUILD = BuildInfo("0.3.36", "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | REPACK = 1 |", "-mno-amx-int8", "/x")


def test_cpu_features_are_read_from_x86_flags_and_arm_features() -> None:
    xeon, epyc, graviton = cpu_info(XEON), cpu_info(EPYC), cpu_info(GRAVITON)
    assert xeon.model.startswith("Intel(R) Xeon") and xeon.has_amx and "avx512_vnni" in xeon.features
    assert epyc.model == "AMD EPYC 9B14" and not epyc.has_amx and "avx512f" in epyc.features
    assert not graviton.has_amx and {"asimd", "i8mm", "sve"} <= set(graviton.features)
    assert "amx_int8" in xeon.describe() and "amx_int8" not in epyc.describe()


def test_the_cpu_fingerprint_changes_with_any_flag() -> None:
    assert cpu_fingerprint(XEON) == cpu_fingerprint(XEON)
    assert cpu_fingerprint(XEON) != cpu_fingerprint(XEON.replace(" amx_int8", ""))


def test_extra_buffers_are_off_only_where_an_amx_build_meets_an_amx_cpu() -> None:
    xeon, epyc = cpu_info(XEON), cpu_info(EPYC)
    assert use_extra_buffers("auto", AMX_BUILD, xeon) is False  # the path that crashes
    assert use_extra_buffers("auto", PLAIN_BUILD, xeon) is True  # our build: CPU repack kept
    assert use_extra_buffers("auto", AMX_BUILD, epyc) is True  # no AMX on the CPU: ggml never picks it
    assert use_extra_buffers("off", PLAIN_BUILD, epyc) is False
    assert use_extra_buffers("on", AMX_BUILD, xeon) is True  # asked for explicitly


def test_compiled_features_are_parsed_from_the_system_info() -> None:
    assert AMX_BUILD.has_amx and not PLAIN_BUILD.has_amx
    assert PLAIN_BUILD.compiled_features() == ["SSE3", "AVX2", "AVX512", "REPACK"]


def test_the_load_log_tells_when_weights_went_to_amx_buffers() -> None:
    log = LoadLog()
    log.lines = ["load_tensors:   CPU_REPACK model buffer size =   720.00 MiB\n"]
    assert not log.amx_buffers
    log.lines.append("load_tensors:          AMX model buffer size =   712.34 MiB\n")
    assert log.amx_buffers
    other = LoadLog()
    other.lines = ["amx repack tensor blk.0.attn_q.weight of type q4_K\n"]
    assert other.amx_buffers


def test_the_health_key_follows_the_build_the_model_and_the_load_mode(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libggml-cpu.so").write_bytes(b"one")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"weights")
    build = BuildInfo("0.3.36", "AVX2 = 1", "flags", str(lib))
    key = health_key(model, build, True)
    assert key == health_key(model, build, True)
    assert key != health_key(model, build, False)
    assert key != health_key(model, BuildInfo("0.3.36", "AVX2 = 1", "other flags", str(lib)), True)
    (lib / "libggml-cpu.so").write_bytes(b"rebuilt")
    assert key != health_key(model, build, True)
    rebuilt = health_key(model, build, True)
    model.write_bytes(b"other weights")
    assert rebuilt != health_key(model, build, True)


def test_a_cached_report_is_read_back_and_a_damaged_one_is_ignored(tmp_path: Path) -> None:
    report = HealthReport(True, "loaded and evaluated one token", "cpu", "build", True, False, 900, 40, "now")
    (tmp_path / "health").mkdir()
    (tmp_path / "health" / "k.json").write_text(json.dumps(report.__dict__))
    assert cached_health(tmp_path, "k") == report
    (tmp_path / "health" / "k.json").write_text("{not json")
    assert cached_health(tmp_path, "k") is None
    assert cached_health(tmp_path, "missing") is None


@pytest.mark.parametrize("setting", ["auto", "on", "off"])
def test_every_load_mode_setting_is_accepted(setting: str) -> None:
    from rag.settings import Settings

    assert Settings(llm_extra_buffers=setting).llm_extra_buffers == setting  # type: ignore[arg-type]
