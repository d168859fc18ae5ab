"""``GET /api/attribution?mode=``: the original's answer (domain.md §5.1, §9.2), routed
with the other API paths in ``trading.api.urls``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from attribution.selectors import lane_attribution
from trading import clock
from trading.api import serializers as s
from trading.api.views import _mode


class FlippedGroup(serializers.Serializer):
    dimension = serializers.ChoiceField(choices=["session", "regime"])
    name = serializers.CharField()
    pnl = serializers.FloatField(help_text="this week, dollars")
    prior_pnl = serializers.FloatField(help_text="the week before, dollars")


class WeeklyDrift(serializers.Serializer):
    week_start = serializers.DateField(help_text="the Sunday the week starts (UTC)")
    total_trades = serializers.IntegerField()
    total_pnl_dollars = serializers.FloatField()
    fee_drag_pct = serializers.FloatField(allow_null=True, help_text="fees / PnL before fees")
    flipped = FlippedGroup(many=True, help_text="lost money this week, made money the week before")


def _groups(help_text: str) -> serializers.DictField:
    return serializers.DictField(child=serializers.JSONField(), help_text=help_text)


class AttributionOutput(serializers.Serializer):
    total_pnl_dollars = serializers.FloatField()
    total_trades = serializers.IntegerField()
    signal_attribution = _groups(
        "per conviction (HIGH, NORMAL, LOW: trades, pnl_dollars, avg_pnl_pct, win_rate,"
        " pnl_share_pct) and direction_long / direction_short (trades, pnl_dollars, win_rate)"
    )
    regime_attribution = _groups(
        "per ATR regime at entry (trades, pnl_dollars, win_rate, avg_hold_s), and best_regime:"
        " LOW or MEDIUM with more than 10 trades and the higher win rate"
    )
    session_attribution = _groups(
        "per UTC session of the entry, ASIA 00–08, LONDON 08–13, US_OPEN 13–15, US_MAIN 15–20,"
        " US_CLOSE 20–24 (trades, pnl_dollars, win_rate, avg_pnl_pct)"
    )
    execution_attribution = _groups(
        "total_fees_dollars, theoretical_pnl (before fees), actual_pnl, execution_drag,"
        " fees_as_pct_of_gross (0 unless the gross is positive)"
    )
    exit_reason_breakdown = _groups("per exit reason: count, pct_of_all, avg_pnl_pct, pnl_dollars")
    weekly = WeeklyDrift(allow_null=True, help_text="the newest weekly attribution row")
    mode = serializers.CharField()
    as_of = serializers.DateTimeField(help_text="the trading clock")


class AttributionView(APIView):
    """Attribution of every counted trade of a lane (quarantined and flagged rows left out)."""

    @extend_schema(parameters=[s.ModeQuery], responses=AttributionOutput)
    def get(self, request: Request) -> Response:
        mode = _mode(s.validated(s.ModeQuery, request.query_params))
        return Response({**lane_attribution(lane=mode), "mode": mode, "as_of": clock.trading_now()})
