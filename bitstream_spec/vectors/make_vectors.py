"""Regenerate the conformance vectors (run on purpose only: it changes pinned hashes, and
bitstream_spec/vectors/CHANGELOG.md must then say why).

    python bitstream_spec/vectors/make_vectors.py [NAME ...]     (default: every vector)

Each vector NAME (see VECTORS) is NAME.nvc (a small real encode of one model family) and
NAME.json: the SHA-256 of NAME.nvc, of its decode to y4m at the stored size and of a decode
at --scale 2 --fps-mult 2, plus the encoder settings; NAME.decode.y4m.xz and
NAME.decode_scale2_fps2.y4m.xz are those two decodes (the reference decoder's output on the
machine that made the vector: what another CPU's decode is compared with, spec 11.11).
legacy/ holds the vectors of versions 1.0 and 1.1 (LEGACY), which this writer no longer writes
and this script cannot remake. tests/bitstream/test_vectors.py checks them all.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from nvcodec import __version__, api  # noqa: E402
from nvcodec.model import presets  # noqa: E402
from nvcodec.model.config import NVTMConfig  # noqa: E402
from nvcodec.video import create_writer, open_video, sample_clip_path  # noqa: E402
from nvcodec.video.frame import Frame  # noqa: E402

CROP = (96, 64)  # width, height, taken from the centre of the bundled clip
FRAMES = 3
SETTINGS = {"bpp": 1.5, "steps": 25, "seed": 7}
#: vector name -> the model family it is encoded with. tiny: the paper's family (with the
#: alignment flow: every part of section 11); tiny_codec: the encoder's default family
#: (`model.presets.codec()`, alignment "none": what `nvcodec encode` writes)
VECTORS = {"tiny": "paper", "tiny_codec": "codec", "tiny_segments": "codec"}
#: vectors cut into segments (spec 10.8), name -> frames a segment; their family takes GOPs of
#: that many frames, so that the 3 frames make 3 segments (one model each)
SEGMENTED = {"tiny_segments": 1}
#: settings of a vector where they differ from SETTINGS: a one-frame segment needs more bits
#: per pixel than a whole clip for its model's fixed costs
SETTINGS_OF = {"tiny_segments": {**SETTINGS, "bpp": 4.0}}


#: vectors of earlier versions (name -> version), in legacy/: files the writer of their day made
#: (bitstream_spec/vectors/CHANGELOG.md), kept so that a reader of this version is held to
#: decoding them to the same samples
LEGACY_DIR = HERE / "legacy"
LEGACY = {"tiny": "1.0", "tiny_codec": "1.0", "tiny_segments": "1.1"}


def settings(name: str) -> dict:
    return SETTINGS_OF.get(name, SETTINGS)
#: decode name (the suffix of NAME.<decode>.y4m.xz and of the json key) -> DecodeOptions arguments
#: the in-between frames of the --fps-mult decode are the model's (spec 11.10): the vectors pin
#: the normative function, not the decoder's default motion-compensated rendering
DECODES = {"decode": {}, "decode_scale2_fps2": {"scale": 2, "fps_mult": 2, "inbetween": "model"}}


def family(name: str) -> NVTMConfig:
    config = presets.family(VECTORS[name])
    return config.replace(gop_size=SEGMENTED[name]) if name in SEGMENTED else config


def segment_frames(name: str) -> int:
    """The frames of each of the vector's segments (all of them when it is one segment)."""
    return SEGMENTED.get(name, FRAMES)


def make_input(path: Path) -> Path:
    """The vectors' source: a centre crop of the bundled clip's first frames."""
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


def encode_vector(src: Path, dst: Path, name: str = "tiny") -> api.EncodeReport:
    st = settings(name)
    return api.encode(src, dst, api.EncodeOptions(bpp=st["bpp"], steps=st["steps"], seed=st["seed"],
                                                  device="cpu", overwrite=True, progress=False,
                                                  model_template=family(name), segment_frames=SEGMENTED.get(name, 0)))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def decode_files(nvc: Path, tmp: Path) -> dict[str, Path]:
    """The reference decoder's outputs of DECODES, written under `tmp`."""
    out = {}
    for key, kw in DECODES.items():
        out[key] = tmp / f"{key}.y4m"
        api.decode(nvc, out[key], api.DecodeOptions(device="cpu", overwrite=True, progress=False, **kw))
    return out


def decode_hashes(nvc: Path, tmp: Path) -> dict[str, str]:
    return {f"{key}_sha256": sha256(p) for key, p in decode_files(nvc, tmp).items()}


def make(name: str, tmp: Path) -> dict:
    src = make_input(tmp / "src.y4m")
    nvc = HERE / f"{name}.nvc"
    rep = encode_vector(src, nvc, name)
    decoded = decode_files(nvc, tmp)
    for key, p in decoded.items():
        (HERE / f"{name}.{key}.y4m.xz").write_bytes(lzma.compress(p.read_bytes(), preset=9))
    meta = {"nvcodec": __version__, "source": f"centre {CROP[0]}x{CROP[1]} crop of the first {FRAMES} frames "
            "of nvcodec/video/data/cars_320x240_16f.y4m", "family": VECTORS[name], "settings": settings(name),
            **({"segment_frames": SEGMENTED[name]} if name in SEGMENTED else {}),
            "nvc_sha256": sha256(nvc), "bytes": rep.bytes, "psnr_yuv": rep.psnr_yuv,
            **{f"{key}_sha256": sha256(p) for key, p in decoded.items()}}
    (HERE / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(names: list[str]) -> None:
    for name in names or list(VECTORS):
        if name not in VECTORS:
            raise SystemExit(f"unknown vector {name!r} (known: {', '.join(VECTORS)})")
        with tempfile.TemporaryDirectory() as d:
            print(json.dumps({name: make(name, Path(d))}, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
