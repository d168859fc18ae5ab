import pytest

from trading.engine import guards
from trading.engine.params import DEFAULT_PARAMS
from trading.engine.resolver import Resolution, apply_tfi, resolve

P = DEFAULT_PARAMS


@pytest.mark.parametrize(
    ("obi", "roc", "direction", "conviction", "reason", "driver"),
    [
        ("LONG", "LONG", "LONG", "HIGH", "", "OBI+ROC"),
        ("LONG", "SHORT", None, "NONE", "SIGNAL_CONFLICT", "OBI/ROC"),
        ("LONG", None, "LONG", "NORMAL", "", "OBI"),
        ("SHORT", "LONG", None, "NONE", "SIGNAL_CONFLICT", "OBI/ROC"),
        ("SHORT", "SHORT", "SHORT", "HIGH", "", "OBI+ROC"),
        ("SHORT", None, "SHORT", "NORMAL", "", "OBI"),
        (None, "LONG", "LONG", "LOW", "", "ROC"),
        (None, "SHORT", "SHORT", "LOW", "", "ROC"),
        (None, None, None, "NONE", "NO_SIGNAL", "-"),
    ],
)
def test_the_resolver_table(obi, roc, direction, conviction, reason, driver):
    res = resolve(obi, roc, spread="NORMAL", regime="MEDIUM", breaker_halted=False, params=P)
    assert res == Resolution(direction, conviction, reason, driver)


def test_breaker_and_high_regime_come_first():
    res = resolve("LONG", "LONG", spread="NORMAL", regime="HIGH", breaker_halted=True, params=P)
    assert res.reason == "CIRCUIT_BREAKER_ACTIVE"
    res = resolve("LONG", "LONG", spread="NORMAL", regime="HIGH", breaker_halted=False, params=P)
    assert (res.direction, res.reason) == (None, "ATR_REGIME_HIGH")


@pytest.mark.parametrize(
    ("obi", "roc", "spread", "conviction", "reason"),
    [
        ("LONG", "LONG", "WIDE", "NORMAL", ""),
        ("LONG", None, "WIDE", "LOW", ""),
        (None, "LONG", "WIDE", "NONE", "SPREAD_WIDE_DOWNGRADE"),
        (None, "LONG", "TIGHT", "NORMAL", ""),
        ("LONG", None, "TIGHT", "NORMAL", ""),
        ("LONG", "LONG", "TIGHT", "HIGH", ""),
        (None, None, "TIGHT", "NONE", "NO_SIGNAL"),
    ],
)
def test_the_spread_modifier(obi, roc, spread, conviction, reason):
    res = resolve(obi, roc, spread=spread, regime="MEDIUM", breaker_halted=False, params=P)
    assert (res.conviction, res.reason) == (conviction, reason)
    if conviction != "NONE":
        assert res.driver.endswith(f"/{spread}")


def test_the_spread_modifier_only_applies_in_medium_and_when_enabled():
    res = resolve("LONG", None, spread="WIDE", regime="LOW", breaker_halted=False, params=P)
    assert res.conviction == "NORMAL"
    off = P.with_overrides({"sd_enabled": False})
    res = resolve("LONG", None, spread="WIDE", regime="MEDIUM", breaker_halted=False, params=off)
    assert res.conviction == "NORMAL"


LONG_NORMAL = Resolution("LONG", "NORMAL", "", "OBI")


@pytest.mark.parametrize(
    ("obi", "tfi", "conviction"),
    [
        ("LONG", 0.3999, "LOW"),
        ("LONG", 0.4, "NORMAL"),
        ("SHORT", 0.6001, "LOW"),
        ("SHORT", 0.6, "NORMAL"),
    ],
)
def test_tfi_disagreement_downgrades_one_step(obi, tfi, conviction):
    res = Resolution("LONG" if obi == "LONG" else "SHORT", "NORMAL", "", "OBI")
    assert apply_tfi(res, obi, tfi, P).conviction == conviction


def test_tfi_downgrade_to_none_blocks_and_needs_obi_and_data():
    low = Resolution("LONG", "LOW", "", "OBI")
    assert apply_tfi(low, "LONG", 0.1, P) == Resolution(None, "NONE", "TFI_DISAGREE", "OBI")
    assert apply_tfi(LONG_NORMAL, None, 0.1, P) == LONG_NORMAL
    assert apply_tfi(LONG_NORMAL, "LONG", None, P) == LONG_NORMAL
    off = P.with_overrides({"tfi_conviction_enabled": False})
    assert apply_tfi(LONG_NORMAL, "LONG", 0.1, off) == LONG_NORMAL


# --- short trend guard -----------------------------------------------------------------


def closes_rising(pct):
    return [100.0, 100.0, 100.0, 100.0 * (1 + pct / 100)]


@pytest.mark.parametrize(
    ("conviction", "rise", "expected_conviction", "blocked"),
    [
        ("HIGH", 0.35, "NONE", "SHORT_BLOCKED_UPTREND_0.350%>=0.350%"),
        ("HIGH", 0.349, "NORMAL", ""),
        ("NORMAL", 0.20, "LOW", ""),
        ("NORMAL", 0.199, "NORMAL", ""),
        ("LOW", 0.20, "NONE", "SHORT_BLOCKED_UPTREND_LOW_0.200%>=0.200%"),
    ],
)
def test_the_short_trend_guard(conviction, rise, expected_conviction, blocked):
    res = guards.short_trend_guard(
        Resolution("SHORT", conviction, "", "OBI"), closes_rising(rise), P
    )
    assert res.conviction == expected_conviction
    assert res.reason == blocked


def test_the_short_trend_guard_ignores_longs_and_short_histories():
    long = Resolution("LONG", "HIGH", "", "OBI")
    assert guards.short_trend_guard(long, closes_rising(5), P) is long
    short = Resolution("SHORT", "HIGH", "", "OBI")
    assert guards.short_trend_guard(short, [100.0, 200.0, 300.0], P) is short


# --- expiry guards, price guard, cooldown, book health ---------------------------------


@pytest.mark.parametrize(
    ("remaining", "blocked"), [(None, True), (119_999, True), (120_000, False), (121_000, False)]
)
def test_near_expiry_blocks_unknown_or_under_120_seconds(remaining, blocked):
    assert guards.near_expiry(remaining, P) is blocked


def pg(direction, price, regime="MEDIUM", remaining=600_000, params=P):
    return guards.price_guard(
        direction, price, regime=regime, remaining_ms=remaining, params=params
    )


@pytest.mark.parametrize(
    ("remaining", "reason"),
    [
        (None, "EXPIRY_TOO_CLOSE"),
        (179_000, "EXPIRY_TOO_CLOSE"),
        (179_999, "EXPIRY_TOO_CLOSE"),
        (180_000, ""),
        (181_000, ""),
    ],
)
def test_price_guard_expiry_window(remaining, reason):
    assert pg("LONG", 4000, remaining=remaining) == reason


@pytest.mark.parametrize(
    ("remaining", "reason"),
    [
        (779_000, "SHORT_ENTRY_TOO_CLOSE_TO_EXPIRY_779s<780s"),
        (779_999, "SHORT_ENTRY_TOO_CLOSE_TO_EXPIRY_779s<780s"),
        (780_000, ""),
        (781_000, ""),
    ],
)
def test_shorts_need_780_seconds(remaining, reason):
    assert pg("SHORT", 4000, remaining=remaining) == reason


def test_price_guard_blocks_high_regime():
    assert pg("LONG", 4000, regime="HIGH") == "REGIME_HIGH"


@pytest.mark.parametrize(
    ("regime", "price", "reason"),
    [
        ("MEDIUM", 1500, ""),
        ("MEDIUM", 1490, "YES_PRICE_TOO_LOW_14.9c<15c"),
        ("LOW", 2000, ""),
        ("LOW", 1999, "YES_PRICE_TOO_LOW_19.99c<20c"),
        ("MEDIUM", 6000, ""),
        ("MEDIUM", 6001, "YES_PRICE_TOO_HIGH_60.01c>60c"),
    ],
)
def test_long_price_bounds(regime, price, reason):
    assert pg("LONG", price, regime=regime) == reason


@pytest.mark.parametrize(
    ("remaining", "price", "reason"),
    [
        (299_999, 1000, ""),
        (299_999, 999, "YES_PRICE_TOO_LOW_9.99c<10c"),
        (299_999, 6500, ""),
        (299_999, 6501, "YES_PRICE_TOO_HIGH_65.01c>65c"),
        (300_000, 1000, "YES_PRICE_TOO_LOW_10c<15c"),
        (301_000, 6500, "YES_PRICE_TOO_HIGH_65c>60c"),
    ],
)
def test_late_contract_widens_long_bounds(remaining, price, reason):
    assert pg("LONG", price, remaining=remaining) == reason


def test_late_widening_never_goes_below_5_or_above_95_cents():
    p = P.with_overrides({"long_min_entry_price_medium": 600, "long_max_entry_price": 9400})
    assert pg("LONG", 499, remaining=200_000, params=p) == "YES_PRICE_TOO_LOW_4.99c<5c"
    assert pg("LONG", 9501, remaining=200_000, params=p) == "YES_PRICE_TOO_HIGH_95.01c>95c"


@pytest.mark.parametrize(
    ("price", "regime", "reason"),
    [
        (2500, "MEDIUM", ""),
        (2499, "MEDIUM", "SHORT_ENTRY_TOO_CHEAP_24.99c<25c"),
        (2000, "LOW", "SHORT_ENTRY_TOO_CHEAP_20c<25c"),
    ],
)
def test_short_price_floor(price, regime, reason):
    assert pg("SHORT", price, regime=regime, remaining=800_000) == reason


def test_short_no_price_cap_binds_only_below_the_floor_defaults():
    p = P.with_overrides({"short_min_entry_price": 1000})
    assert pg("SHORT", 2000, regime="LOW", remaining=800_000, params=p) == ""
    assert (
        pg("SHORT", 1999, regime="LOW", remaining=800_000, params=p)
        == "NO_PRICE_TOO_HIGH_80.01c>80c"
    )
    assert pg("SHORT", 1500, regime="MEDIUM", remaining=800_000, params=p) == ""
    assert (
        pg("SHORT", 1499, regime="MEDIUM", remaining=800_000, params=p)
        == "NO_PRICE_TOO_HIGH_85.01c>85c"
    )


@pytest.mark.parametrize(
    ("since_exit", "reason"), [(29_999, "REENTRY_COOLDOWN"), (30_000, ""), (31_000, "")]
)
def test_reentry_cooldown(since_exit, reason):
    assert guards.reentry_cooldown(1_000_000 + since_exit, 1_000_000, P) == reason
    assert guards.reentry_cooldown(1_000_000, None, P) == ""


def health(
    *,
    best_bid: int | None = 4000,
    best_ask: int | None = 4100,
    last_kalshi_ts: int | None = 40_000,
    last_spot_ts: int | None = 40_000,
) -> str:
    return guards.book_health(
        now=100_000,
        best_bid=best_bid,
        best_ask=best_ask,
        last_kalshi_ts=last_kalshi_ts,
        last_spot_ts=last_spot_ts,
        params=P,
    )


def test_book_health():
    assert health() == ""
    assert health(best_ask=None) == "BOOK_ONE_SIDED"
    assert health(best_bid=None) == "BOOK_ONE_SIDED"
    assert health(last_kalshi_ts=39_999) == "KALSHI_DATA_STALE"
    assert health(last_kalshi_ts=None) == "KALSHI_DATA_STALE"
    assert health(last_spot_ts=39_999) == "SPOT_DATA_STALE"
    assert health(last_spot_ts=None) == "SPOT_DATA_STALE"
