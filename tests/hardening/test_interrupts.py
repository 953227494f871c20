"""Ctrl-C while encoding: a checkpoint, one line with the exact --resume command, exit 130;
running that command finishes the job, and the result is the very file an uninterrupted
run writes (the fit loop's resume is bit-exact on CPU)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys

import pytest
import torch

from hardening_util import CLI_ENV, SMALL_BPP, popen_cli, tiny_fit, wait_for
from nvcodec import api
from nvcodec.bitstream import read_container
from nvcodec.compress import model_codec
from nvcodec.errors import Interrupted

STEPS = 24


@pytest.fixture(scope="module")
def interrupted_then_resumed(small_clip, tmp_path_factory):
    """`nvcodec encode` interrupted by SIGINT after its first step, then the printed command run."""
    out_dir = tmp_path_factory.mktemp("sigint out")  # a space in the path: the command must be quoted
    out = out_dir / "o.nvc"
    proc = popen_cli("encode", small_clip, "-o", out, "--bpp", SMALL_BPP, "--steps", str(STEPS),
                      "--device", "cpu")
    wait_for(proc, rf"\b[1-9]\d*/{STEPS}\b")  # a progress line: the fit loop is running
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    first = {"returncode": proc.returncode, "stderr": err.decode(), "files": sorted(p.name for p in out_dir.iterdir())}
    last_line = re.split(r"[\r\n]", first["stderr"].strip())[-1]
    m = re.search(r"resume with: (.*)$", last_line)
    resumed = None
    if proc.returncode == 130 and m:
        argv = shlex.split(m.group(1))
        assert argv[:2] == ["nvcodec", "encode"], argv
        resumed = subprocess.run([sys.executable, "-m", "nvcodec", *argv[1:]], capture_output=True, text=True,
                                 timeout=300, env=CLI_ENV)
    return {"first": first, "last_line": last_line, "command": m.group(1) if m else None, "resumed": resumed,
            "out": out, "out_dir": out_dir}


@pytest.fixture(scope="module")
def uninterrupted(small_clip, tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("plain") / "o.nvc"
    api.encode(small_clip, out, api.EncodeOptions(bpp=float(SMALL_BPP), steps=STEPS, progress=False, device="cpu"))
    return out.read_bytes()


def test_sigint_saves_a_checkpoint_and_prints_the_resume_command(interrupted_then_resumed, small_clip):
    r = interrupted_then_resumed
    assert r["first"]["returncode"] == 130, r["first"]["stderr"]
    assert "Traceback" not in r["first"]["stderr"]
    line = r["last_line"]
    ckpt = r["out"].parent / "o.nvc.ckpt"
    assert re.fullmatch(rf"nvcodec: interrupted: fitting interrupted at step \d+; checkpoint saved to "
                        rf"{re.escape(str(ckpt))}; resume with: nvcodec encode .*", line), line
    step = int(re.search(r"at step (\d+)", line).group(1))
    assert 1 <= step < STEPS
    argv = shlex.split(r["command"])
    assert argv[argv.index("-o") + 1] == str(r["out"]) and argv[2] == str(small_clip)
    assert argv[argv.index("--steps") + 1] == str(STEPS) and "--resume" in argv
    assert float(argv[argv.index("--bpp") + 1]) == float(SMALL_BPP)
    assert r["first"]["files"] == ["o.nvc.ckpt"]  # the checkpoint, no output yet


@pytest.mark.parametrize("when", ["fitting", "starting"])
def test_sigterm_is_handled_like_ctrl_c(small_clip, tmp_path, when):
    """`kill` (SIGTERM) during the fit checkpoints like Ctrl-C; before the fit it still exits
    130 with one line and leaves nothing behind."""
    out = tmp_path / "o.nvc"
    proc = popen_cli("encode", small_clip, "-o", out, "--bpp", SMALL_BPP, "--steps", str(STEPS), "--device", "cpu")
    if when == "fitting":
        wait_for(proc, rf"\b[1-9]\d*/{STEPS}\b")
    else:
        wait_for(proc, r"fitting on")  # the source is loaded, the fit has not begun
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = re.split(r"[\r\n]", err.strip())[-1]
    assert last.startswith("nvcodec: interrupted"), last
    files = sorted(p.name for p in tmp_path.iterdir())
    if "resume with" in last:
        assert files == ["o.nvc.ckpt"], files
    else:
        assert when == "starting" and files == [], files


def test_the_resume_command_finishes_the_job(interrupted_then_resumed):
    r = interrupted_then_resumed
    res = r["resumed"]
    assert res is not None and res.returncode == 0, res and res.stderr
    data = r["out"].read_bytes()
    model_codec.model_from_container(read_container(data, known_types=model_codec.KNOWN_TYPES))
    assert sorted(p.name for p in r["out_dir"].iterdir()) == ["o.nvc"]  # the checkpoint is gone


def test_interrupted_and_resumed_equals_uninterrupted(interrupted_then_resumed, uninterrupted):
    assert interrupted_then_resumed["out"].read_bytes() == uninterrupted


def test_ctrl_c_after_the_fit_also_offers_the_resume(small_clip, tmp_path, monkeypatch, capsys):
    """Ctrl-C during the rate search (after fitting): the checkpoint holds the finished fit; the
    library names it, the CLI turns it into the resume command."""
    import nvcodec.rate.search as search
    from nvcodec.cli import main

    def ctrl_c(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(search, "search_rate", ctrl_c)
    with pytest.raises(Interrupted, match=r"interrupted after fitting \(4 steps; checkpoint saved to .*o\.nvc\.ckpt\)$") as e:
        api.encode(small_clip, tmp_path / "o.nvc", api.EncodeOptions(bpp=2.0, steps=4, progress=False, device="cpu"))
    assert e.value.checkpoint == str(tmp_path / "o.nvc.ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.nvc.ckpt"]
    out = tmp_path / "cli"
    out.mkdir()
    assert main(["encode", str(small_clip), "-o", str(out / "o.nvc"), "--bpp", "2", "--steps", "4", "--device", "cpu",
                 "-q"]) == 130
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.fullmatch(r"nvcodec: interrupted: interrupted after fitting \(4 steps; checkpoint saved to .*o\.nvc\.ckpt\); "
                        r"resume with: nvcodec encode .* --steps 4 .*--resume", line), line
    assert sorted(p.name for p in out.iterdir()) == ["o.nvc.ckpt"]


def test_a_failure_after_the_fit_removes_the_encoders_own_checkpoint(small_clip, tmp_path, monkeypatch):
    """No resume is offered for a failure (not an interrupt): the default checkpoint is not left behind."""
    import nvcodec.rate.search as search
    from nvcodec.errors import EncodeError

    def fail(*a, **k):
        raise EncodeError("no rate fits")

    monkeypatch.setattr(search, "search_rate", fail)
    with pytest.raises(EncodeError, match="no rate fits"):
        api.encode(small_clip, tmp_path / "o.nvc", api.EncodeOptions(bpp=2.0, steps=4, progress=False, device="cpu"))
    assert list(tmp_path.iterdir()) == []


def test_resume_command_repeats_every_shaping_option(tmp_path):
    from nvcodec.cli import resume_command

    args = ["--debug", "encode", str(tmp_path / "in put.yuv"), "-o", str(tmp_path / "o.nvc"), "--bpp", "0.25",
            "--steps", "100", "--seed", "7", "--device", "cpu", "--frames", "2:", "--mask-boxes", "3:16",
            "--mask", str(tmp_path / "my mask.png"), "--checkpoint", str(tmp_path / "c k.ckpt"), "--size", "64x48",
            "--fps", "30000/1001", "--pix-fmt", "yuv422p", "-y", "-q"]
    argv = shlex.split(resume_command(args))
    assert argv == ["nvcodec", *args, "--resume"]
    assert shlex.split(resume_command([*args, "--resume"])) == argv  # never twice
    # and the CLI parses it back into the same options
    from nvcodec.cli import cli

    params = cli.commands["encode"].make_context("encode", argv[3:]).params
    assert params["input_path"] == tmp_path / "in put.yuv" and params["bpp"] == 0.25 and params["steps"] == 100
    assert params["frame_range"] == "2:" and params["resume"] and params["overwrite"] and params["quiet"]
    assert params["raw_size"] == "64x48" and params["raw_fps"] == "30000/1001" and params["device"] == "cpu"
    assert params["mask_path"] == tmp_path / "my mask.png" and params["checkpoint"] == tmp_path / "c k.ckpt"


# ------------------------------------------------------------------ the fit loop itself

@pytest.mark.parametrize("k", [1, 3, 8, 10])  # in the flow-supervised phase, the main phase, QAT
def test_fit_interrupted_at_step_k_and_resumed_is_bit_exact(tmp_path, k):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ref_model, ref = tiny_fit(tmp_path / "a", None, False)
    with pytest.raises(Interrupted, match=f"at step {k}; checkpoint saved"):
        tiny_fit(tmp_path / "b", k, False)
    model, res = tiny_fit(tmp_path / "b", None, True)
    assert res.resumed_from == k and res.steps == ref.steps == 12
    assert res.psnr == ref.psnr
    a, b = ref_model.all_tensors(), model.all_tensors()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name].detach().cpu(), b[name].detach().cpu()), name


def test_an_interrupt_caught_inside_a_string_exec_still_exits_130(tmp_path):
    """The race behind a flaky SIGTERM test: the signal landed while a dataclass was being
    created (an exec of a string), and CPython then ended `python -m` with SIGINT (-2)."""
    (tmp_path / "interrupt_in_exec.py").write_text(
        "import sys\n"
        "from nvcodec import cli\n"
        "def interrupted_inside_exec(*args, **kwargs):\n"
        "    exec('raise KeyboardInterrupt')\n"
        "cli.cli.main = interrupted_inside_exec\n"
        "sys.exit(cli.main(['info', 'x.nvc']))\n")
    env = dict(CLI_ENV, PYTHONPATH=str(tmp_path) + os.pathsep + CLI_ENV["PYTHONPATH"])
    res = subprocess.run([sys.executable, "-m", "interrupt_in_exec"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 130, res.stderr
    assert res.stderr.strip() == "nvcodec: interrupted"
