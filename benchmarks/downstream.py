"""Downstream tasks of a coordinate network (paper Sec. 4.4), each against a simple baseline.

- super-resolution: encode a x0.5 (area) version, decode --scale 2, PSNR vs the original;
  baseline: bicubic upscaling of the x1 decode of the same file;
- frame interpolation: encode only the even frames, decode --fps-mult 2, PSNR of the odd
  frames vs the originals; baselines: the average of the two decoded neighbours, their
  motion-compensated interpolation (OpenCV DIS flow both ways, bidirectional warping), the
  model at the in-between time (--inbetween model), and a previous commit's decoder (--previous);
- inpainting: encode with --mask-boxes (masked pixels left out of fitting), PSNR inside the
  masks; baseline: temporal-median fill from the unmasked pixels of the source;
- decode speed: frames/s of decoding the default (--bpp 0.1) CIF file at its own size.
PSNRs are RGB (peak 1) on the pixels named, except interpolation's: Y, as the issue asks.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from nvcodec import api
from nvcodec.masks import random_boxes
from nvcodec.metrics.psnr import rgb_psnr
from nvcodec.video import create_writer, open_video
from nvcodec.video.color import rgb_to_yuv, yuv_to_rgb

from .common import (apply_threads, base_parser, find_clips, load_clip, machine_description, markdown_table, say,
                     write_csv, write_markdown, write_meta)

COLUMNS = ["task", "clip", "nvcodec_psnr", "baseline", "baseline_psnr", "gain_db", "bpp", "detail"]


def write_rgb_clip(path: Path, info, rgb: np.ndarray) -> Path:
    out = info.replace(width=rgb.shape[2], height=rgb.shape[1], frames=len(rgb))
    with create_writer(path, out, overwrite=True) as w:
        for f in rgb:
            w.write(rgb_to_yuv(f, out))
    return path


def read_rgb_clip(path: Path) -> np.ndarray:
    with open_video(path) as r:
        return np.stack([yuv_to_rgb(r.read(i), r.info) for i in range(len(r))])


def encode(src: Path, dst: Path, a, **extra) -> api.EncodeReport:
    budget = {"steps": a.steps} if a.steps else {"time_budget": a.time}
    return api.encode(src, dst, api.EncodeOptions(bpp=a.bpp, device=a.device, seed=a.seed, overwrite=True,
                                                  progress=False, fit_overrides=json.loads(a.fit), **budget, **extra))


def decode(src: Path, dst: Path, a, **extra) -> api.DecodeReport:
    return api.decode(src, dst, api.DecodeOptions(device=a.device, overwrite=True, progress=False, **extra))


def super_resolution(clip: Path, work: Path, a) -> dict:
    info, _, rgb = load_clip(clip)
    w2, h2 = info.width // 4 * 2, info.height // 4 * 2
    small = np.stack([cv2.resize(f, (w2, h2), interpolation=cv2.INTER_AREA) for f in rgb])
    src = write_rgb_clip(work / "sr_half.y4m", info, small)
    rep = encode(src, work / "sr.nvc", a)
    big = read_rgb_clip(decode(work / "sr.nvc", work / "sr_x2.y4m", a, size=(info.width, info.height)).output)
    one = read_rgb_clip(decode(work / "sr.nvc", work / "sr_x1.y4m", a).output)
    bicubic = np.stack([np.clip(cv2.resize(f, (info.width, info.height), interpolation=cv2.INTER_CUBIC), 0, 1)
                        for f in one])
    n, b = rgb_psnr(big, rgb), rgb_psnr(bicubic, rgb)
    return {"task": "super-resolution x2", "clip": clip.stem, "nvcodec_psnr": n, "baseline": "bicubic of x1 decode",
            "baseline_psnr": b, "gain_db": n - b, "bpp": rep.bpp,
            "detail": f"encoded {w2}x{h2}, decoded {info.width}x{info.height}"}


def y_psnr(frames: list[np.ndarray], truth: list, info) -> float:
    """Y-PSNR (clip value: of the mean MSE) of float RGB frames written in the source's YUV
    format, against the source's own Y planes."""
    from nvcodec.metrics.psnr import mse, peak_for_bit_depth, psnr_from_mse

    peak = peak_for_bit_depth(info.bit_depth)
    return psnr_from_mse(float(np.mean([mse(rgb_to_yuv(f, info).planes[0].astype(np.float64),
                                            t.planes[0].astype(np.float64)) for f, t in zip(frames, truth)])), peak)


def interpolation(clip: Path, work: Path, a) -> list[dict]:
    """One row per baseline of the in-between frames `decode --fps-mult 2` writes: the average
    of the decoded neighbours, their motion-compensated interpolation (DIS flow both ways,
    baselines.mc_interpolation: what a player could do with the decoded frames alone), the
    model evaluated at t + 1/2 (`--inbetween model`), and with `--previous` that commit's
    decoder on the same file. PSNRs are Y (of the skipped frames, as a decoder writes them);
    the detail gives the coded frames' own Y-PSNR (what learning the in-between times may cost)."""
    from .baselines.mc_interpolation import interpolate

    info, yuv, rgb = load_clip(clip)
    even = rgb[0::2]
    src = write_rgb_clip(work / "fi_even.y4m", info.replace(fps=info.fps / 2), even)
    rep = encode(src, work / "fi.nvc", a)
    doubled = read_rgb_clip(decode(work / "fi.nvc", work / "fi_x2.y4m", a, fps_mult=2).output)
    one = read_rgb_clip(decode(work / "fi.nvc", work / "fi_x1.y4m", a).output)
    odd = [j for j in range(1, 2 * len(even) - 2, 2) if j < len(rgb)]  # interior odd frames only
    truth = [yuv[j] for j in odd]
    n = y_psnr([doubled[j] for j in odd], truth, info)
    coded = y_psnr(list(one), yuv[0::2], info)
    model = read_rgb_clip(decode(work / "fi.nvc", work / "fi_model.y4m", a, fps_mult=2, inbetween="model").output)
    baselines = {
        "average of decoded neighbours": [(one[(j - 1) // 2] + one[(j + 1) // 2]) / 2 for j in odd],
        "motion-compensated (DIS) of decoded neighbours": [interpolate(one[(j - 1) // 2], one[(j + 1) // 2])
                                                           for j in odd],
        "the model at t + 1/2 (--inbetween model)": [model[j] for j in odd],
    }
    if a.previous:
        prev = previous_decode(a.previous, work / "fi.nvc", work / "fi_prev.y4m", fps_mult=2)
        baselines[f"decoder of {a.previous}"] = [prev[j] for j in odd]
    detail = (f"Y-PSNR; {len(even)} even frames encoded (their Y-PSNR {coded:.2f} dB), "
              f"{len(odd)} odd frames evaluated")
    in_between_picture(work / f"interp_{clip.stem}.png", [rgb[j] for j in odd], {
        "blend": baselines["average of decoded neighbours"], "model": baselines["the model at t + 1/2 (--inbetween model)"],
        "nvcodec": [doubled[j] for j in odd]})
    rows = []
    for name, frames in baselines.items():
        b = y_psnr(frames, truth, info)
        rows.append({"task": "frame interpolation x2", "clip": clip.stem, "nvcodec_psnr": n, "baseline": name,
                     "baseline_psnr": b, "gain_db": n - b, "bpp": rep.bpp, "detail": detail})
    return rows


def in_between_picture(path: Path, source: list[np.ndarray], made: dict[str, list[np.ndarray]]) -> Path:
    """Crops of one in-between frame side by side: source | each of `made` (left to right). The
    frame is the one where blending errs most, the crop (half the width and height) centred on
    its worst region."""
    errors = [float(np.mean((b - s) ** 2)) for b, s in zip(made["blend"], source)]
    i = int(np.argmax(errors))
    h, w = source[i].shape[:2]
    ch, cw = h // 2, w // 2
    err = cv2.blur(np.abs(made["blend"][i] - source[i]).mean(-1).astype(np.float32), (cw // 2 + 1, ch // 2 + 1))
    y, x = np.unravel_index(int(np.argmax(err)), err.shape)
    y0, x0 = min(max(0, y - ch // 2), h - ch), min(max(0, x - cw // 2), w - cw)
    crops = [f[i][y0:y0 + ch, x0:x0 + cw] for f in [source, *made.values()]]
    gap = np.ones((ch, 4, 3), np.float32)
    strip = np.concatenate([c for crop in crops for c in (crop, gap)][:-1], axis=1)
    cv2.imwrite(str(path), cv2.cvtColor(np.clip(np.rint(strip * 255), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    return path


def previous_decode(rev: str, nvc: Path, out: Path, **options) -> np.ndarray:
    """`nvc` decoded by the decoder of commit `rev` (a git worktree beside `out`, removed after)."""
    from .commit_encode import commit_tree, drop_tree, run_decode, short_commit

    trees = out.parent / "trees"
    tree = commit_tree(short_commit(rev), trees)
    try:
        run_decode(tree, nvc, out, **options)
    finally:
        drop_tree(tree)
        trees.rmdir()
    return read_rgb_clip(out)


def inpainting(clip: Path, work: Path, a) -> dict:
    info, _, rgb = load_clip(clip)
    size = max(8, round(100 * info.width / 1920 * 2))  # the paper's 100 px boxes at HD, twice as large here
    boxes = (10, size)
    mask = random_boxes(info.frames, info.height, info.width, boxes[0], boxes[1], a.seed)
    rep = encode(clip, work / "ip.nvc", a, mask_boxes=boxes)
    out = read_rgb_clip(decode(work / "ip.nvc", work / "ip.y4m", a).output)
    known = np.where(mask[..., None], np.nan, rgb)
    median = np.nanmedian(known, axis=0)  # per pixel over the frames where it is known
    fill = np.where(np.isnan(median), np.nanmean(known), median)
    n = rgb_psnr(out[mask], rgb[mask])
    b = rgb_psnr(np.broadcast_to(fill, rgb.shape)[mask], rgb[mask])
    return {"task": "inpainting", "clip": clip.stem, "nvcodec_psnr": n, "baseline": "temporal median fill",
            "baseline_psnr": b, "gain_db": n - b, "bpp": rep.bpp,
            "detail": f"{boxes[0]} boxes of {size}x{size} per frame, {mask.mean():.1%} of pixels masked"}


def decode_speed(clip: Path, work: Path, a) -> dict:
    budget = {"steps": a.steps} if a.steps else {"time_budget": a.time}
    rep = api.encode(clip, work / "speed.nvc", api.EncodeOptions(bpp=a.speed_bpp, device=a.device, seed=a.seed,
                                                                 overwrite=True, progress=False, **budget))
    d = decode(work / "speed.nvc", work / "speed.y4m", a)
    return {"task": "decode speed (frames/s)", "clip": clip.stem, "nvcodec_psnr": rep.psnr_rgb, "baseline": "",
            "baseline_psnr": None, "gain_db": None, "bpp": rep.bpp,
            "detail": f"{d.frames} frames {d.width}x{d.height} in {d.decode_seconds:.2f} s = "
                      f"{d.frames_per_second:.1f} frames/s on {d.device} (write included); model "
                      f"width {rep.model['base_width']}"}


TASKS = {"sr": super_resolution, "interp": interpolation, "inpaint": inpainting, "speed": decode_speed}


def main(argv: list[str] | None = None) -> None:
    p = base_parser("downstream", __doc__.split("\n\n")[0])
    p.add_argument("--clip", default="foreman_cif", help="clip name in --clips-dir, or a path")
    p.add_argument("--tasks", default="sr,interp,inpaint,speed")
    p.add_argument("--bpp", type=float, default=0.3, help="bpp of the task encodes")
    p.add_argument("--time", type=float, default=60.0, help="fitting seconds per encode")
    p.add_argument("--steps", type=int, default=None, help="fitting steps per encode (over --time)")
    p.add_argument("--fit", default="{}", help='FitOptions fields over the encoder\'s, as JSON ({"inbetween_weight": 1})')
    p.add_argument("--previous", default=None,
                   help="interpolation: also decode the file with this commit's decoder (a git worktree)")
    p.add_argument("--speed-bpp", type=float, default=0.1, help="bpp of the decode-speed file (the default config)")
    a = p.parse_args(argv)
    apply_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    clip = find_clips([a.clip], a.clips_dir)[0]
    meta = machine_description(a.device)
    rows = []
    for name in a.tasks.split(","):
        say(f"downstream: {name} on {clip.name}")
        got = TASKS[name](clip, a.out, a)
        rows.extend(got if isinstance(got, list) else [got])
        write_csv(a.out / "downstream.csv", rows, COLUMNS)
    write_meta(a.out, meta, vars(a))
    write_markdown(a.out / "downstream.md", "Downstream tasks", [
        f"Clip `{clip.name}`, encodes at {a.bpp} bpp with {a.time:g} s of fitting each (decode speed: {a.speed_bpp} bpp).",
        markdown_table(rows, COLUMNS, digits=2)], meta)
    for f in list(a.out.glob("*.y4m")) + list(a.out.glob("*.nvc")):
        f.unlink()


if __name__ == "__main__":
    main()
