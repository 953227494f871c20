"""model_codec: encode_model and decode_model are inverses, and byte_split accounts for every byte."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from nvcodec.bitstream.format import Chunk, StreamHeader
from nvcodec.bitstream.reader import read_container
from nvcodec.bitstream.writer import write_container
from nvcodec.compress import model_codec
from nvcodec.errors import BitstreamError
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


def _with_config_chunks(data: bytes, chunks_for) -> bytes:
    """The file with its MCFB chunk replaced by `chunks_for(config)` (a list of chunks)."""
    container = read_container(data, known_types=model_codec.KNOWN_TYPES)
    config = model_codec.parse_config(container.find(model_codec.CONFIG, 0).payload)
    chunks = []
    for c in container.chunks:
        chunks += chunks_for(config) if c.type == model_codec.CONFIG else [c]
    return write_container(dataclasses.replace(container, chunks=chunks))


def test_a_configuration_as_mcfg_json_decodes_to_the_same_model(coded) -> None:
    """Files of versions 1.0 and 1.1 hold the configuration as MCFG JSON (spec 10.1)."""
    recon, data = coded
    old = _with_config_chunks(data, lambda cfg: [Chunk(model_codec.CONFIG_JSON, model_codec.json_config_payload(cfg))])
    back = model_codec.decode_model(read_container(old, known_types=model_codec.KNOWN_TYPES))
    assert back.config == recon.config
    assert len(old) - len(data) > 300  # the JSON's cost over MCFB: what version 1.2 saves on it


def test_a_segment_holds_exactly_one_configuration(coded) -> None:
    _, data = coded
    both = _with_config_chunks(data, lambda cfg: [Chunk(model_codec.CONFIG, model_codec.config_payload(cfg)),
                                                  Chunk(model_codec.CONFIG_JSON, model_codec.json_config_payload(cfg))])
    with pytest.raises(BitstreamError, match="both an MCFB and an MCFG"):
        model_codec.decode_model(read_container(both, known_types=model_codec.KNOWN_TYPES))
    none = _with_config_chunks(data, lambda cfg: [])
    with pytest.raises(BitstreamError, match="missing required chunk MCFB"):
        model_codec.decode_model(read_container(none, known_types=model_codec.KNOWN_TYPES))
