"""Is the file real? Target vs actual bpp, and the encoder's PSNR vs the decoded file's.

For each bpp point: `nvcodec encode` (library call) with a fixed --time, then an
independent `decode` of the written file and `eval` against the source. Reports
whether the size lands within +-3 % of the target (never above +3 %) and the gap
between the encoder's psnr_yuv and the decoded file's (must be < 0.05 dB).

The default clip is 360x240x47 cut from basketballpass_416x240_50f (centre crop, first
47 frames): the size the rate-control issue names.
"""

from __future__ import annotations

from pathlib import Path

from nvcodec import api
from nvcodec.video import create_writer, open_video
from nvcodec.video.frame import Frame

from .common import (apply_threads, base_parser, find_clips, float_list, machine_description, markdown_table, say,
                     write_csv, write_markdown, write_meta)

COLUMNS = ["clip", "target_bpp", "bpp", "bytes", "within_3pct", "latent_qp", "static_qp", "psnr_yuv_encoder",
           "psnr_yuv_decoded", "psnr_gap_db", "psnr_rgb_encoder", "psnr_rgb_decoded", "psnr_unquantized",
           "encode_seconds", "decode_seconds", "grids_bytes", "weights_bytes", "header_bytes", "other_bytes"]


def crop_clip(src: Path, dst: Path, width: int, height: int, frames: int) -> Path:
    """Centre crop (even offsets, 4:2:0) of the first `frames` frames."""
    with open_video(src) as r:
        info = r.info
        if info.chroma != "420":
            raise SystemExit(f"{src}: crop_clip handles 4:2:0 only")
        x0, y0 = (info.width - width) // 4 * 2, (info.height - height) // 4 * 2
        out = info.replace(width=width, height=height, frames=min(frames, info.frames))
        with create_writer(dst, out, overwrite=True) as w:
            for i in range(out.frames):
                y, u, v = r.read(i).planes
                cy, cx = slice(y0 // 2, (y0 + height) // 2), slice(x0 // 2, (x0 + width) // 2)
                w.write(Frame((y[y0:y0 + height, x0:x0 + width].copy(), u[cy, cx].copy(), v[cy, cx].copy())))
    return dst


def run_point(src: Path, work: Path, bpp: float, time_budget: float | None, steps: int | None, device: str,
              seed: int) -> dict:
    nvc = work / f"{src.stem}_{bpp:g}.nvc"
    dec = work / f"{src.stem}_{bpp:g}.y4m"
    rep = api.encode(src, nvc, api.EncodeOptions(bpp=bpp, time_budget=time_budget, steps=steps, device=device,
                                                  seed=seed, overwrite=True, progress=False))
    drep = api.decode(nvc, dec, api.DecodeOptions(device=device, overwrite=True, progress=False))
    ev = api.evaluate(src, dec, device="cpu")
    size = nvc.stat().st_size
    return {
        "clip": src.stem, "target_bpp": bpp, "bpp": rep.bpp, "bytes": size,
        "within_3pct": 0.97 * bpp <= rep.bpp <= 1.03 * bpp,
        "latent_qp": rep.rate.get("latent_qp"), "static_qp": rep.rate.get("static_qp"),
        "psnr_yuv_encoder": rep.psnr_yuv, "psnr_yuv_decoded": ev["psnr_yuv"],
        "psnr_gap_db": abs(rep.psnr_yuv - ev["psnr_yuv"]),
        "psnr_rgb_encoder": rep.psnr_rgb, "psnr_rgb_decoded": ev["psnr_rgb"], "psnr_unquantized": rep.psnr_stages["float"],
        "encode_seconds": rep.encode_seconds, "decode_seconds": drep.decode_seconds,
        **{f"{k}_bytes": v for k, v in rep.byte_split.items()},
    }


def main(argv: list[str] | None = None) -> None:
    p = base_parser("rate_accuracy", __doc__.split("\n\n")[0])
    p.add_argument("--clip", default="basketballpass", help="source clip (name in --clips-dir, or a path)")
    p.add_argument("--crop", default="360x240x47", help="WxHxT centre crop of the source ('none' to keep it)")
    p.add_argument("--bpp", type=float_list, default=[0.05, 0.1, 0.3])
    p.add_argument("--time", type=float, default=120.0, help="fitting seconds per point")
    p.add_argument("--steps", type=int, default=None, help="fitting steps per point (instead of --time)")
    a = p.parse_args(argv)
    apply_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    src = find_clips([a.clip], a.clips_dir)[0]
    if a.crop != "none":
        w, h, t = (int(v) for v in a.crop.split("x"))
        src = crop_clip(src, a.out / f"{src.stem}_{w}x{h}x{t}.y4m", w, h, t)
    meta = machine_description(a.device)
    rows = []
    for bpp in a.bpp:
        say(f"rate_accuracy: {src.name} at {bpp} bpp")
        rows.append(run_point(src, a.out, bpp, None if a.steps else a.time, a.steps, a.device, a.seed))
        write_csv(a.out / "rate_accuracy.csv", rows, COLUMNS)
    write_meta(a.out, meta, vars(a))
    write_markdown(a.out / "rate_accuracy.md", "Rate accuracy and honest PSNR", [
        f"Source `{src.name}`, fitting {'%d steps' % a.steps if a.steps else '%g s' % a.time} per point.",
        markdown_table(rows, COLUMNS[:13], digits=4)], meta)
    for f in a.out.glob("*.y4m"):
        f.unlink()


if __name__ == "__main__":
    main()
