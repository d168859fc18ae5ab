import pytest

from marketdata.model.ticks import (
    is_deci_cent,
    is_on_grid,
    is_valid_order_price,
    round_to_grid,
    tick_down,
    tick_up,
    ticks_between,
)


@pytest.mark.parametrize(
    ("price", "ok"),
    [
        (0, True),
        (10, True),
        (990, True),
        (1000, True),
        (1010, False),
        (1100, True),
        (5050, False),
        (8990, False),
        (9000, True),
        (9010, True),
        (9950, True),
        (9995, False),
        (10000, True),
        (-10, False),
        (10010, False),
        (5, False),
    ],
)
def test_it_knows_the_tapered_deci_cent_grid(price, ok):
    assert is_on_grid(price) is ok


def test_order_prices_exclude_zero_and_one_dollar():
    assert not is_valid_order_price(0)
    assert not is_valid_order_price(10000)
    assert is_valid_order_price(10)
    assert is_valid_order_price(9990)


def test_rounding_snaps_coarse_band_to_whole_cents():
    assert round_to_grid(5050, "down") == 5000
    assert round_to_grid(5050, "up") == 5100
    assert round_to_grid(5050) == 5000  # tie goes down
    assert round_to_grid(5051) == 5100
    assert round_to_grid(990) == 990
    assert round_to_grid(-3) == 0
    assert round_to_grid(12000) == 10000


def test_tick_steps_change_at_band_edges():
    assert tick_up(990) == 1000
    assert tick_up(1000) == 1100
    assert tick_down(1000) == 990
    assert tick_down(1100) == 1000
    assert tick_up(8900) == 9000
    assert tick_up(9000) == 9010
    assert tick_down(9000) == 8900
    assert tick_down(9010) == 9000
    assert tick_up(10000) == 10000
    assert tick_down(0) == 0


def test_ticks_between_counts_grid_steps_across_bands():
    assert ticks_between(4900, 5100) == 2
    assert ticks_between(950, 1100) == 6  # 5 fine + 1 coarse
    assert ticks_between(8900, 9020) == 3
    assert ticks_between(5100, 4900) == -2
    with pytest.raises(ValueError):
        ticks_between(5050, 5100)


def test_deci_cent_prices_are_the_sub_penny_ones():
    assert is_deci_cent(9950)
    assert not is_deci_cent(9900)
