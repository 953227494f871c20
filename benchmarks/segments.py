"""Segmented encodes: wall time for --workers 1 and 2 at equal --steps (A B A B), the bytes
identical for both, and each run's peak memory (its main process and its largest worker).

With `--ceiling`, each round also encodes with one worker and one torch thread: N workers with
a core each can at best do that work N times over in its time, so N x (1 worker's time) / (the
one-thread time) is the speed-up this machine allows, whatever the workers' overheads.

    python -m benchmarks.segments --clip foreman_cif --segment-frames 30 --steps 300 --rounds 2

Each encode runs in its own process (so its peak RSS is its own): the main process reads
the clip's geometry and joins the file, each worker process fits one segment at a time.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

from .common import (base_parser, clip_label, find_clips, finish, machine_description, markdown_table, say,
                     write_csv, write_markdown)

NAME = "segments"
COLUMNS = ("clip", "round", "workers", "threads", "segment_frames", "steps", "segments", "bytes", "sha256", "psnr_yuv",
           "wall_s", "peak_rss_main_mb", "peak_rss_worker_mb")

#: one encode in its own process: its report, and the peak RSS of itself and of its children
_RUN = r"""
import json, resource, sys, time
from nvcodec import api
a = json.loads(sys.argv[1])
t0 = time.perf_counter()
rep = api.encode(a["src"], a["dst"], api.EncodeOptions(bpp=a["bpp"], steps=a["steps"], seed=0, device="cpu",
                 overwrite=True, progress=False, segment_frames=a["segment_frames"], workers=a["workers"],
                 ray=a["ray"], threads=a["threads"]))
print("RESULT " + json.dumps({"wall_s": time.perf_counter() - t0, "bytes": rep.bytes, "psnr_yuv": rep.psnr_yuv,
      "segments": len(rep.segments), "main_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      "child_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_once(src: Path, dst: Path, bpp: float, steps: int, segment_frames: int | None, workers: int,
             ray: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """One encode in its own process (`ray`: through `--ray` instead of local workers; `threads`:
    torch threads, None for the encoder's default)."""
    args = {"src": str(src), "dst": str(dst), "bpp": bpp, "steps": steps, "segment_frames": segment_frames,
            "workers": workers, "ray": ray, "threads": threads}
    r = subprocess.run([sys.executable, "-c", _RUN, json.dumps(args)], capture_output=True, text=True, timeout=7200)
    if r.returncode != 0:
        raise SystemExit(f"encode with {workers} worker(s) failed: {r.stderr.strip()[-2000:]}")
    out = json.loads(next(ln for ln in r.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    return {"workers": f"ray {ray}" if ray else workers, "threads": threads or "default", "segment_frames": segment_frames, "steps": steps, "segments": out["segments"],
            "bytes": out["bytes"], "sha256": hashlib.sha256(dst.read_bytes()).hexdigest()[:16],
            "psnr_yuv": out["psnr_yuv"], "wall_s": out["wall_s"], "peak_rss_main_mb": out["main_kb"] / 1024,
            "peak_rss_worker_mb": out["child_kb"] / 1024 if workers > 1 or ray else None}


def ceiling_speedup(one_worker_s: float, one_thread_s: float, workers: int) -> float:
    """The most `workers` workers can gain over one: each does 1/workers of the one-thread work
    on its own core, at best in one_thread_s / workers."""
    return workers * one_worker_s / one_thread_s


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--clip", default="foreman_cif")
    p.add_argument("--bpp", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--segment-frames", type=int, default=30)
    p.add_argument("--workers", type=int, default=2, help="compared with one worker")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ceiling", action="store_true",
                   help="also encode with 1 worker and 1 thread: the speed-up the cores allow")
    p.add_argument("--ray", default=None, help="also encode once through --ray (e.g. auto): the same bytes?")
    a = p.parse_args(argv)
    src = find_clips([a.clip], a.clips_dir)[0]
    work = a.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    meta = machine_description("cpu")
    variants = [(1, None), (a.workers, None)] + ([(1, 1)] if a.ceiling else [])
    rows: list[dict[str, Any]] = []
    for rnd in range(a.rounds):
        for workers, threads in variants if rnd % 2 == 0 else variants[::-1]:
            dst = work / f"w{workers}_t{threads or 'default'}.nvc"
            row = {"clip": clip_label(src), "round": rnd + 1,
                   **run_once(src, dst, a.bpp, a.steps, a.segment_frames, workers, threads=threads)}
            say(f"{NAME}: round {rnd + 1}, {workers} worker(s), threads {row['threads']}: {row['wall_s']:.1f} s, "
                f"{row['bytes']} bytes")
            rows.append(row)
            write_csv(a.out / f"{NAME}.csv", rows, COLUMNS)
    if a.ray:
        rows.append({"clip": clip_label(src), "round": 1,
                     **run_once(src, work / "ray.nvc", a.bpp, a.steps, a.segment_frames, 1, ray=a.ray)})
        say(f"{NAME}: --ray {a.ray}: {rows[-1]['wall_s']:.1f} s, {rows[-1]['bytes']} bytes")
        write_csv(a.out / f"{NAME}.csv", rows, COLUMNS)
    median = {(w, t): statistics.median(r["wall_s"] for r in rows if r["workers"] == w and r["threads"] == (t or "default"))
              for w, t in variants}
    identical = len({r["sha256"] for r in rows}) == 1
    one, many = median[(1, None)], median[(a.workers, None)]
    summary = (f"median wall time: 1 worker {one:.1f} s, {a.workers} workers {many:.1f} s, "
               f"speed-up {one / many:.2f}x; files identical for every run"
               + (f" (--ray {a.ray} included)" if a.ray else "") + f": {identical}")
    if a.ceiling:
        summary += (f"; 1 worker with 1 thread {median[(1, 1)]:.1f} s, so {a.workers} workers can be at most "
                    f"{ceiling_speedup(one, median[(1, 1)], a.workers):.2f}x faster than 1 here")
    write_markdown(a.out / f"{NAME}.md", f"Segmented encodes of {clip_label(src)}", [
        f"`--bpp {a.bpp} --steps {a.steps} --segment-frames {a.segment_frames}`, {a.rounds} round(s). {summary}.",
        markdown_table(rows, COLUMNS[1:], digits=2)], meta)
    say(summary)
    return finish(a.out, meta, vars(a))


if __name__ == "__main__":
    sys.exit(main())
