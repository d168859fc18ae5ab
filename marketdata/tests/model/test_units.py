import pytest

from marketdata.model.units import (
    WireFormatError,
    format_dollars,
    format_fp,
    notional,
    parse_dollars,
    parse_fp,
)


def test_dollars_parse_to_price_units_exactly():
    assert parse_dollars("0.4200") == 4200
    assert parse_dollars("0.9950") == 9950
    assert parse_dollars("1") == 10000
    assert format_dollars(9950) == "0.9950"


@pytest.mark.parametrize(
    "bad", [None, "", "abc", "0.42001", "1.0001", "-0.01", "NaN", 0.42, 42, True]
)
def test_malformed_or_missing_dollars_raise(bad):
    with pytest.raises(WireFormatError):
        parse_dollars(bad)


def test_fp_counts_parse_to_hundredths_and_allow_negative_deltas():
    assert parse_fp("13.00") == 1300
    assert parse_fp("-54.00") == -5400
    assert parse_fp("0.01") == 1
    assert format_fp(289208461) == "2892084.61"
    with pytest.raises(WireFormatError):
        parse_fp("1.001")
    with pytest.raises(WireFormatError):
        parse_fp(None)


def test_price_times_count_lands_in_micro_dollars():
    assert notional(4200, 1300) == 5_460_000  # 13 contracts at $0.42 = $5.46


@pytest.mark.parametrize("text", [".1", "1.", "1e-3", " 0.5", "0.5 ", "+0.5", "NaN", "0x10", "½"])
def test_only_the_exchanges_fixed_point_form_parses(text: str) -> None:
    with pytest.raises(WireFormatError, match="not a fixed-point decimal"):
        parse_dollars(text)
    with pytest.raises(WireFormatError, match="not a fixed-point decimal"):
        parse_fp(text)
