"""Long videos: peak memory against clip length, random access by segment, and the seams.

    python -m benchmarks.long_video --source bbb_1280x720_30f --lengths 30,300 --steps 200 \
        --seam-clips foreman_cif,basketballpass --seam-segment-frames 20

The long clip is built from a shared clip played forwards and backwards (frames 0..29, 28..1,
0..29, ...) to the length asked for, written as y4m into the work folder: real content at
the real size, with motion that reverses at every turn, so no segment is a copy of another.

1. **Memory**: the long clip's first N frames for each of `--lengths`, encoded with the same
   settings (`--bpp`, `--steps`, the default segments), each in its own process; its peak RSS
   (the process and its children) and wall time.
2. **Random access**: decoding `--access-frames` frames from the middle of the longest file
   (`--frames A:B`) against decoding all of it, A B A B, with the frames checked identical.
3. **Seams**: Y-PSNR of the frames on each side of every segment boundary against the clip's
   mean, from the decoded file, for the long clip and for `--seam-clips` encoded at the
   default preset (whose default would keep them one segment) with `--seam-segment-frames`.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .common import (base_parser, clip_label, find_clips, finish, machine_description, markdown_table, say,
                     write_csv, write_markdown)
from .segments import run_once

NAME = "long_video"
MEMORY_COLUMNS = ("frames", "segments", "bytes", "psnr_yuv", "wall_s", "peak_rss_mb", "estimate_mb")
ACCESS_COLUMNS = ("round", "decode", "frames", "seconds")
SEAM_COLUMNS = ("clip", "settings", "segments", "mean_psnr_y", "worst_boundary_psnr_y", "worst_boundary_frame",
                "worst_gap_db", "boundary_frames")


def build_long_clip(source: Path, frames: int, dst: Path) -> Path:
    """`frames` frames of `source` played forwards, backwards, forwards ... as y4m at `dst`."""
    from nvcodec.video import create_writer, open_video

    with open_video(source) as reader:
        n, info = len(reader), reader.info
        order = [ping_pong(k, n) for k in range(frames)]
        with create_writer(dst, info.replace(frames=frames), overwrite=True) as writer:
            for k in order:
                writer.write(reader.read(k))
    return dst


def ping_pong(k: int, n: int) -> int:
    """Frame k of a clip of n frames played forwards and backwards: 0 .. n-1, n-2 .. 1, 0 .. n-1, ..."""
    if n < 2:
        return 0
    m = k % (2 * (n - 1))
    return m if m < n else 2 * (n - 1) - m


def estimate_mb(src: Path, bpp: float, segment_frames: int | None) -> float:
    """nvcodec.memory's estimate of the encode's peak (what the encoder checks before starting)."""
    from nvcodec import api
    from nvcodec.model.presets import codec
    from nvcodec.segment import estimated_peak, plan_segments
    from nvcodec.video import open_video

    with open_video(src) as reader:
        info = reader.info
    frames = max(n for _, n in plan_segments(info.frames, info.width, info.height, codec().gop_size, segment_frames))
    return estimated_peak(info, frames, api.EncodeOptions(bpp=bpp)) / 2**20


def _decode(nvc: Path, dst: Path, frames: str | None) -> float:
    """Wall time of one `nvcodec decode` in its own process (start-up included)."""
    cmd = [sys.executable, "-m", "nvcodec", "decode", str(nvc), "-o", str(dst), "-y", "-q"]
    t0 = time.perf_counter()
    subprocess.run(cmd + (["--frames", frames] if frames else []), check=True, timeout=7200)
    return time.perf_counter() - t0


def random_access(nvc: Path, total: int, count: int, work: Path, rounds: int) -> tuple[list[dict], str]:
    a = total // 2 - count // 2
    span = f"{a}:{a + count}"
    rows = []
    for rnd in range(rounds):
        for kind in ("full", "middle") if rnd % 2 == 0 else ("middle", "full"):
            dst = work / f"{kind}.y4m"
            seconds = _decode(nvc, dst, span if kind == "middle" else None)
            rows.append({"round": rnd + 1, "decode": kind if kind == "full" else f"--frames {span}",
                         "frames": total if kind == "full" else count, "seconds": seconds})
            say(f"{NAME}: decode {kind}: {seconds:.1f} s")
    from nvcodec.video import open_video

    with open_video(work / "full.y4m") as full, open_video(work / "middle.y4m") as middle:
        same = all(np.array_equal(p, q) for i in range(count)
                   for p, q in zip(full.read(a + i).planes, middle.read(i).planes))
    full_s = statistics.median(r["seconds"] for r in rows if r["frames"] == total)
    part_s = statistics.median(r["seconds"] for r in rows if r["frames"] == count)
    return rows, (f"decoding frames {span} took {part_s:.1f} s against {full_s:.1f} s for all {total} "
                  f"(median of {rounds}; {part_s / full_s:.3f} of the full decode); the frames are identical "
                  f"to the full decode's: {same}")


def seams(src: Path, nvc: Path, decoded: Path, settings: str) -> dict[str, Any]:
    """Y-PSNR of the frames either side of each segment boundary against the clip mean."""
    from nvcodec import api
    from nvcodec.bitstream.reader import read_container_file

    segments = read_container_file(nvc).segments
    ev = api.evaluate(src, decoded, metrics=["psnr"])
    per = [f["psnr_y"] for f in ev["per_frame"]]
    edges = sorted({i for s in segments[1:] for i in (s.first_frame - 1, s.first_frame)})
    worst = min(edges, key=lambda i: per[i]) if edges else None
    mean = float(np.mean(per))
    return {"clip": clip_label(src), "settings": settings, "segments": len(segments), "mean_psnr_y": mean,
            "worst_boundary_psnr_y": None if worst is None else per[worst], "worst_boundary_frame": worst,
            "worst_gap_db": None if worst is None else mean - per[worst],
            "boundary_frames": " ".join(f"{i}:{per[i]:.2f}" for i in edges)}


def _encode_default(src: Path, dst: Path, segment_frames: int, bpp: float | None) -> None:
    subprocess.run([sys.executable, "-m", "nvcodec", "encode", str(src), "-o", str(dst), "-y", "-q",
                    "--segment-frames", str(segment_frames)] + ([] if bpp is None else ["--bpp", str(bpp)]),
                   check=True, timeout=7200)


def main(argv: Sequence[str] | None = None) -> int:
    p = base_parser(NAME, __doc__.split("\n\n")[0])
    p.add_argument("--source", default="bbb_1280x720_30f")
    p.add_argument("--lengths", default="30,300", help="frame counts of the long clip to encode")
    p.add_argument("--bpp", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=200, help="fitting steps a segment (the same for every length)")
    p.add_argument("--segment-frames", type=int, default=None, help="the long clip's segments (default: the encoder's)")
    p.add_argument("--access-frames", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--seam-clips", default="foreman_cif,basketballpass")
    p.add_argument("--seam-segment-frames", type=int, default=20)
    p.add_argument("--seam-bpp", type=float, default=None, help="default: the encoder's")
    a = p.parse_args(argv)
    work = a.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    meta = machine_description("cpu")
    source = find_clips([a.source], a.clips_dir)[0]
    lengths = [int(x) for x in a.lengths.split(",")]
    long_clip = build_long_clip(source, max(lengths), work / f"long_{max(lengths)}.y4m")
    memory_rows = []
    for n in lengths:
        clip = long_clip if n == max(lengths) else build_long_clip(source, n, work / f"long_{n}.y4m")
        r = run_once(clip, work / f"long_{n}.nvc", a.bpp, a.steps, a.segment_frames, 1)
        memory_rows.append({"frames": n, **r, "peak_rss_mb": r["peak_rss_main_mb"],
                            "estimate_mb": estimate_mb(clip, a.bpp, a.segment_frames)})
        say(f"{NAME}: {n} frames: peak RSS {r['peak_rss_main_mb']:.0f} MB, {r['wall_s']:.0f} s")
        write_csv(a.out / f"{NAME}_memory.csv", memory_rows, MEMORY_COLUMNS)
    longest = work / f"long_{max(lengths)}.nvc"
    access_rows, access = random_access(longest, max(lengths), a.access_frames, work, a.rounds)
    write_csv(a.out / f"{NAME}_access.csv", access_rows, ACCESS_COLUMNS)
    seam_rows = [seams(long_clip, longest, work / "full.y4m", f"--bpp {a.bpp} --steps {a.steps}, "
                         + ("default segments" if a.segment_frames is None else f"--segment-frames {a.segment_frames}"))]
    for clip in find_clips([c for c in a.seam_clips.split(",") if c], a.clips_dir):
        nvc = work / f"{clip_label(clip)}.nvc"
        _encode_default(clip, nvc, a.seam_segment_frames, a.seam_bpp)
        _decode(nvc, work / "seam.y4m", None)
        seam_rows.append(seams(clip, nvc, work / "seam.y4m", f"defaults, --segment-frames {a.seam_segment_frames}"))
        say(f"{NAME}: seams of {clip_label(clip)}: {seam_rows[-1]['segments']} segments, worst boundary frame "
            f"{seam_rows[-1]['worst_gap_db']} dB below the mean")
    write_csv(a.out / f"{NAME}_seams.csv", seam_rows, SEAM_COLUMNS)
    write_markdown(a.out / f"{NAME}.md", f"Long videos: {clip_label(source)} played to {max(lengths)} frames", [
        f"Memory: `--bpp {a.bpp} --steps {a.steps}`"
        + (f" `--segment-frames {a.segment_frames}`" if a.segment_frames else ", default segments")
        + ", one worker, each encode in its own process; the estimate is nvcodec.memory's (the encoder's check).",
        markdown_table(memory_rows, MEMORY_COLUMNS, digits=2),
        f"Random access: {access}.", markdown_table(access_rows, ACCESS_COLUMNS, digits=2),
        "Seams: Y-PSNR of the frames either side of every segment boundary (frame:dB) against the clip's mean.",
        markdown_table(seam_rows, SEAM_COLUMNS, digits=2)], meta)
    say(access)
    return finish(a.out, meta, {**vars(a), "memory": memory_rows})


if __name__ == "__main__":
    sys.exit(main())
