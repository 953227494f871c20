"""The encoder of a previous commit against this one, side by side (A B A B) in one run.

Each encode runs `nvcodec`'s API in its own process from one source tree: the previous
commit's (a `git worktree` checked out in the results folder's `work/`) or the new one's
(`--new REV`, checked out the same way, so that the tree can be edited while it runs; by
default this working tree), with
the same clip, --bpp, --time, seed and torch threads. Rounds alternate the order (A B, then
B A) so that a drift of the shared machine does not favour one side. Reported per encode:
decoded PSNR-YUV (re-measured from the written file), the fitted and quantised stages where
the encoder reports them, fit steps, samples per second, passes over the clip and the file's
bpp; then per clip the medians and the new / previous ratios.

    python -m benchmarks.engine_ab --previous 8e92fe2 --new HEAD \\
        --clips basketballpass@360x240x47,foreman_cif --bpp 0.3 --time 240 --rounds 1 --threads 2

A clip `NAME@WxHxT` is a centre crop (4:2:0) of the first T frames of NAME.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import (REPO_ROOT, base_parser, clip_label, find_clips, float_list, machine_description,
                     markdown_table, remove_work, say, str_list, write_csv, write_markdown, write_meta)
from .rate_accuracy import crop_clip

NAME = "engine_ab"
COLUMNS = ("clip", "side", "commit", "round", "bpp_target", "time_s", "bpp", "psnr_yuv", "psnr_rgb",
           "psnr_float", "psnr_quantized", "fit_steps", "fit_seconds", "samples_per_second", "passes",
           "engine", "encode_seconds")
SUMMARY = ("clip", "bpp_target", "time_s", "runs", "prev_psnr_yuv", "new_psnr_yuv", "gain_db",
           "prev_samples_per_second", "new_samples_per_second", "samples_ratio", "prev_passes", "new_passes")

#: what one encode runs in its own process, inside the tree on PYTHONPATH: encode, decode, and
#: re-measure the decoded file (the previous commit's report has fewer fields: derived there)
_ENCODE = r"""
import inspect, json, sys, time
import nvcodec
from nvcodec import api
from nvcodec.fit import FitOptions
a = json.loads(sys.argv[1])
assert nvcodec.__file__.startswith(a["tree"]), (nvcodec.__file__, a["tree"])
rep = api.encode(a["src"], a["nvc"], api.EncodeOptions(bpp=a["bpp"], time_budget=a["time"], seed=a["seed"],
                 device="cpu", overwrite=True, progress=False))
api.decode(a["nvc"], a["dec"], api.DecodeOptions(device="cpu", overwrite=True, progress=False))
# either side of the A/B may be an older commit: PSNR only, in whichever way its api asks for it
old_api = "lpips" in inspect.signature(api.evaluate).parameters
ev = api.evaluate(a["src"], a["dec"], device="cpu", **({"lpips": False} if old_api else {"metrics": ("psnr",)}))
sps = getattr(rep, "samples_per_second", None)
if sps is None:  # the per-pixel engine of older commits: F x P samples per step
    o = FitOptions(steps=1)
    sps = rep.fit_steps * o.frames_per_batch * o.pixels_per_frame / rep.fit_seconds
stages = getattr(rep, "psnr_stages", {}) or {}
print("RESULT " + json.dumps({
    "bpp": rep.bpp, "psnr_yuv": ev["psnr_yuv"], "psnr_rgb": ev["psnr_rgb"],
    "psnr_float": stages.get("float", getattr(rep, "psnr_unquantized", None)), "psnr_quantized": stages.get("quantized"),
    "fit_steps": rep.fit_steps, "fit_seconds": rep.fit_seconds, "samples_per_second": sps,
    "passes": sps * rep.fit_seconds / (rep.width * rep.height * rep.frames),
    "engine": getattr(rep, "fit_engine", "pixel"), "encode_seconds": rep.encode_seconds}))
"""


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


def resolve_clip(spec: str, clips_dir: Path, work: Path) -> Path:
    """A clip name or path, or NAME@WxHxT: its centre crop written to `work`."""
    name, _, crop = spec.partition("@")
    src = find_clips([name], clips_dir)[0]
    if not crop:
        return src
    w, h, t = (int(v) for v in crop.split("x"))
    work.mkdir(parents=True, exist_ok=True)
    return crop_clip(src, work / f"{src.stem}_{w}x{h}x{t}.y4m", w, h, t)


def run_encode(tree: Path, src: Path, work: Path, bpp: float, time_s: float, seed: int,
               threads: int | None) -> dict[str, Any]:
    """One encode in its own process from `tree`; the RESULT line it prints."""
    stem = f"{src.stem}_{tree.name}"
    work = work.resolve()  # the process runs inside `tree`
    args = {"tree": str(tree.resolve()), "src": str(src.resolve()), "nvc": str(work / f"{stem}.nvc"),
            "dec": str(work / f"{stem}.y4m"), "bpp": bpp, "time": time_s, "seed": seed}
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run([sys.executable, "-c", _ENCODE, json.dumps(args)], cwd=tree, env=env,
                          capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"encode from {tree} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per clip and setting: medians of each side and the new / previous ratios."""
    out = []
    keys = sorted({(r["clip"], r["bpp_target"], r["time_s"]) for r in rows}, key=str)
    for clip, bpp, time_s in keys:
        sel = [r for r in rows if (r["clip"], r["bpp_target"], r["time_s"]) == (clip, bpp, time_s)]

        def med(side: str, key: str) -> float:
            return statistics.median(float(r[key]) for r in sel if r["side"] == side)

        s = {"clip": clip, "bpp_target": bpp, "time_s": time_s, "runs": len(sel) // 2}
        for side in ("prev", "new"):
            for key in ("psnr_yuv", "samples_per_second", "passes"):
                s[f"{side}_{key}"] = med(side, key)
        s["gain_db"] = s["new_psnr_yuv"] - s["prev_psnr_yuv"]
        s["samples_ratio"] = s["new_samples_per_second"] / s["prev_samples_per_second"]
        out.append(s)
    return out


def main(argv: list[str] | None = None) -> int:
    p = base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--previous", required=True, help="the commit to compare with (any git revision)")
    p.add_argument("--new", default=None,
                   help="the commit to measure (any git revision; default: this working tree, which must "
                        "then stay unchanged while the benchmark runs)")
    p.add_argument("--clips", type=str_list, default=["basketballpass@360x240x47"],
                   help="clip names or paths; NAME@WxHxT for a centre crop")
    p.add_argument("--bpp", type=float_list, default=[0.3])
    p.add_argument("--time", type=float, default=240.0, help="--time of every encode (fitting seconds)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of (previous, new), order alternating")
    p.add_argument("--keep-work", action="store_true", help="keep the worktree, crops and files")
    a = p.parse_args(argv)
    meta = machine_description("cpu")
    work = a.out / "work"
    prev_commit = subprocess.run(["git", "rev-parse", "--short=12", a.previous], cwd=REPO_ROOT, check=True,
                                 capture_output=True, text=True).stdout.strip()
    trees = {"prev": commit_tree(prev_commit, work), "new": REPO_ROOT}
    commits = {"prev": prev_commit, "new": meta["commit"]}
    if a.new is not None:
        commits["new"] = subprocess.run(["git", "rev-parse", "--short=12", a.new], cwd=REPO_ROOT, check=True,
                                        capture_output=True, text=True).stdout.strip()
        trees["new"] = commit_tree(commits["new"], work)
    rows: list[dict[str, Any]] = []
    try:
        for ci, spec in enumerate(a.clips):
            src = resolve_clip(spec, a.clips_dir, work)
            for bpp in a.bpp:
                for rnd in range(a.rounds):
                    order = ("prev", "new") if (ci + rnd) % 2 == 0 else ("new", "prev")
                    for side in order:
                        say(f"{NAME}: {clip_label(src)} {bpp} bpp {a.time:g} s, round {rnd + 1}, {side}")
                        r = run_encode(trees[side], src, work, bpp, a.time, a.seed, a.threads)
                        rows.append({"clip": clip_label(src), "side": side, "commit": commits[side], "round": rnd + 1,
                                     "bpp_target": bpp, "time_s": a.time, **r})
                        say(f"  {r['psnr_yuv']:.3f} dB YUV, {r['bpp']:.4f} bpp, {r['fit_steps']} steps, "
                            f"{r['samples_per_second'] / 1e3:.0f} k samples/s, {r['passes']:.1f} passes")
                        write_csv(a.out / f"{NAME}.csv", rows, COLUMNS)
    finally:
        if not a.keep_work:
            for side in ("prev", "new") if a.new is not None else ("prev",):
                drop_tree(trees[side])
            remove_work(a.out)
    summary = summarise(rows)
    write_csv(a.out / f"{NAME}_summary.csv", summary, SUMMARY)
    write_meta(a.out, meta, {**vars(a), "previous_commit": prev_commit, "new_commit": commits["new"]})
    write_markdown(a.out / f"{NAME}.md", f"Encoder A/B: {prev_commit} (prev) vs {commits['new']} (new)", [
        f"Each encode `--bpp` x `--time {a.time:g}` on CPU, {a.rounds} round(s) per clip, order alternating; "
        "PSNR-YUV re-measured from the decoded file.",
        markdown_table(summary, SUMMARY, digits=3),
        markdown_table(rows, COLUMNS, digits=3)], meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
