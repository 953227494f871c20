"""README's Python API example runs as written, and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_api_example() -> str:
    section = README.read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_array_example_runs():
    code = _python_api_example()
    assert "nvcodec.encode(" in code and "nvcodec.open(" in code and "nvcodec.evaluate(" in code
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), scope)
    lines = out.getvalue().splitlines()
    assert lines[0] == "16 25 (320, 240)"
    assert scope["between"].shape == (480, 640, 3) and scope["clip"].shape == (16, 240, 320, 3)
    assert 15 < float(lines[1]) < 60
