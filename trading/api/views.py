"""REST API: thin views over ``trading.selectors`` (reads) and ``trading.services.controls``
(writes).

Reads follow ``settings.ANONYMOUS_READS``; every write needs an authenticated staff user
(``kbtc_site.permissions.OperatorOrReadOnly``): a knox bearer token, or a session plus CSRF.
A control its rules refuse answers 409 with the reason; a value outside its type or bounds
(an override, a trade limit) 400; both are audited. Bodies are JSON only, bounded in size and
depth (``kbtc_site.input_bounds``).
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading import clock, selectors
from trading.api import serializers as s
from trading.models import Decision, OpenPosition, ParamOverride, Trade
from trading.services import controls


def _actor(request: Request) -> controls.Actor:
    return controls.Actor.from_user(request.user, source="api")


def _query(serializer_class: type[Any], request: Request) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _refused(refusal: controls.ControlRefused) -> Response:
    code = (
        status.HTTP_400_BAD_REQUEST
        if isinstance(refusal, controls.ControlInvalid)
        else status.HTTP_409_CONFLICT
    )
    return Response({"detail": str(refusal)}, status=code)


def _controls() -> Response:
    return Response(s.ControlsOutput(selectors.controls_current().as_dict()).data)


class StatusView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(selectors.status())


@extend_schema(parameters=[s.TradeFilter])
class TradeListView(ListAPIView[Trade]):
    serializer_class = s.TradeOutput

    def get_queryset(self) -> Any:
        return selectors.trades_list(**_query(s.TradeFilter, self.request))


@extend_schema(parameters=[s.LaneFilter])
class PositionListView(ListAPIView[OpenPosition]):
    serializer_class = s.PositionOutput
    pagination_class = None

    def get_queryset(self) -> Any:
        return selectors.positions_list(**_query(s.LaneFilter, self.request))


@extend_schema(parameters=[s.DecisionFilter])
class DecisionListView(ListAPIView[Decision]):
    serializer_class = s.DecisionOutput

    def get_queryset(self) -> Any:
        return selectors.decisions_list(**_query(s.DecisionFilter, self.request))


class EquityView(APIView):
    @extend_schema(parameters=[s.LaneRangeFilter], responses=dict)
    def get(self, request: Request) -> Response:
        query = _query(s.LaneRangeFilter, request)
        since = clock.range_start(query["range"])
        return Response(
            {
                "lane": query["lane"],
                "points": selectors.equity_points(lane=query["lane"], since=since),
            }
        )


class CandleView(APIView):
    @extend_schema(parameters=[s.CandleFilter], responses=dict)
    def get(self, request: Request) -> Response:
        query = _query(s.CandleFilter, request)
        since = clock.range_start(query["range"])
        return Response(
            selectors.candles_with_ema(interval_s=int(query["interval_s"]), since=since)
        )


class StatsView(APIView):
    @extend_schema(parameters=[s.LaneFilter], responses=dict)
    def get(self, request: Request) -> Response:
        lane = _query(s.LaneFilter, request).get("lane")
        now = clock.trading_now()
        return Response(
            {
                "as_of": now,
                "totals": selectors.trade_stats(lane=lane),
                "daily": selectors.daily_pnl(lane=lane, now=now),
                "by_regime": selectors.win_rate_by_regime(lane=lane),
            }
        )


class OverrideView(APIView):
    @extend_schema(responses=s.OverrideOutput(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.OverrideOutput(selectors.overrides_list(), many=True).data)

    @extend_schema(
        request=s.OverrideInput, responses={200: s.OverrideOutput(many=True), 400: s.DetailOutput}
    )
    def post(self, request: Request) -> Response:
        body = s.OverrideInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            controls.override_set(actor=_actor(request), **body.validated_data)
        except controls.ControlRefused as refusal:
            return _refused(refusal)
        return self.get(request)

    @extend_schema(responses=s.DetailOutput, operation_id="param_overrides_clear_all")
    def delete(self, request: Request) -> Response:
        count = controls.override_clear(name=None, actor=_actor(request))
        return Response({"detail": f"cleared {count} override(s)"})


class OverrideDetailView(APIView):
    @extend_schema(responses=s.DetailOutput, operation_id="param_overrides_clear_one")
    def delete(self, request: Request, name: str) -> Response:
        if not ParamOverride.objects.filter(name=name).exists():
            raise Http404(f"no override for {name}")
        controls.override_clear(name=name, actor=_actor(request))
        return Response({"detail": f"cleared {name}"})


class ControlsView(APIView):
    @extend_schema(responses=s.ControlsOutput)
    def get(self, request: Request) -> Response:
        return _controls()


class TradingModeView(APIView):
    @extend_schema(
        request=s.TradingModeInput, responses={200: s.ControlsOutput, 409: s.DetailOutput}
    )
    def post(self, request: Request) -> Response:
        body = s.TradingModeInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            controls.trading_mode_set(mode=body.validated_data["mode"], actor=_actor(request))
        except controls.ControlRefused as refusal:
            return _refused(refusal)
        return _controls()


class TradingPauseView(APIView):
    @extend_schema(request=s.TradingPauseInput, responses=s.ControlsOutput)
    def post(self, request: Request) -> Response:
        body = s.TradingPauseInput(data=request.data)
        body.is_valid(raise_exception=True)
        controls.trading_pause_set(paused=body.validated_data["paused"], actor=_actor(request))
        return _controls()


class EmergencyStopView(APIView):
    @extend_schema(request=None, responses=s.ControlsOutput)
    def post(self, request: Request) -> Response:
        controls.emergency_stop(actor=_actor(request))
        return _controls()


class CloseAllExchangePositionsView(APIView):
    @extend_schema(request=None, responses={409: s.DetailOutput})
    def post(self, request: Request) -> Response:
        try:
            controls.close_all_exchange_positions(actor=_actor(request))
        except controls.ControlRefused as refusal:
            return _refused(refusal)
        return _controls()  # pragma: no cover - reachable once the live lane exists


class ResetDrawdownView(APIView):
    @extend_schema(
        request=s.ResetDrawdownInput, responses={200: s.ControlsOutput, 409: s.DetailOutput}
    )
    def post(self, request: Request) -> Response:
        body = s.ResetDrawdownInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            controls.reset_drawdown(lane=body.validated_data["lane"], actor=_actor(request))
        except controls.ControlRefused as refusal:
            return _refused(refusal)
        return _controls()


class TradeLimitView(APIView):
    @extend_schema(
        request=s.TradeLimitInput, responses={200: s.ControlsOutput, 400: s.DetailOutput}
    )
    def post(self, request: Request) -> Response:
        body = s.TradeLimitInput(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            controls.trade_limit_set(actor=_actor(request), **body.validated_data)
        except controls.ControlRefused as refusal:
            return _refused(refusal)
        return _controls()
