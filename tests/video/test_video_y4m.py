"""y4m reader/writer: real clips bit-exact, every header variant, and every refusal."""

from __future__ import annotations

import hashlib
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nvcodec.errors import InputError, OutputError
from nvcodec.video import Frame, VideoInfo, create_writer, open_video, probe, sample_clip_path
from nvcodec.video.y4m import Y4MReader, Y4MWriter

# frames per clip, from the table in shared/clips/SOURCES.md
CLIP_TABLE = {
    "carphone_qcif_60f.y4m": (176, 144, 60, Fraction(30000, 1001)),
    "cisco_vt2people_320x192_9f.y4m": (320, 192, 9, Fraction(12)),
    "foreman_cif_60f.y4m": (352, 288, 60, Fraction(30000, 1001)),
    "mobile_cif_30f.y4m": (352, 288, 30, Fraction(30000, 1001)),
    "basketballpass_416x240_50f.y4m": (416, 240, 50, Fraction(50)),
    "cars_320x240_30f.y4m": (320, 240, 30, Fraction(25)),
    "reds000_320x180_21f.y4m": (320, 180, 21, Fraction(24)),
    "city_cif_34f.y4m": (352, 288, 34, Fraction(30)),
    "bikes_640x272_30f.y4m": (640, 272, 30, Fraction(25)),
    "bbb_1280x720_30f.y4m": (1280, 720, 30, Fraction(25)),
}


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _planes(rng: np.random.Generator, w: int, h: int, chroma: str, depth: int) -> list[np.ndarray]:
    dtype = np.uint8 if depth == 8 else np.uint16
    shapes = [(h, w)]
    if chroma != "mono":
        cw = -(-w // 2) if chroma in ("420", "422") else w
        ch = -(-h // 2) if chroma == "420" else h
        shapes += [(ch, cw)] * 2
    return [rng.integers(0, 1 << depth, s).astype(dtype) for s in shapes]


# -- real clips ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CLIP_TABLE))
def test_clip_roundtrip_bit_exact(name: str, tmp_path: Path, shared_clip) -> None:
    src = shared_clip(name)
    out = tmp_path / name
    with open_video(src) as reader, create_writer(out, reader.info, overwrite=False) as writer:
        for frame in reader:
            writer.write(frame)
    assert out.stat().st_size == src.stat().st_size
    assert _sha(out) == _sha(src)


@pytest.mark.parametrize("name", sorted(CLIP_TABLE))
def test_probe_clip(name: str, shared_clip) -> None:
    src = shared_clip(name)
    w, h, n, fps = CLIP_TABLE[name]
    p = probe(src)
    assert (p["width"], p["height"], p["frames"]) == (w, h, n)
    assert Fraction(p["fps"]) == fps and p["fps_float"] == pytest.approx(float(fps))
    assert p["bytes"] == src.stat().st_size
    assert (p["chroma"], p["bit_depth"], p["color_range"], p["matrix"], p["format"]) == (
        "420", 8, "limited", "bt601" if w <= 1024 else "bt709", "y4m"
    )
    first = src.open("rb").readline().decode()
    assert p["chroma_siting"] == ("mpeg2" if "C420mpeg2" in first else "jpeg")


def test_clip_table_matches_sources_md(shared_clip) -> None:
    sources = shared_clip("SOURCES.md")
    rows = re.findall(r"^\| (\S+\.y4m) \|.*?\| (\d+)×(\d+) \| (\d+) \|", sources.read_text(), re.M)
    assert {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows} == {
        k: v[:3] for k, v in CLIP_TABLE.items()
    }


def test_sample_clip_is_first_16_frames_of_cars(shared_clip) -> None:
    sample = sample_clip_path()
    with open_video(sample) as r:
        assert (r.info.width, r.info.height, len(r), r.info.fps) == (320, 240, 16, Fraction(25))
        last = r.read(15)
    src = shared_clip("cars_320x240_30f.y4m")  # the sample was checked on its own above
    data = sample.read_bytes()
    assert src.read_bytes()[: len(data)] == data
    with open_video(src) as r:
        assert all(np.array_equal(a, b) for a, b in zip(r.read(15).planes, last.planes))


# -- header variants ---------------------------------------------------------------------
VARIANTS = [
    # (C token, width, height, chroma, siting, depth)
    ("C420jpeg", 16, 8, "420", "jpeg", 8),
    ("C420mpeg2", 16, 8, "420", "mpeg2", 8),
    ("C420paldv", 16, 8, "420", "paldv", 8),
    ("C422", 16, 8, "422", "", 8),
    ("C444", 16, 8, "444", "", 8),
    ("Cmono", 16, 8, "mono", "", 8),
    ("C420jpeg", 7, 5, "420", "jpeg", 8),
    ("C422", 7, 5, "422", "", 8),
    ("C420p10", 10, 6, "420", "jpeg", 10),
    ("C422p12", 9, 6, "422", "", 12),
    ("C444p16", 6, 4, "444", "", 16),
    ("Cmono10", 5, 3, "mono", "", 10),
]


@pytest.mark.parametrize("ctok,w,h,chroma,siting,depth", VARIANTS)
def test_header_variant_read_and_rewrite_exact(make_y4m, tmp_path, ctok, w, h, chroma, siting, depth) -> None:
    rng = np.random.default_rng(w * 100 + h + depth)
    frames = [_planes(rng, w, h, chroma, depth) for _ in range(3)]
    header = f"YUV4MPEG2 W{w} H{h} F30000:1001 Ip A128:117 {ctok} XYSCSS={ctok[1:].upper()}"
    if chroma == "mono":
        header = f"YUV4MPEG2 W{w} H{h} F30000:1001 Ip A128:117 {ctok}"
    src = make_y4m("in.y4m", header, frames)
    with Y4MReader(src) as r:
        info = r.info
        assert (info.width, info.height, info.frames, info.chroma, info.chroma_siting, info.bit_depth) == (
            w, h, 3, chroma, siting, depth
        )
        assert info.fps == Fraction(30000, 1001) and info.aspect == (128, 117)
        assert info.bytes == src.stat().st_size
        for got, want in zip(r, frames):
            assert len(got.planes) == len(want)
            for a, b in zip(got.planes, want):
                assert a.dtype == (np.uint8 if depth == 8 else np.uint16)
                np.testing.assert_array_equal(a, b)
    out = tmp_path / "out.y4m"
    with Y4MWriter(out, info) as wr:
        for f in frames:
            wr.write(Frame(tuple(f)))
    assert out.read_bytes() == src.read_bytes()


def test_c420_without_siting_is_jpeg_and_missing_tokens_default(make_y4m) -> None:
    rng = np.random.default_rng(1)
    frames = [_planes(rng, 4, 4, "420", 8)]
    for header in ("YUV4MPEG2 W4 H4 F25:1 C420", "YUV4MPEG2 W4 H4 F0:0", "YUV4MPEG2 W4 H4"):
        with Y4MReader(make_y4m("a.y4m", header, frames)) as r:
            assert (r.info.chroma, r.info.chroma_siting, r.info.fps, r.info.aspect) == ("420", "jpeg", Fraction(25), (0, 0))


def test_colorrange_full_and_unknown_x_tokens_kept(make_y4m, tmp_path) -> None:
    rng = np.random.default_rng(2)
    frames = [_planes(rng, 8, 4, "444", 8) for _ in range(2)]
    header = "YUV4MPEG2 W8 H4 F24:1 Ip A1:1 C444 XYSCSS=444 XCOLORRANGE=FULL XFOO=bar=baz XZ"
    src = make_y4m("full.y4m", header, frames)
    with open_video(src) as r:
        assert r.info.color_range == "full"
        assert r.info.extra == ("XYSCSS=444", "XCOLORRANGE=FULL", "XFOO=bar=baz", "XZ")
        info = r.info
        out = tmp_path / "o.y4m"
        with create_writer(out, info, overwrite=False) as w:
            for f in r:
                w.write(f)
    assert out.read_bytes() == src.read_bytes()
    # the writer keeps XCOLORRANGE consistent with the info, and adds it when needed
    out2 = tmp_path / "o2.y4m"
    with create_writer(out2, info.replace(color_range="limited"), overwrite=False) as w:
        w.write(Frame(tuple(frames[0])))
    assert out2.read_bytes().split(b"\n")[0].endswith(b"XCOLORRANGE=LIMITED XFOO=bar=baz XZ")
    out3 = tmp_path / "o3.y4m"
    with create_writer(out3, info.replace(extra=("XFOO=1",)), overwrite=False) as w:
        w.write(Frame(tuple(frames[0])))
    assert out3.read_bytes().split(b"\n")[0] == b"YUV4MPEG2 W8 H4 F24:1 Ip A1:1 C444 XFOO=1 XCOLORRANGE=FULL"
    with open_video(out3) as r:
        assert r.info.color_range == "full"


def test_frame_headers_with_parameters_are_scanned(make_y4m) -> None:
    rng = np.random.default_rng(3)
    frames = [_planes(rng, 6, 4, "420", 8) for _ in range(5)]
    fh = ["FRAME", "FRAME Ip", "FRAME Ixyz XFOO=1", "FRAME", "FRAME Ip"]
    src = make_y4m("params.y4m", "YUV4MPEG2 W6 H4 F25:1 C420jpeg", frames, fh)
    with open_video(src) as r:
        assert len(r) == 5 and r.info.frames == 5
        for i in (4, 0, 2, 3, 1, -1):
            got = r.read(i)
            for a, b in zip(got.planes, frames[i]):
                np.testing.assert_array_equal(a, b)


def test_ten_bit_little_endian_round_trip(make_y4m, tmp_path) -> None:
    y = np.array([[0, 1, 1023, 256]], dtype=np.uint16).repeat(2, axis=0)
    u = np.array([[512, 1000]], dtype=np.uint16)
    v = np.array([[3, 700]], dtype=np.uint16)
    src = make_y4m("ten.y4m", "YUV4MPEG2 W4 H2 F25:1 Ip A0:0 C420p10 XYSCSS=420P10", [[y, u, v]])
    raw = src.read_bytes()
    assert raw[raw.index(b"FRAME\n") + 6 :][:6] == bytes([0, 0, 1, 0, 0xFF, 0x03])  # LE on disk
    with open_video(src) as r:
        f = r.read(0)
        np.testing.assert_array_equal(f.y, y)
        assert int(f.planes[1][0, 1]) == 1000
        out = tmp_path / "ten_out.y4m"
        with create_writer(out, r.info, overwrite=False) as w:
            w.write(f)
    assert out.read_bytes() == raw


def test_random_access_iteration_and_bounds(make_y4m) -> None:
    rng = np.random.default_rng(4)
    frames = [_planes(rng, 8, 6, "420", 8) for _ in range(4)]
    src = make_y4m("ra.y4m", "YUV4MPEG2 W8 H6 F25:1 C420mpeg2", frames)
    with open_video(src) as r:
        seq = list(r)
        assert len(seq) == 4
        for i in (3, 1, 0, 2, -4):
            np.testing.assert_array_equal(r.read(i).y, frames[i][0])
        assert r.read(0).y.flags.writeable
        with pytest.raises(IndexError):
            r.read(4)
        with pytest.raises(IndexError):
            r.read(-5)
        assert len(r.read_all()) == 4


# -- refusals ------------------------------------------------------------------------------
def _expect_input_error(path: Path, *words: str) -> None:
    with pytest.raises(InputError) as ei:
        open_video(path)
    msg = str(ei.value)
    assert str(path) in msg and "\n" not in msg
    for w in words:
        assert w in msg.lower(), msg


@pytest.mark.parametrize("tok", ["It", "Ib", "Im"])
def test_interlaced_refused(make_y4m, tok) -> None:
    frames = [_planes(np.random.default_rng(0), 4, 4, "420", 8)]
    _expect_input_error(make_y4m("i.y4m", f"YUV4MPEG2 W4 H4 F25:1 {tok} C420jpeg", frames), "interlaced")


def test_bad_files_refused(tmp_path, make_y4m) -> None:
    frames = [_planes(np.random.default_rng(0), 4, 4, "420", 8) for _ in range(2)]
    good = make_y4m("good.y4m", "YUV4MPEG2 W4 H4 F25:1 C420jpeg", frames).read_bytes()
    cases = {
        "truncated.y4m": (good[:-5], "truncated"),
        "empty.y4m": (b"", "empty"),
        "garbage.y4m": (bytes(np.random.default_rng(5).integers(0, 256, 300, dtype=np.uint8)), "magic"),
        "badmagic.y4m": (b"YUV4MPEG3 W4 H4 F25:1\nFRAME\n" + bytes(24), "magic"),
        "noW.y4m": (b"YUV4MPEG2 H4 F25:1\nFRAME\n" + bytes(24), "lacks the w"),
        "noH.y4m": (b"YUV4MPEG2 W4 F25:1\nFRAME\n" + bytes(24), "lacks the h"),
        "zero.y4m": (b"YUV4MPEG2 W4 H4 F25:1 C420jpeg\n", "no frames"),
        "unterminated.y4m": (b"YUV4MPEG2 W4 H4 F25:1 C420jpeg", "not terminated"),
        "huge.y4m": (b"YUV4MPEG2 W20000 H4 F25:1\nFRAME\n", "too large"),
        "hugearea.y4m": (b"YUV4MPEG2 W16000 H16800 F25:1\nFRAME\n", "too large"),
        "zerow.y4m": (b"YUV4MPEG2 W0 H4 F25:1\nFRAME\n", "invalid frame size"),
        "badchroma.y4m": (b"YUV4MPEG2 W4 H4 C411\nFRAME\n" + bytes(32), "unsupported"),
        "badmarker.y4m": (good.replace(b"FRAME", b"FRXME", 2).replace(b"FRXME", b"FRAME", 1), "frame marker"),
        "extra_bytes.y4m": (good + b"junk", "frame marker"),
        "binary_header.y4m": (b"YUV4MPEG2 W4 H4 \xff\xfe\nFRAME\n" + bytes(24), "non-ascii"),
    }
    for name, (data, word) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        _expect_input_error(p, word)


# -- writer behaviour ------------------------------------------------------------------------
def test_writer_is_atomic_and_checks_frames(tmp_path) -> None:
    info = VideoInfo(4, 2, 1, Fraction(25), chroma="420")
    frame = Frame((np.zeros((2, 4), np.uint8), np.zeros((1, 2), np.uint8), np.zeros((1, 2), np.uint8)))
    out = tmp_path / "a.y4m"
    with pytest.raises(RuntimeError):
        with create_writer(out, info, overwrite=False) as w:
            w.write(frame)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with create_writer(out, info, overwrite=False) as w:
        with pytest.raises(OutputError):
            w.write(Frame((np.zeros((2, 4), np.uint8),)))
        with pytest.raises(OutputError):
            w.write(Frame((np.zeros((2, 4), np.uint8),) * 3))
        w.write(Frame(tuple(p.astype(np.int64) + 7 for p in frame.planes)))  # ints in range are fine
    assert out.read_bytes() == b"YUV4MPEG2 W4 H2 F25:1 Ip A0:0 C420mpeg2\nFRAME\n" + bytes([7] * 12)
    with pytest.raises(OutputError, match="exists"):
        create_writer(out, info, overwrite=False)
    with create_writer(out, info.replace(chroma_siting="jpeg"), overwrite=True) as w:
        w.write(frame)
    assert out.read_bytes().startswith(b"YUV4MPEG2 W4 H2 F25:1 Ip A0:0 C420jpeg\n")
    w = create_writer(tmp_path / "empty.y4m", info, overwrite=False)
    with pytest.raises(OutputError, match="no frames"):
        w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.y4m"]
    with pytest.raises(OutputError):
        with create_writer(tmp_path / "b.y4m", info.replace(bit_depth=10), overwrite=False) as w:
            w.write(Frame(tuple(np.full(p.shape, 1024, np.uint16) for p in frame.planes)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.y4m"]


@settings(max_examples=25, deadline=None)
@given(
    w=st.integers(1, 9),
    h=st.integers(1, 7),
    chroma=st.sampled_from(["420", "422", "444", "mono"]),
    depth=st.sampled_from([8, 10, 12, 16]),
    n=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_writer_reader_property(tmp_path_factory, w, h, chroma, depth, n, seed) -> None:
    rng = np.random.default_rng(seed)
    info = VideoInfo(w, h, n, Fraction(24000, 1001), chroma=chroma, bit_depth=depth, chroma_siting="jpeg" if chroma == "420" else "")
    frames = [_planes(rng, w, h, chroma, depth) for _ in range(n)]
    out = tmp_path_factory.mktemp("prop") / "p.y4m"
    with create_writer(out, info, overwrite=True) as wr:
        for f in frames:
            wr.write(Frame(tuple(f)))
    with open_video(out) as r:
        assert r.info.replace(bytes=0, matrix="bt601") == info
        for i in reversed(range(n)):
            for a, b in zip(r.read(i).planes, frames[i]):
                np.testing.assert_array_equal(a, b)


def test_a_long_pipe_spills_to_a_temporary_file_and_reads_back_in_any_order(sample_crop, tmp_path):
    import io

    from nvcodec.video import open_video
    from nvcodec.video.stream import StreamReader

    path = sample_crop(tmp_path / "c.y4m", 32, 16, 7)
    with open_video(path) as src:
        want = [src.read(i) for i in range(7)]
    one_frame = 32 * 16 * 3 // 2
    reader = StreamReader(io.BytesIO(path.read_bytes()), memory_bytes=2 * one_frame)
    assert len(reader) == reader.info.frames == 7 and len(reader._frames) == 2 and reader._spilled == 5
    for i in (6, 0, 3, 3, 1, -1, 5, 2, 4):
        assert all(np.array_equal(a, b) for a, b in zip(reader.read(i).planes, want[i].planes)), i
    assert [f.planes[0].sum() for f in reader] == [f.planes[0].sum() for f in want]
    with pytest.raises(IndexError):
        reader.read(7)
    spill = reader._spill
    reader.close()
    assert spill.closed and len(reader) == 0
    limited = StreamReader(io.BytesIO(path.read_bytes()), max_frames=3, memory_bytes=1)
    assert len(limited) == 3 and limited._spilled == 2
