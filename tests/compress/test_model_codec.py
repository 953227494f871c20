"""model_codec: encode_model and decode_model are inverses, and byte_split accounts for every byte."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nvcodec.bitstream.format import StreamHeader
from nvcodec.bitstream.reader import read_container
from nvcodec.bitstream.writer import write_container
from nvcodec.compress import model_codec
from nvcodec.model.config import NVTMConfig
from nvcodec.model.nvtm import NVTM

av = pytest.importorskip("av")
pytestmark = pytest.mark.skipif("libx265" not in av.codecs_available, reason="PyAV without libx265")


@pytest.fixture(scope="module")
def coded() -> tuple[model_codec.QuantizedModel, bytes]:
    """A tiny model's file at QP 30, with encoder information, and what a decoder rebuilds from it."""
    torch.manual_seed(0)
    model = NVTM(NVTMConfig.tiny(), 48, 32, 4, seed=0)
    header = StreamHeader(48, 32, 4, fps_num=25)
    q = model_codec.quantize_model(model, 1 / 16)
    container, recon = model_codec.encode_model(q, header, latent_qp=30, static_qp=30, encoder_info={"seed": 0})
    return recon, write_container(container)


def test_decode_model_rebuilds_what_encode_model_reports(coded) -> None:
    recon, data = coded
    back = model_codec.decode_model(read_container(data, known_types=model_codec.KNOWN_TYPES))
    assert back.config == recon.config and (back.width, back.height, back.frames) == (48, 32, 4)
    for kind in ("latent", "static"):
        want, got = getattr(recon, kind), getattr(back, kind)
        assert (want is None) == (got is None)
        if want is not None:
            assert all(np.array_equal(a, b) for a, b in zip(want.codes, got.codes))
    assert all(np.array_equal(a, b) for a, b in zip(recon.weights, back.weights))
    assert back.steps == pytest.approx(recon.steps) and np.array_equal(back.state, recon.state)


def test_byte_split_adds_up_to_the_file_size(coded) -> None:
    _, data = coded
    split = model_codec.byte_split(read_container(data, known_types=model_codec.KNOWN_TYPES))
    assert set(split) == {"header", "grids", "weights", "other"}
    assert sum(split.values()) == len(data)
    assert split["grids"] > 0 and split["weights"] > 0 and split["header"] > 0
    assert split["other"] > 0  # the ENCI chunk and the end marker
