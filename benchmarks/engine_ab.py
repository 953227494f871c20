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

import statistics
import sys
from pathlib import Path
from typing import Any

from .commit_encode import EncodeFailed, commit_tree, drop_tree, run_encode, short_commit
from .common import (REPO_ROOT, base_parser, clip_label, find_clips, float_list, machine_description,
                     markdown_table, remove_work, say, str_list, write_csv, write_markdown, write_meta)
from .rate_accuracy import crop_clip

NAME = "engine_ab"
COLUMNS = ("clip", "side", "commit", "round", "bpp_target", "time_s", "bpp", "psnr_yuv", "psnr_rgb",
           "psnr_float", "psnr_quantized", "fit_steps", "fit_seconds", "samples_per_second", "passes",
           "engine", "encode_seconds")
SUMMARY = ("clip", "bpp_target", "time_s", "runs", "prev_psnr_yuv", "new_psnr_yuv", "gain_db",
           "prev_samples_per_second", "new_samples_per_second", "samples_ratio", "prev_passes", "new_passes")

def resolve_clip(spec: str, clips_dir: Path, work: Path) -> Path:
    """A clip name or path, or NAME@WxHxT: its centre crop written to `work`."""
    name, _, crop = spec.partition("@")
    src = find_clips([name], clips_dir)[0]
    if not crop:
        return src
    w, h, t = (int(v) for v in crop.split("x"))
    work.mkdir(parents=True, exist_ok=True)
    return crop_clip(src, work / f"{src.stem}_{w}x{h}x{t}.y4m", w, h, t)


def encode_side(tree: Path, src: Path, work: Path, bpp: float, time_s: float, seed: int,
                threads: int | None) -> dict[str, Any]:
    """One side's encode of `src` (files named after the tree, in `work`)."""
    stem = f"{src.stem}_{tree.name}"
    try:
        return run_encode(tree, src, work / f"{stem}.nvc", work / f"{stem}.y4m", bpp, time_s, seed=seed,
                          threads=threads)
    except EncodeFailed as e:
        raise SystemExit(str(e)) from None


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
    prev_commit = short_commit(a.previous)
    trees = {"prev": commit_tree(prev_commit, work), "new": REPO_ROOT}
    commits = {"prev": prev_commit, "new": meta["commit"]}
    if a.new is not None:
        commits["new"] = short_commit(a.new)
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
                        r = encode_side(trees[side], src, work, bpp, a.time, a.seed, a.threads)
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
