"""Regenerate the conformance vectors (run on purpose only: it changes pinned hashes).

    python bitstream_spec/vectors/make_vectors.py

Writes tiny.nvc (a small real encode) and tiny.json: the SHA-256 of tiny.nvc, of its
decode to y4m at the stored size, and of a decode at --scale 2 --fps-mult 2, plus
the encoder settings. tests/bitstream/test_vectors.py checks them.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from nvcodec import __version__, api  # noqa: E402
from nvcodec.model.config import NVTMConfig  # noqa: E402
from nvcodec.video import create_writer, open_video, sample_clip_path  # noqa: E402
from nvcodec.video.frame import Frame  # noqa: E402

CROP = (96, 64)  # width, height, taken from the centre of the bundled clip
FRAMES = 3
SETTINGS = {"bpp": 1.5, "steps": 25, "seed": 7}


def make_input(path: Path) -> Path:
    """The vector's source: a centre crop of the bundled clip's first frames."""
    w, h = CROP
    with open_video(sample_clip_path()) as r:
        info = r.info
        x0, y0 = (info.width - w) // 4 * 2, (info.height - h) // 4 * 2
        out = info.replace(width=w, height=h, frames=FRAMES)
        with create_writer(path, out, overwrite=True) as wr:
            for i in range(FRAMES):
                y, u, v = r.read(i).planes
                wr.write(Frame((y[y0:y0 + h, x0:x0 + w].copy(), u[y0 // 2:(y0 + h) // 2, x0 // 2:(x0 + w) // 2].copy(),
                                v[y0 // 2:(y0 + h) // 2, x0 // 2:(x0 + w) // 2].copy())))
    return path


def encode_vector(src: Path, dst: Path) -> api.EncodeReport:
    # the paper's family (with the alignment flow): the vector exercises every part of section 11
    return api.encode(src, dst, api.EncodeOptions(bpp=SETTINGS["bpp"], steps=SETTINGS["steps"], seed=SETTINGS["seed"],
                                                  device="cpu", overwrite=True, progress=False,
                                                  model_template=NVTMConfig.paper()))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decode_hashes(nvc: Path, tmp: Path) -> dict[str, str]:
    plain, big = tmp / "plain.y4m", tmp / "big.y4m"
    api.decode(nvc, plain, api.DecodeOptions(device="cpu", overwrite=True, progress=False))
    api.decode(nvc, big, api.DecodeOptions(scale=2, fps_mult=2, device="cpu", overwrite=True, progress=False))
    return {"decode_sha256": sha256(plain), "decode_scale2_fps2_sha256": sha256(big)}


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        src = make_input(tmp / "src.y4m")
        nvc = HERE / "tiny.nvc"
        rep = encode_vector(src, nvc)
        meta = {"nvcodec": __version__, "source": f"centre {CROP[0]}x{CROP[1]} crop of the first {FRAMES} frames "
                "of nvcodec/video/data/cars_320x240_16f.y4m", "settings": SETTINGS,
                "nvc_sha256": sha256(nvc), "bytes": rep.bytes, "psnr_yuv": rep.psnr_yuv,
                **decode_hashes(nvc, tmp)}
    (HERE / "tiny.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
