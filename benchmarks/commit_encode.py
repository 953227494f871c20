"""One nvcodec encode (or decode) by a given commit's code, in its own process: the previous engine and
the new one measured side by side (`engine_ab`, `bdrate --previous`) without either
importing the other.

The process encodes with the tree's own API, decodes the file it wrote and reports one
`RESULT {json}` line; older commits have fewer report fields, derived there. A tree is a
`git worktree` of the commit (`commit_tree`), or this checkout itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import REPO_ROOT

#: what runs in the encoding process, with the tree first on PYTHONPATH
_ENCODE = r"""
import inspect, json, sys
import nvcodec
from nvcodec import api
from nvcodec.fit import FitOptions
a = json.loads(sys.argv[1])
assert nvcodec.__file__.startswith(a["tree"]), (nvcodec.__file__, a["tree"])
rep = api.encode(a["src"], a["nvc"], api.EncodeOptions(bpp=a["bpp"], time_budget=a["time"], steps=a["steps"],
                 seed=a["seed"], device=a["device"], overwrite=True, progress=False))
api.decode(a["nvc"], a["dec"], api.DecodeOptions(device=a["device"], overwrite=True, progress=False))
# either side may be an older commit: PSNR only, in whichever way its api asks for it
old_api = "lpips" in inspect.signature(api.evaluate).parameters
ev = api.evaluate(a["src"], a["dec"], device=a["device"], **({"lpips": False} if old_api else {"metrics": ("psnr",)}))
sps = getattr(rep, "samples_per_second", None)
if sps is None:  # the per-pixel engine of older commits: F x P samples per step
    o = FitOptions(steps=1)
    sps = rep.fit_steps * o.frames_per_batch * o.pixels_per_frame / rep.fit_seconds
stages = getattr(rep, "psnr_stages", {}) or {}
print("RESULT " + json.dumps({
    "bpp": rep.bpp, "bytes": rep.bytes, "psnr_yuv": ev["psnr_yuv"], "psnr_rgb": ev["psnr_rgb"],
    "report_psnr_yuv": rep.psnr_yuv,
    "psnr_float": stages.get("float", getattr(rep, "psnr_unquantized", None)), "psnr_quantized": stages.get("quantized"),
    "fit_steps": rep.fit_steps, "fit_seconds": rep.fit_seconds, "samples_per_second": sps,
    "passes": sps * rep.fit_seconds / (rep.width * rep.height * rep.frames),
    "engine": getattr(rep, "fit_engine", "pixel"), "encode_seconds": rep.encode_seconds}))
"""


#: a decode with the tree's own decoder (options: api.DecodeOptions fields of every commit since
#: the first, e.g. fps_mult, scale)
_DECODE = r"""
import json, sys
import nvcodec
from nvcodec import api
a = json.loads(sys.argv[1])
assert nvcodec.__file__.startswith(a["tree"]), (nvcodec.__file__, a["tree"])
api.decode(a["nvc"], a["out"], api.DecodeOptions(device="cpu", overwrite=True, progress=False, **a["options"]))
print("RESULT {}")
"""


class EncodeFailed(RuntimeError):
    """The encoding process exited with an error (its stderr's tail is the message)."""


def commit_tree(commit: str, work: Path) -> Path:
    """A checkout of `commit` under `work` (a git worktree, made once)."""
    tree = work / f"tree_{commit}"
    if not (tree / "nvcodec").is_dir():
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(tree), commit], cwd=REPO_ROOT,
                       check=True, capture_output=True)
    return tree


def drop_tree(tree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO_ROOT, capture_output=True)


def short_commit(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short=12", rev], cwd=REPO_ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()


def run_encode(tree: Path, src: Path, nvc: Path, decoded: Path, bpp: float, time_s: float | None,
               steps: int | None = None, seed: int = 0, threads: int | None = None,
               device: str = "cpu") -> dict[str, Any]:
    """Encode `src` to `nvc` and decode it to `decoded` with the code of `tree`, in a process of
    its own (`threads` torch threads); the RESULT it printed."""
    tree = tree.resolve()
    args = {"tree": str(tree), "src": str(Path(src).resolve()), "nvc": str(Path(nvc).resolve()),
            "dec": str(Path(decoded).resolve()), "bpp": bpp, "time": time_s, "steps": steps, "seed": seed,
            "device": device}
    return _run_in(tree, _ENCODE, args, threads, "encode")


def run_decode(tree: Path, nvc: Path, out: Path, threads: int | None = None, **options: Any) -> None:
    """Decode `nvc` to `out` with the decoder of `tree`, in a process of its own."""
    tree = tree.resolve()
    args = {"tree": str(tree), "nvc": str(Path(nvc).resolve()), "out": str(Path(out).resolve()), "options": options}
    _run_in(tree, _DECODE, args, threads, "decode")


def _run_in(tree: Path, script: str, args: dict[str, Any], threads: int | None, what: str) -> dict[str, Any]:
    """Run `script` with `args` (JSON) under `tree`'s code; the RESULT it printed."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(args)], cwd=tree, env=env,
                          capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise EncodeFailed(f"{what} from {tree} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])
