"""Input and output shapes of the REST API (explicit, per view).

The original's field names are the canonical ones (``mode`` for a lane, ``per_page``,
``days``, ``regime_at_entry`` …); fields it did not have are added beside them. Money and
prices in answers are float dollars (display figures; prices in YES space); the database
and the engine keep them exact.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trading.models import Decision, Lane, OpenPosition, Trade, TradingMode
from trading.services.controls import MAX_TRADE_LIMIT

MAX_PER_PAGE = 100


# --- query parameters ---------------------------------------------------------------------


class ModeQuery(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=Lane.choices, required=False, help_text="the lane; default: the trading mode"
    )


class PageQuery(ModeQuery):
    # bounded: a page past the database's offset range answers 400, not 500
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    per_page = serializers.IntegerField(min_value=1, max_value=MAX_PER_PAGE, default=10)


class TradeQuery(PageQuery):
    direction = serializers.ChoiceField(choices=["long", "short"], required=False)
    exit_reason = serializers.CharField(required=False, max_length=40)
    date_from = serializers.DateField(required=False, help_text="UTC day of the close")
    date_to = serializers.DateField(required=False, help_text="UTC day of the close, inclusive")
    quarantined = serializers.BooleanField(required=False, allow_null=True, default=None)


class DaysQuery(ModeQuery):
    days = serializers.IntegerField(
        min_value=0, max_value=3650, default=30, help_text="back from the trading clock; 0: all"
    )


class DailyQuery(ModeQuery):
    days = serializers.IntegerField(
        min_value=0, max_value=3650, default=0, help_text="back from the trading clock; 0: all"
    )


class BtcPriceQuery(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=0, max_value=3650, default=1, help_text="back from the trading clock; 0: all"
    )


class DecisionQuery(ModeQuery):
    kind = serializers.ChoiceField(choices=["sample", "change", "entry", "exit"], required=False)


class ResetDrawdownQuery(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=Lane.choices, required=False, help_text="default: the trading mode"
    )


# --- bodies -------------------------------------------------------------------------------


class OverrideInput(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    value = serializers.JSONField()
    note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class TradingModeInput(serializers.Serializer):
    mode = serializers.ChoiceField(choices=TradingMode.choices)
    confirm = serializers.BooleanField(
        default=False, help_text="required to switch to live (it trades real money)"
    )


class TradingPauseInput(serializers.Serializer):
    paused = serializers.BooleanField()


@extend_schema_field(
    {"type": "integer", "minimum": 0, "maximum": MAX_TRADE_LIMIT, "nullable": True}
)
class TradeLimitField(serializers.IntegerField):
    """Documents the service's bounds; checks none itself, so that the service refuses an
    out-of-bounds limit and audits the refusal (as the admin's form does)."""


class TradeLimitInput(serializers.Serializer):
    limit = TradeLimitField(allow_null=True, required=False)  # absent: keep the limit
    reset = serializers.BooleanField(required=False, default=False)


# --- answers ------------------------------------------------------------------------------


class TradeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    mode = serializers.CharField(source="lane")
    timestamp = serializers.DateTimeField(source="opened_at", help_text="the entry's time")
    closed_at = serializers.DateTimeField()
    ticker = serializers.CharField()
    direction = serializers.CharField()
    contracts = serializers.FloatField()
    entry_price = serializers.FloatField(help_text="YES-space dollars")
    exit_price = serializers.FloatField(help_text="YES-space dollars")
    entry_cost = serializers.FloatField()
    exit_proceeds = serializers.FloatField()
    pnl = serializers.FloatField()
    pnl_pct = serializers.FloatField()
    fees = serializers.FloatField()
    exit_reason = serializers.CharField()
    conviction = serializers.CharField()
    regime_at_entry = serializers.CharField(source="regime")
    signal_driver = serializers.SerializerMethodField()
    held_s = serializers.IntegerField(help_text="holding time (the original counted candles)")
    position_uid = serializers.CharField()
    quarantined = serializers.BooleanField()
    data_quality_flag = serializers.CharField()
    error_reason = serializers.CharField()
    flagged_at = serializers.DateTimeField(allow_null=True)

    def get_signal_driver(self, trade: Trade) -> str:
        return trade.driver or "-"


class TradePageOutput(serializers.Serializer):
    trades = TradeOutput(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    total_pages = serializers.IntegerField()
    mode = serializers.CharField()


class PositionOutput(serializers.ModelSerializer):
    class Meta:
        model = OpenPosition
        fields = "__all__"


class DecisionOutput(serializers.ModelSerializer):
    class Meta:
        model = Decision
        fields = "__all__"


class EquityPoint(serializers.Serializer):
    time = serializers.IntegerField(help_text="UTC seconds")
    bankroll = serializers.FloatField()
    peak_bankroll = serializers.FloatField()
    drawdown_pct = serializers.FloatField()
    daily_pnl = serializers.FloatField()
    trade_count = serializers.IntegerField()


class EquityOutput(serializers.Serializer):
    equity = EquityPoint(many=True)
    mode = serializers.CharField()
    days = serializers.IntegerField()
    as_of = serializers.DateTimeField(help_text="the trading clock the window ends at")
    bucket_s = serializers.IntegerField(help_text="0: every point; else the last per bucket")
    initial_bankroll = serializers.FloatField()


class CandleOutput(serializers.Serializer):
    time = serializers.IntegerField(help_text="bucket start, UTC seconds")
    open = serializers.FloatField()
    high = serializers.FloatField()
    low = serializers.FloatField()
    close = serializers.FloatField()
    volume = serializers.FloatField()


class LinePoint(serializers.Serializer):
    time = serializers.IntegerField()
    value = serializers.FloatField()


class BtcPriceOutput(serializers.Serializer):
    candles = CandleOutput(many=True)
    interval_s = serializers.IntegerField(help_text="each bar's width in seconds")
    ema5 = LinePoint(many=True)
    ema20 = LinePoint(many=True)
    days = serializers.IntegerField()
    as_of = serializers.DateTimeField()


class StatsOutput(serializers.Serializer):
    initial_bankroll = serializers.FloatField()
    total_trades = serializers.IntegerField()
    total_pnl = serializers.FloatField()
    total_fees = serializers.FloatField()
    equity = serializers.FloatField()
    wallet_equity = serializers.FloatField(allow_null=True)
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    win_rate = serializers.FloatField()
    best_trade = serializers.FloatField()
    worst_trade = serializers.FloatField()
    avg_pnl = serializers.FloatField()
    flagged = serializers.IntegerField(help_text="flagged trades, left out of these figures")
    mode = serializers.CharField()
    as_of = serializers.DateTimeField()


class DailyRow(serializers.Serializer):
    date = serializers.DateField(source="day")
    trades = serializers.IntegerField()
    pnl = serializers.FloatField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    win_rate = serializers.FloatField()


class DailyOutput(serializers.Serializer):
    daily = DailyRow(many=True)
    mode = serializers.CharField()
    as_of = serializers.DateTimeField()


class RegimeRow(serializers.Serializer):
    regime = serializers.CharField()
    trades = serializers.IntegerField()
    pnl = serializers.FloatField()
    wins = serializers.IntegerField()
    win_rate = serializers.FloatField()


class RegimeOutput(serializers.Serializer):
    regimes = RegimeRow(many=True)
    mode = serializers.CharField()


class SignalRow(serializers.Serializer):
    obi_direction = serializers.CharField()
    roc_direction = serializers.CharField()
    decision = serializers.CharField()
    conviction = serializers.CharField()
    skip_reason = serializers.CharField()
    count = serializers.IntegerField()


class SignalAccuracyOutput(serializers.Serializer):
    signals = SignalRow(many=True)


class OverrideRow(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    default = serializers.JSONField()
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    doc = serializers.CharField()
    scope = serializers.ChoiceField(
        choices=["market", "lane"],
        help_text="market: shapes the market every lane shares, an override applies at the "
        "trader's next start; lane: an override applies within a second",
    )
    overridden = serializers.BooleanField()
    value = serializers.JSONField()
    set_by = serializers.CharField(allow_null=True)
    set_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField(allow_blank=True)


class OverridesOutput(serializers.Serializer):
    overrides = serializers.DictField(help_text="name → value of every stored override")
    active = serializers.BooleanField()
    parameters = OverrideRow(many=True, help_text="every parameter: default, bounds, override")


class ControlsOutput(serializers.Serializer):
    trading_mode = serializers.CharField()
    paused = serializers.BooleanField()
    emergency_stop_seq = serializers.IntegerField()
    emergency_stop_pending = serializers.BooleanField()
    live_trade_limit = serializers.IntegerField(allow_null=True)
    live_trade_count_since_ms = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField()
    overrides = serializers.DictField()
    drawdown_reset_seq = serializers.DictField(child=serializers.IntegerField())


class ControlOutput(serializers.Serializer):
    """A control's answer: the original's ``success`` and ``message`` plus its own fields."""

    success = serializers.BooleanField()
    message = serializers.CharField()


class RefusedOutput(serializers.Serializer):
    success = serializers.BooleanField(default=False)
    error = serializers.CharField()
    detail = serializers.CharField()


class DeployCheckOutput(serializers.Serializer):
    safe_to_deploy = serializers.BooleanField()
    trading_mode = serializers.CharField()
    blockers = serializers.ListField(child=serializers.CharField())
    orphans = serializers.IntegerField()
    message = serializers.CharField()


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
