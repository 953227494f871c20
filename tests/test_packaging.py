"""The codec installs without the benchmarks' plotting and BD-rate packages."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_ONLY = ("matplotlib", "bjontegaard")


def _requirements(text: str) -> set[str]:
    return {re.split(r"[<>=!\[ ]", line.strip(), maxsplit=1)[0].lower() for line in text.splitlines() if line.strip()}


def test_bench_packages_are_an_extra_not_a_requirement():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    core = _requirements(cfg["options"]["install_requires"])
    extras = cfg["options.extras_require"]
    assert not core & set(BENCH_ONLY)
    assert set(BENCH_ONLY) <= _requirements(extras["bench"]) and set(BENCH_ONLY) <= _requirements(extras["test"])


def test_the_codec_never_imports_them():
    code = ("import sys, nvcodec.cli, nvcodec.api, nvcodec.arrays, nvcodec.metrics.evaluate; "
            f"print([m for m in {BENCH_ONLY!r} if m in sys.modules])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stderr
    for path in (ROOT / "nvcodec").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(matplotlib|bjontegaard)\b", text, re.M), path


def test_ray_is_an_extra_the_tests_install_and_nothing_imports_it_up_front():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    extras = cfg["options.extras_require"]
    assert "ray" not in _requirements(cfg["options"]["install_requires"])
    assert "ray" in _requirements(extras["ray"]) and "ray" in _requirements(extras["test"])
    code = "import sys, nvcodec.cli, nvcodec.api, nvcodec.ray_engine; print('ray' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_the_c_kernels_ship_with_the_package():
    """The fitting kernels are compiled from their sources at run time: a wheel without them
    would fall back to the slower torch path on every machine."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in cfg["options.package_data"]["nvcodec.native"].split(",")]
    sources = sorted((ROOT / "nvcodec" / "native").glob("*.c"))
    assert {s.name for s in sources} == {"point_set.c", "grid_lookup.c", "coding_cost.c"}
    assert all(any(s.match(p) for p in patterns) for s in sources)
