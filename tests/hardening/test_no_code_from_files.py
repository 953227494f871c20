"""No file nvcodec reads can run code: no pickle on user data, every torch.load is weights_only.

A static scan of nvcodec/ (AST, so formatting cannot hide a call), and the behaviour: a
checkpoint carrying a pickled callable is refused without running it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import nvcodec
from nvcodec.errors import InputError

SRC = Path(nvcodec.__file__).resolve().parent
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "jsonpickle"}


def _sources() -> list[Path]:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 20, files
    return files


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name:
            return k.value.value if isinstance(k.value, ast.Constant) else "<not a constant>"
    return None


def _literal_only(call: ast.Call) -> bool:
    """An exec of a string written in our source (no data can reach it)."""
    return not call.keywords and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)


def find_unsafe(source: str, filename: str = "<src>") -> list[str]:
    """Lines that import a pickle-like module, call torch.load without weights_only=True, call
    numpy.load with allow_pickle=True, or use eval/exec."""
    tree = ast.parse(source, filename)
    problems = []
    torch_names, load_aliases = {"torch"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in UNSAFE_MODULES:
                    problems.append(f"{filename}:{node.lineno}: import {a.name}")
                if a.name == "torch" and a.asname:
                    torch_names.add(a.asname)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in UNSAFE_MODULES:
                problems.append(f"{filename}:{node.lineno}: from {node.module} import ...")
            if node.module in ("torch", "torch.serialization"):
                load_aliases |= {a.asname or a.name for a in node.names if a.name == "load"}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        is_torch_load = (name.endswith(".load") and name.rsplit(".", 1)[0] in torch_names | {"torch.serialization"}) \
            or name in load_aliases
        if is_torch_load and _kw(node, "weights_only") is not True:
            problems.append(f"{filename}:{node.lineno}: {name}(...) without weights_only=True")
        if name in ("np.load", "numpy.load") and _kw(node, "allow_pickle") not in (None, False):
            problems.append(f"{filename}:{node.lineno}: {name}(..., allow_pickle=...)")
        if name in ("eval", "exec", "builtins.eval", "builtins.exec") and not _literal_only(node):
            problems.append(f"{filename}:{node.lineno}: {name}(...)")
        if name.endswith("pickle.loads") or name.endswith("pickle.load"):
            problems.append(f"{filename}:{node.lineno}: {name}(...)")
    return problems


def test_the_scanner_catches_what_it_should():
    bad = (
        "import pickle\nfrom dill import loads\nimport torch as T\nfrom torch import load as L\nimport numpy as np\n"
        "T.load(p)\ntorch.load(p, weights_only=False)\nL(p)\nnp.load(p, allow_pickle=True)\neval(s)\nexec(s, {})\n"
        "torch.load(p, map_location='cpu', weights_only=flag)\n"
    )
    found = find_unsafe(bad)
    assert len(found) == 9, found
    good = "import torch\nimport numpy as np\ntorch.load(p, map_location='cpu', weights_only=True)\nnp.load(p)\nexec('')\n"
    assert find_unsafe(good) == []


def test_nvcodec_source_has_no_unsafe_deserialisation():
    problems = []
    loads = 0
    for f in _sources():
        text = f.read_text(encoding="utf-8")
        problems += find_unsafe(text, str(f.relative_to(SRC.parent)))
        loads += text.count("torch.load(")
    assert problems == []
    assert loads >= 1  # the scan does see the checkpoint / LPIPS loaders


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {_Payload.marker}",))

    marker = ""


def test_a_checkpoint_carrying_code_is_refused_without_running_it(tmp_path):
    from nvcodec.fit.loop import load_checkpoint

    _Payload.marker = str(tmp_path / "PWNED")
    evil = tmp_path / "evil.ckpt"
    torch.save({"format": "nvcodec-fit-checkpoint", "version": 1, "step": _Payload()}, evil)
    with pytest.raises(InputError, match="not an nvcodec fitting checkpoint") as e:
        load_checkpoint(evil)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"PK\x03\x04" + bytes(100)], ids=["empty", "text", "zip"])
def test_damaged_checkpoints_are_input_errors(tmp_path, content):
    from nvcodec.fit.loop import load_checkpoint

    p = tmp_path / "bad.ckpt"
    p.write_bytes(content)
    with pytest.raises(InputError) as e:
        load_checkpoint(p)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("damage", ["optimizer", "rng", "model", "step"])
def test_a_damaged_checkpoint_is_an_input_error(tmp_path, damage):
    """--resume with a checkpoint in the right format but with damaged content: one InputError."""
    from nvcodec.errors import Interrupted
    from hardening_util import tiny_fit

    with pytest.raises(Interrupted):
        tiny_fit(tmp_path, 2, False)
    ckpt = tmp_path / "fit.ckpt"
    state = torch.load(ckpt, weights_only=True)
    if damage == "model":
        state["model"] = {"norm_bounds": torch.zeros(3)}
    elif damage == "step":
        state["step"] = "two"
    else:
        del state[damage]
    torch.save(state, ckpt)
    with pytest.raises(InputError, match="damaged|shape|missing") as e:
        tiny_fit(tmp_path, None, True)
    assert "\n" not in str(e.value)
