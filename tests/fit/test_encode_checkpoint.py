"""The encode checkpoint's life: kept for a resume after an interrupt, gone otherwise when it is ours."""

import pytest

from nvcodec.errors import EncodeError, Interrupted
from nvcodec.fit import EncodeCheckpoint


def _checkpoint(tmp_path, owned: bool) -> EncodeCheckpoint:
    path = tmp_path / "o.nvc.ckpt"
    path.write_bytes(b"state")
    return EncodeCheckpoint(path, owned=owned)


@pytest.mark.parametrize("owned", [True, False])
def test_success_removes_only_our_own(tmp_path, owned):
    with _checkpoint(tmp_path, owned) as ck:
        ck.fitted(3)
    assert (tmp_path / "o.nvc.ckpt").exists() is not owned


def test_ctrl_c_after_the_fit_becomes_an_interrupt_naming_the_checkpoint(tmp_path):
    with pytest.raises(Interrupted, match=r"after fitting \(3 steps; checkpoint saved to .*o\.nvc\.ckpt\)") as e:
        with _checkpoint(tmp_path, True) as ck:
            ck.fitted(3)
            raise KeyboardInterrupt
    assert e.value.checkpoint == str(tmp_path / "o.nvc.ckpt") and (tmp_path / "o.nvc.ckpt").exists()


def test_an_interrupt_inside_the_fit_keeps_it(tmp_path):
    with pytest.raises(Interrupted):
        with _checkpoint(tmp_path, True):
            raise Interrupted("fitting interrupted at step 2", checkpoint=str(tmp_path / "o.nvc.ckpt"))
    assert (tmp_path / "o.nvc.ckpt").exists()


def test_a_failure_inside_the_fit_keeps_it_and_after_the_fit_removes_ours(tmp_path):
    with pytest.raises(EncodeError):  # e.g. a resume refused: the user's file stays
        with _checkpoint(tmp_path, True):
            raise EncodeError("checkpoint does not match")
    assert (tmp_path / "o.nvc.ckpt").exists()
    with pytest.raises(EncodeError):
        with _checkpoint(tmp_path, True) as ck:
            ck.fitted(3)
            raise EncodeError("no rate fits")
    assert not (tmp_path / "o.nvc.ckpt").exists()
