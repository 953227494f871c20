from nvcodec.rate.bits import bpp_of, bytes_for_bpp


def test_bpp_and_bytes_are_inverse():
    pixels = 352 * 288 * 30
    assert bytes_for_bpp(0.1, pixels) == 0.1 * pixels / 8 == 38016.0
    assert bpp_of(38016, pixels) == 0.1
    assert bpp_of(int(bytes_for_bpp(0.37, pixels)), pixels) <= 0.37


def test_kbps_is_bits_over_the_duration():
    from fractions import Fraction

    from nvcodec.rate.bits import kbps

    assert kbps(125_000, 50, 25) == 500.0  # 1 Mbit over 2 s
    assert kbps(1001, 30, Fraction(30000, 1001)) == 8.0
