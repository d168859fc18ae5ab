"""REST API: the original's paths and answer shapes (domain.md §9.2), thin views over
``trading.selectors`` (reads) and ``trading.services.controls`` (writes).

Reads follow ``settings.ANONYMOUS_READS``; every write needs an operator
(``kbtc_core.permissions.OperatorOrReadOnly``): a per-user knox bearer token, the shared
``DASHBOARD_API_TOKEN``, or a staff session plus CSRF. A control its rules refuse answers 409
``{"success": false, "error": …}``; a value outside its type or bounds (an override, a trade
limit) 400; both are audited; a bad body or query 400 naming the field. Bodies are JSON only,
bounded in size and depth (``kbtc_core.input_bounds``).
"""

from __future__ import annotations

import math
from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from trading import clock, selectors
from trading.api import serializers as s
from trading.models import Decision, OpenPosition, ParamOverride
from trading.services import controls

REFUSED = {409: s.RefusedOutput}


def _actor(request: Request) -> controls.Actor:
    return controls.Actor.from_user(request.user, source="api")


def _mode(query: dict[str, Any]) -> str:
    """The lane asked for, else the trading mode (as the original defaulted)."""
    return query.get("mode") or selectors.controls_current().trading_mode


def _refused(refusal: controls.ControlRefused) -> Response:
    code = (
        status.HTTP_400_BAD_REQUEST
        if isinstance(refusal, controls.ControlInvalid)
        else status.HTTP_409_CONFLICT
    )
    reason = str(refusal)
    return Response({"success": False, "error": reason, "detail": reason}, status=code)


def _money(value: Any) -> float:
    return float(value) if value is not None else 0.0


class Pagination(PageNumberPagination):
    """DRF lists (decisions): ``page`` and a bounded ``page_size``."""

    page_size_query_param = "page_size"
    max_page_size = 500


# --- reads --------------------------------------------------------------------------------


class HealthView(APIView):
    # A liveness probe (``/healthz`` checks the dependencies): no credentials read, so a
    # stale token in a monitor's config cannot turn it into a 401.
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class StatusView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(selectors.status())


class DiagnosticsView(APIView):
    @extend_schema(responses=dict)
    def get(self, request: Request) -> Response:
        return Response(selectors.diagnostics())


class DeployCheckView(APIView):
    @extend_schema(responses=s.DeployCheckOutput)
    def get(self, request: Request) -> Response:
        return Response(selectors.deploy_check())


class _TradePage(APIView):
    query_class: type[s.PageQuery] = s.PageQuery

    def rows(self, mode: str, query: dict[str, Any]) -> Any:
        raise NotImplementedError

    def get(self, request: Request) -> Response:
        query = s.validated(self.query_class, request.query_params)
        mode = _mode(query)
        rows = self.rows(mode, query)
        page, per_page = query["page"], query["per_page"]
        total = rows.count()
        start = (page - 1) * per_page
        body = {
            "trades": s.TradeOutput(rows[start : start + per_page], many=True).data,
            "total": total,
            "page": page,
            "per_page": per_page,
            "total_pages": max(1, math.ceil(total / per_page)),
            "mode": mode,
        }
        return Response(body)


class TradeListView(_TradePage):
    """Closed trades of a lane, newest first, flagged rows included (marked)."""

    query_class = s.TradeQuery

    def rows(self, mode: str, query: dict[str, Any]) -> Any:
        filters = {k: query.get(k) for k in ("direction", "exit_reason", "date_from", "date_to")}
        return selectors.trades_list(lane=mode, quarantined=query["quarantined"], **filters)

    @extend_schema(parameters=[s.TradeQuery], responses=s.TradePageOutput)
    def get(self, request: Request) -> Response:
        return super().get(request)


class ErroredTradeListView(_TradePage):
    """Quarantined or data-quality-flagged trades (with ``error_reason``, ``flagged_at``)."""

    def rows(self, mode: str, query: dict[str, Any]) -> Any:
        return selectors.flagged_trades(lane=mode).order_by("-closed_at", "-id")

    @extend_schema(parameters=[s.PageQuery], responses=s.TradePageOutput)
    def get(self, request: Request) -> Response:
        return super().get(request)


@extend_schema(parameters=[s.ModeQuery])
class PositionListView(ListAPIView[OpenPosition]):
    serializer_class = s.PositionOutput
    pagination_class = None

    def get_queryset(self) -> Any:
        return selectors.positions_list(lane=s.validated(s.ModeQuery, self.request.GET).get("mode"))


@extend_schema(parameters=[s.DecisionQuery])
class DecisionListView(ListAPIView[Decision]):
    serializer_class = s.DecisionOutput
    pagination_class = Pagination

    def get_queryset(self) -> Any:
        query = s.validated(s.DecisionQuery, self.request.GET)
        return selectors.decisions_list(lane=query.get("mode"), kind=query.get("kind"))


class EquityView(APIView):
    @extend_schema(parameters=[s.DaysQuery], responses=s.EquityOutput)
    def get(self, request: Request) -> Response:
        query = s.validated(s.DaysQuery, request.query_params)
        mode, now = _mode(query), clock.trading_now()
        since = clock.days_start(query["days"], now=now)
        series = selectors.equity_series(lane=mode, since=since, now=now)
        return Response(
            {
                **series,
                "mode": mode,
                "days": query["days"],
                "as_of": now,
                "initial_bankroll": float(selectors.lane_initial_bankroll(lane=mode)),
            }
        )


class BtcPriceView(APIView):
    @extend_schema(parameters=[s.BtcPriceQuery], responses=s.BtcPriceOutput)
    def get(self, request: Request) -> Response:
        days = s.validated(s.BtcPriceQuery, request.query_params)["days"]
        now = clock.trading_now()
        candles = selectors.btc_candles(since=clock.days_start(days, now=now), now=now)
        return Response({**candles, "days": days, "as_of": now})


class StatsView(APIView):
    """Totals over counted trades (mechanical exits and flagged rows left out; wins: PnL ≥ 0)."""

    @extend_schema(parameters=[s.ModeQuery], responses=s.StatsOutput)
    def get(self, request: Request) -> Response:
        mode = _mode(s.validated(s.ModeQuery, request.query_params))
        totals = selectors.trade_stats(lane=mode)
        initial = selectors.lane_initial_bankroll(lane=mode)
        risk = selectors.lane_risk(lane=mode)
        equity = risk["bankroll"] if risk.get("available") else initial + totals["total_pnl"]
        return Response(
            {
                "initial_bankroll": float(initial),
                "total_trades": totals["count"],
                "total_pnl": _money(totals["total_pnl"]),
                "total_fees": _money(totals["total_fees"]),
                "equity": float(equity),
                "wallet_equity": None,  # the exchange wallet: with the live lane
                "wins": totals["wins"],
                "losses": totals["losses"],
                "win_rate": totals["win_rate"] or 0.0,
                "best_trade": _money(totals["best"]),
                "worst_trade": _money(totals["worst"]),
                "avg_pnl": _money(totals["avg"]),
                "flagged": totals["flagged"],
                "mode": mode,
                "as_of": clock.trading_now(),
            }
        )


class StatsDailyView(APIView):
    @extend_schema(parameters=[s.DailyQuery], responses=s.DailyOutput)
    def get(self, request: Request) -> Response:
        query = s.validated(s.DailyQuery, request.query_params)
        mode, now = _mode(query), clock.trading_now()
        rows = selectors.daily_pnl(lane=mode, days=query["days"], now=now)
        return Response({"daily": s.DailyRow(rows, many=True).data, "mode": mode, "as_of": now})


class StatsByRegimeView(APIView):
    @extend_schema(parameters=[s.ModeQuery], responses=s.RegimeOutput)
    def get(self, request: Request) -> Response:
        mode = _mode(s.validated(s.ModeQuery, request.query_params))
        rows = sorted(selectors.win_rate_by_regime(lane=mode), key=lambda r: -r["trades"])
        return Response({"regimes": s.RegimeRow(rows, many=True).data, "mode": mode})


class SignalAccuracyView(APIView):
    @extend_schema(parameters=[s.ModeQuery], responses=s.SignalAccuracyOutput)
    def get(self, request: Request) -> Response:
        mode = s.validated(s.ModeQuery, request.query_params).get("mode")
        return Response({"signals": selectors.signal_accuracy(lane=mode)})


class ControlsView(APIView):
    @extend_schema(responses=s.ControlsOutput)
    def get(self, request: Request) -> Response:
        return Response(s.ControlsOutput(selectors.controls_current().as_dict()).data)


# --- parameter overrides ------------------------------------------------------------------


def _overrides() -> dict[str, Any]:
    stored = selectors.controls_current().overrides
    return {"overrides": stored, "active": bool(stored), "parameters": selectors.overrides_list()}


class OverrideView(APIView):
    @extend_schema(responses=s.OverridesOutput)
    def get(self, request: Request) -> Response:
        return Response(s.OverridesOutput(_overrides()).data)

    @extend_schema(
        request=s.OverrideInput,
        responses={200: s.OverridesOutput, 400: s.RefusedOutput},
        operation_id="param_overrides_set",
    )
    def post(self, request: Request) -> Response:
        body = s.validated(s.OverrideInput, request.data)
        try:
            controls.override_set(actor=_actor(request), **body)
        except controls.ControlRefused as refusal:
            return _refused(refusal)
        return Response({"success": True, **s.OverridesOutput(_overrides()).data})

    @extend_schema(responses=s.ControlOutput, operation_id="param_overrides_clear_all")
    def delete(self, request: Request) -> Response:
        count = controls.override_clear(name=None, actor=_actor(request))
        message = f"Parameter overrides cleared ({count}), using defaults"
        return Response({"success": True, "message": message, "cleared": count})


class OverrideDetailView(APIView):
    @extend_schema(responses=s.ControlOutput, operation_id="param_overrides_clear_one")
    def delete(self, request: Request, name: str) -> Response:
        if not ParamOverride.objects.filter(name=name).exists():
            raise Http404(f"no override for {name}")
        controls.override_clear(name=name, actor=_actor(request))
        return Response({"success": True, "message": f"cleared {name}", "cleared": 1})


# --- controls -----------------------------------------------------------------------------


class TradingModeView(APIView):
    @extend_schema(request=s.TradingModeInput, responses={200: s.ControlOutput, **REFUSED})
    def post(self, request: Request) -> Response:
        data = s.validated(s.TradingModeInput, request.data)
        mode = data["mode"]
        previous = selectors.controls_current().trading_mode
        try:
            controls.trading_mode_set(mode=mode, confirm=data["confirm"], actor=_actor(request))
        except controls.ControlRefused as refusal:
            return _refused(refusal)
        message = (
            f"Already in {mode} mode"
            if previous == mode
            else f"Switched from {previous} to {mode} trading"
        )
        return Response(
            {"success": True, "mode": mode, "previous_mode": previous, "message": message}
        )


class TradingPauseView(APIView):
    @extend_schema(request=s.TradingPauseInput, responses=s.ControlOutput)
    def post(self, request: Request) -> Response:
        paused = s.validated(s.TradingPauseInput, request.data)["paused"]
        controls.trading_pause_set(paused=paused, actor=_actor(request))
        return Response(
            {
                "success": True,
                "trading_paused": "paused" if paused else "off",
                "message": "Trading paused: no new entries on any lane; exits continue"
                if paused
                else "Trading resumed",
            }
        )


class EmergencyStopView(APIView):
    @extend_schema(request=None, responses=s.ControlOutput)
    def post(self, request: Request) -> Response:
        state = controls.emergency_stop(actor=_actor(request))
        action = (
            f"Emergency stop {state.emergency_stop_seq} requested: the trader closes every"
            " lane's position (paper at its entry price)"
        )
        return Response(
            {
                "success": True,
                "paused": True,
                "actions": [action],
                "emergency_stop_seq": state.emergency_stop_seq,
                "message": "Emergency stop requested. Trading halted.",
            }
        )


class CloseAllExchangePositionsView(APIView):
    @extend_schema(request=None, responses={200: s.ControlOutput, **REFUSED})
    def post(self, request: Request) -> Response:
        try:
            state = controls.close_all_exchange_positions(actor=_actor(request))
        except controls.ControlRefused as refusal:
            return _refused(refusal)
        return Response(
            {
                "success": True,
                "paused": True,
                "close_all_seq": state.close_all_seq,
                "message": "Close-all requested: paused; the trader sells every exchange"
                " position at the 1 ¢ floor.",
            }
        )


class ResetDrawdownView(APIView):
    @extend_schema(
        request=None,
        parameters=[s.ResetDrawdownQuery],
        responses={200: s.ControlOutput, **REFUSED},
    )
    def post(self, request: Request) -> Response:
        mode = _mode(s.validated(s.ResetDrawdownQuery, request.query_params))
        before = selectors.lane_risk(lane=mode)
        try:
            state = controls.reset_drawdown(lane=mode, actor=_actor(request))
        except controls.ControlRefused as refusal:
            return _refused(refusal)
        return Response(
            {
                "success": True,
                "mode": mode,
                "bankroll": float(state.bankroll),
                "old_peak": float(before.get("peak", state.peak)),
                "new_peak": float(state.peak),
                "drawdown_pct": 0.0,
                "message": f"{mode}: peak and daily/weekly baselines set to the bankroll",
            }
        )


class TradeLimitView(APIView):
    @extend_schema(
        request=s.TradeLimitInput, responses={200: s.ControlOutput, 400: s.ControlOutput}
    )
    def post(self, request: Request) -> Response:
        body = s.validated(s.TradeLimitInput, request.data)
        current = selectors.controls_current()
        limit = body.get("limit", current.live_trade_limit)
        try:
            state = controls.trade_limit_set(
                limit=limit, reset=body["reset"], actor=_actor(request)
            )
        except controls.ControlRefused as refusal:  # out of bounds: 400, audited
            return _refused(refusal)
        completed = selectors.live_trades_counted(since=state.live_trade_count_since)
        return Response(
            {
                "success": True,
                "live_trade_limit": state.live_trade_limit,
                "completed_live_trades": completed,
                "can_enter": state.live_trade_limit is None or completed < state.live_trade_limit,
                "message": f"Stored; it applies to the live lane: {controls.LIVE_LANE_MISSING}",
            }
        )
