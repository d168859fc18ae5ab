"""Input and output shapes of the REST API (explicit, per view)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from trading.models import Decision, Lane, OpenPosition, Trade, TradingMode
from trading.services.controls import MAX_TRADE_LIMIT


class TradeOutput(serializers.ModelSerializer):
    class Meta:
        model = Trade
        exclude = ("created_at",)


class PositionOutput(serializers.ModelSerializer):
    class Meta:
        model = OpenPosition
        fields = "__all__"


class DecisionOutput(serializers.ModelSerializer):
    class Meta:
        model = Decision
        fields = "__all__"


class TradeFilter(serializers.Serializer):
    lane = serializers.ChoiceField(choices=Lane.choices, required=False)
    direction = serializers.ChoiceField(choices=["long", "short"], required=False)
    exit_reason = serializers.CharField(required=False, max_length=40)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    quarantined = serializers.BooleanField(required=False, allow_null=True, default=None)


class LaneRangeFilter(serializers.Serializer):
    lane = serializers.ChoiceField(choices=Lane.choices, default=Lane.PAPER)
    range = serializers.ChoiceField(choices=["24h", "1w", "1m", "all"], default="24h")


class CandleFilter(serializers.Serializer):
    interval_s = serializers.ChoiceField(choices=[60, 900], default=60)
    range = serializers.ChoiceField(choices=["24h", "1w", "1m", "all"], default="24h")


class DecisionFilter(serializers.Serializer):
    lane = serializers.ChoiceField(choices=Lane.choices, required=False)
    kind = serializers.ChoiceField(choices=["sample", "change", "entry", "exit"], required=False)


class LaneFilter(serializers.Serializer):
    lane = serializers.ChoiceField(choices=Lane.choices, required=False)


class OverrideInput(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    value = serializers.JSONField()
    note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class OverrideOutput(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    default = serializers.JSONField()
    min = serializers.FloatField(allow_null=True)
    max = serializers.FloatField(allow_null=True)
    doc = serializers.CharField()
    overridden = serializers.BooleanField()
    value = serializers.JSONField()
    set_by = serializers.CharField(allow_null=True)
    set_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField(allow_blank=True)


class TradingModeInput(serializers.Serializer):
    mode = serializers.ChoiceField(choices=TradingMode.choices)


class TradingPauseInput(serializers.Serializer):
    paused = serializers.BooleanField()


@extend_schema_field(
    {"type": "integer", "minimum": 0, "maximum": MAX_TRADE_LIMIT, "nullable": True}
)
class TradeLimitField(serializers.IntegerField):
    """Documents the service's bounds; checks none itself, so that the service refuses an
    out-of-bounds limit and audits the refusal (as the admin's form does)."""


class TradeLimitInput(serializers.Serializer):
    limit = TradeLimitField(allow_null=True, required=False, default=None)
    reset = serializers.BooleanField(required=False, default=False)


class ResetDrawdownInput(serializers.Serializer):
    lane = serializers.ChoiceField(choices=Lane.choices, default=Lane.PAPER)


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


class DetailOutput(serializers.Serializer):
    detail = serializers.CharField()
