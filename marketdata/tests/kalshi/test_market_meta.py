"""What the WS client remembers of a market and the ``MarketStatus`` it emits: fee fields from
REST and ``event_fee_update``, and the single result rule shared with REST (interfaces.md §3)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from marketdata.kalshi.market_meta import MarketDirectory
from marketdata.kalshi.wire import MarketInfo, parse_series
from marketdata.model.units import WireFormatError

T = "KXBTC15M-26JUL232045-45"
OPEN, CLOSE = 1_784_853_000_000, 1_784_853_900_000


def market(status: str = "active", result: str | None = None) -> MarketInfo:
    return MarketInfo(T, T[:-3], status, OPEN, CLOSE, 64839.26, result)  # type: ignore[arg-type]


def lifecycle(event_type: str, **extra: object) -> dict[str, object]:
    return {"event_type": event_type, "market_ticker": T, **extra}


def test_a_zero_fee_multiplier_from_the_series_is_kept_not_read_as_unknown():
    directory = MarketDirectory("KXBTC15M-")
    directory.remember([market()], fee_type="quadratic", fee_multiplier=Fraction(0))
    status = directory.on_lifecycle(lifecycle("activated"), 1, None)
    assert status is not None
    assert status.fee_multiplier == 0


def test_an_event_fee_override_survives_the_next_rest_refresh():
    directory = MarketDirectory("KXBTC15M-")
    directory.remember([market()], fee_type="quadratic", fee_multiplier=Fraction(1))
    (changed,) = directory.on_fee_update(
        {"event_ticker": T[:-3], "fee_type_override": "quadratic", "fee_multiplier_override": 0.5},
        2,
        None,
    )
    assert changed.fee_multiplier == Fraction(1, 2)
    # The periodic REST refresh passes the series' own fees again; the override stands.
    directory.remember([market()], fee_type="quadratic", fee_multiplier=Fraction(1))
    status = directory.on_lifecycle(
        lifecycle("close_date_updated", close_ts=CLOSE // 1000), 3, None
    )
    assert status is not None
    assert status.fee_multiplier == Fraction(1, 2)


def test_a_malformed_fee_multiplier_is_refused():
    directory = MarketDirectory("KXBTC15M-")
    directory.remember([market()])
    for junk in (True, "abc", -1):
        with pytest.raises(WireFormatError):
            directory.on_fee_update(
                {"event_ticker": T[:-3], "fee_multiplier_override": junk}, 2, None
            )
    with pytest.raises(WireFormatError):
        parse_series({"ticker": "KXBTC15M", "fee_type": "quadratic", "fee_multiplier": "-0.5"})


@pytest.mark.parametrize("status", ["closed", "inactive", "active"])
def test_rest_and_ws_carry_a_result_only_once_the_market_is_decided(status):
    """One rule for both paths: a result beside any other status is not a settlement."""
    info = market(status, "yes")
    rest = info.status_event(5)
    directory = MarketDirectory("KXBTC15M-")
    directory.remember([info])
    ws = directory.on_lifecycle(lifecycle("close_date_updated", close_ts=CLOSE // 1000), 5, None)
    assert ws is not None
    assert rest.result is None
    assert ws.result is None
    assert (rest.status, rest.result) == (ws.status, ws.result)


def test_a_result_known_from_ws_is_not_lost_to_a_lagging_rest_read():
    directory = MarketDirectory("KXBTC15M-")
    directory.remember([market()])
    determined = directory.on_lifecycle(lifecycle("determined", result="no"), 5, None)
    assert determined is not None
    assert determined.result == "no"
    directory.remember([market("closed", None)])  # REST has not caught up yet
    settled = directory.on_lifecycle(lifecycle("settled", settled_ts=1_784_853_906), 6, None)
    assert settled is not None
    assert (settled.status, settled.result) == ("finalized", "no")
