"""``/api/backtest/…``: stored runs for API clients (the API's read rules). Headline money
in dollars; the report's full metrics and attribution are the stored JSON, money there in
integer micro-dollars."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import Http404
from django.urls import URLPattern, reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backtests import selectors
from backtests.models import BacktestRun, RunStatus, TuningRecommendation, WalkForwardStudy
from backtests.report import FIRST_TRADES
from backtests.study import progress_of
from trading.api.serializers import validated
from trading.api.urls import both


class SummarySerializer(serializers.Serializer):
    trades = serializers.IntegerField()
    net_pnl = serializers.FloatField(help_text="dollars, after fees")
    fees = serializers.FloatField(help_text="dollars")
    total_return = serializers.FloatField()
    win_rate = serializers.FloatField()
    sharpe = serializers.FloatField()
    sortino = serializers.FloatField()
    max_drawdown = serializers.FloatField()
    profit_factor = serializers.FloatField(allow_null=True, help_text="null: no losing trade")
    passes_minimum = serializers.BooleanField()
    red_flags = serializers.ListField(child=serializers.CharField())


class RunSerializer(serializers.ModelSerializer[BacktestRun]):
    bankroll = serializers.FloatField(help_text="starting bankroll, dollars")
    summary = serializers.SerializerMethodField()
    report_url = serializers.SerializerMethodField()

    class Meta:
        model = BacktestRun
        fields = (
            "id", "batch", "name", "lane", "source", "data", "data_sha256", "code_version",
            "params_hash", "period_start", "period_end", "bankroll", "status", "error",
            "progress", "events", "created_at", "finished_at", "heartbeat_at",
            "cancel_requested", "requested_by", "seconds", "trade_list_sha256", "summary",
            "report_url",
        )  # fmt: skip

    @extend_schema_field(SummarySerializer(allow_null=True))
    def get_summary(self, run: BacktestRun) -> dict[str, Any] | None:
        return selectors.run_summary(run)

    def get_report_url(self, run: BacktestRun) -> str:
        return reverse("backtest-report", args=[run.pk])


class TradeSerializer(serializers.Serializer):
    ticker = serializers.CharField()
    direction = serializers.CharField()
    conviction = serializers.CharField()
    regime = serializers.CharField()
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField()
    contracts = serializers.FloatField()
    entry_price = serializers.FloatField()
    exit_price = serializers.FloatField()
    fees = serializers.FloatField()
    pnl = serializers.FloatField()
    pnl_pct = serializers.FloatField()
    exit_reason = serializers.CharField()
    driver = serializers.CharField(help_text="the signals that drove the entry")
    entry_obi = serializers.FloatField(allow_null=True)
    entry_roc = serializers.FloatField(allow_null=True)
    contract_result = serializers.CharField(help_text="yes, no, or empty: settled after the period")


class ReportSerializer(serializers.Serializer):
    run = RunSerializer()
    metrics = serializers.DictField(help_text="every §4.3 figure; money in micro-dollars")
    attribution = serializers.DictField(help_text="attribution.breakdown.attribute's output")
    equity = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="[ts ms, bankroll micro-dollars] after each close",
    )
    params = serializers.DictField()
    trades = TradeSerializer(many=True, help_text=f"the first {FIRST_TRADES}")
    trade_count = serializers.IntegerField()


class RunsQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)


class RunListView(ListAPIView[BacktestRun]):
    """Stored backtest runs, newest first (50 a page)."""

    serializer_class = RunSerializer

    def get_queryset(self) -> Any:
        query = validated(RunsQuery, self.request.query_params)
        return selectors.runs_list(status=query.get("status"))

    @extend_schema(parameters=[RunsQuery])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class LatestRunView(APIView):
    """The newest run, whatever its status (a running one shows its progress)."""

    @extend_schema(responses=RunSerializer)
    def get(self, request: Request) -> Response:
        run = selectors.run_latest()
        if run is None:
            raise Http404("no backtest run yet")
        return Response(RunSerializer(run).data)


class RunReportView(APIView):
    """A run's report as data (the HTML page is at ``report_url``)."""

    @extend_schema(responses=ReportSerializer)
    def get(self, request: Request, pk: int) -> Response:
        run = BacktestRun.objects.filter(pk=pk).first()
        if run is None:
            raise Http404(f"no backtest run {pk}")
        trades = selectors.run_trades(run=run, limit=FIRST_TRADES)
        report = {
            "run": run,
            "metrics": run.metrics,
            "attribution": run.attribution,
            "equity": run.equity,
            "params": run.params,
            "trades": trades,
            "trade_count": run.trades.count(),
        }
        return Response(ReportSerializer(report).data)


class StudySerializer(serializers.ModelSerializer[WalkForwardStudy]):
    progress = serializers.SerializerMethodField(help_text="done/total, best so far, ETA")
    report_url = serializers.SerializerMethodField()

    class Meta:
        model = WalkForwardStudy
        fields: tuple[str, ...] = (
            "id", "kind", "status", "request", "windows", "trials_total", "trials_done",
            "tasks_total", "tasks_done", "best", "error", "requested_by", "created_at",
            "started_at", "finished_at", "progress", "report_url",
        )  # fmt: skip

    @extend_schema_field(serializers.DictField())
    def get_progress(self, study: WalkForwardStudy) -> dict[str, Any]:
        return asdict(progress_of(study))

    def get_report_url(self, study: WalkForwardStudy) -> str:
        return reverse("walk-forward-report", args=[study.pk])


class StudyDetailSerializer(StudySerializer):
    class Meta(StudySerializer.Meta):
        fields = (*StudySerializer.Meta.fields, "result", "data")


class StudyListView(ListAPIView[WalkForwardStudy]):
    """Walk-forward and tuning studies, newest first, with their progress."""

    serializer_class = StudySerializer
    queryset = WalkForwardStudy.objects.all()


class StudyDetailView(APIView):
    """A study with its result (windows, diagnosis, recommendation, final parameters)."""

    @extend_schema(responses=StudyDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        study = WalkForwardStudy.objects.filter(pk=pk).first()
        if study is None:
            raise Http404(f"no walk-forward study {pk}")
        return Response(StudyDetailSerializer(study).data)


class RecommendationSerializer(serializers.ModelSerializer[TuningRecommendation]):
    class Meta:
        model = TuningRecommendation
        fields = (
            "id", "study", "created_at", "current", "proposed", "changes", "should_apply",
            "reasons", "evidence", "status", "applied_to", "applied_by", "applied_at",
        )  # fmt: skip


class RecommendationListView(ListAPIView[TuningRecommendation]):
    """The auto-tuner's recommendations, newest first (never applied by the tuner)."""

    serializer_class = RecommendationSerializer
    queryset = TuningRecommendation.objects.all()


class ApplyInput(serializers.Serializer):
    lane = serializers.CharField(
        allow_blank=True, default="", help_text="the lane whose overrides it becomes; blank: all"
    )


class RecommendationApplyView(APIView):
    """An operator applies a recommendation's clamped changes to one lane (audited)."""

    @extend_schema(request=ApplyInput, responses={200: RecommendationSerializer})
    def post(self, request: Request, pk: int) -> Response:
        from backtests.autotune import ApplyRefused, recommendation_apply
        from trading.services.controls import Actor

        rec = TuningRecommendation.objects.filter(pk=pk).first()
        if rec is None:
            raise Http404(f"no tuning recommendation {pk}")
        body = validated(ApplyInput, request.data)
        try:
            rec = recommendation_apply(
                rec=rec, lane=body["lane"], actor=Actor.from_user(request.user, source="api")
            )
        except ApplyRefused as refused:
            return Response({"success": False, "message": str(refused)}, status=400)
        return Response(RecommendationSerializer(rec).data)


urlpatterns: list[URLPattern] = [
    *both("backtest/runs", RunListView.as_view(), "backtest-runs"),
    *both("backtest/latest", LatestRunView.as_view(), "backtest-latest"),
    *both("backtest/runs/<int:pk>/report", RunReportView.as_view(), "backtest-run-report"),
    *both("walkforward/studies", StudyListView.as_view(), "walkforward-studies"),
    *both("walkforward/studies/<int:pk>", StudyDetailView.as_view(), "walkforward-study"),
    *both("tuning/recommendations", RecommendationListView.as_view(), "tuning-recommendations"),
    *both(
        "tuning/recommendations/<int:pk>/apply",
        RecommendationApplyView.as_view(),
        "tuning-recommendation-apply",
    ),
]
