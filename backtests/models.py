"""Backtest runs and their results (interfaces.md §11).

A run is one parameter set over one stretch of one data source: identified by the data's
hash, the parameters' hash and the code version; its trades by a trade-list hash. Runs of
one market pass share a ``batch``. Money is ``Decimal(18,6)`` dollars as everywhere in the
database; metrics and attribution are plain JSON (money in integer micro-dollars there, as
the engine reports it).
"""

from __future__ import annotations

import uuid

from django.db import models

from trading.models import count_field, money_field, price_field


class RunStatus(models.TextChoices):
    QUEUED = "queued"  # started from the admin, waiting for a worker
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class BacktestRun(models.Model):
    batch = models.UUIDField(default=uuid.uuid4, db_index=True, help_text="one market pass")
    name = models.CharField(max_length=64, help_text="parameter set name")
    lane = models.CharField(max_length=8, help_text="lane rules the set ran under")
    source = models.CharField(max_length=16, help_text="journal, history or archive")
    data = models.JSONField(default=dict, help_text="what it ran on (files, books, settlement)")
    data_sha256 = models.CharField(max_length=64, blank=True)
    code_version = models.CharField(max_length=120)
    params = models.JSONField(help_text="every parameter's value")
    params_hash = models.CharField(max_length=64)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    bankroll = money_field(help_text="starting bankroll, dollars")
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.RUNNING)
    error = models.TextField(blank=True)
    progress = models.FloatField(default=0.0, help_text="share of the period's time done")
    events = models.BigIntegerField(default=0)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="last sign of life of the process running it"
    )
    cancel_requested = models.BooleanField(
        default=False, help_text="an operator asked to stop it; the pass checks this"
    )
    requested_by = models.CharField(max_length=150, blank=True, help_text="who started it")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="wall time of the pass")
    trade_list_sha256 = models.CharField(max_length=64, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    attribution = models.JSONField(default=dict, blank=True)
    equity = models.JSONField(
        default=list, blank=True, help_text="[[ts ms, bankroll micro-dollars], ...] per close"
    )

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"backtest {self.pk} {self.name} ({self.source}, {self.status})"


class BacktestTrade(models.Model):
    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="trades")
    position_uid = models.CharField(max_length=64)
    ticker = models.CharField(max_length=64)
    direction = models.CharField(max_length=8)
    conviction = models.CharField(max_length=16, blank=True)
    driver = models.CharField(max_length=32, blank=True)
    regime = models.CharField(max_length=16, blank=True)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField()
    contracts = count_field()
    entry_price = price_field(help_text="YES-space dollars")
    exit_price = price_field(help_text="YES-space dollars")
    entry_cost = money_field()
    exit_proceeds = money_field()
    fees = money_field()
    pnl = money_field()
    pnl_pct = models.FloatField(help_text="PnL / entry cost")
    exit_reason = models.CharField(max_length=40)
    quarantine = models.CharField(max_length=40, blank=True)
    entry_obi = models.FloatField(
        null=True, blank=True, help_text="smoothed OBI when the entry filled (the engine's record)"
    )
    entry_roc = models.FloatField(
        null=True, blank=True, help_text="ROC(roc_lookback) when the entry filled"
    )
    contract_result = models.CharField(
        max_length=3,
        blank=True,
        help_text="the contract's settlement (yes/no) as the pass's data gave it; "
        "empty when it settled after the period",
    )

    class Meta:
        ordering = ["run", "closed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position_uid"], name="backtesttrade_run_uid")
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.ticker} {self.exit_reason} (run {self.run_id})"


class StudyStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class WalkForwardStudy(models.Model):
    """A walk-forward search (``backtests.study``): its request, progress and result. The
    Optuna study of the same ``optuna_name`` (in this database) holds the trials."""

    kind = models.CharField(max_length=16, default="walk_forward", help_text="walk_forward or tune")
    optuna_name = models.CharField(max_length=80, unique=True)
    status = models.CharField(
        max_length=12, choices=StudyStatus.choices, default=StudyStatus.QUEUED
    )
    request = models.JSONField(help_text="the study's options (backtests.study.StudyRequest)")
    windows = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="what it ran on")
    trials_total = models.IntegerField(default=0)
    trials_done = models.IntegerField(default=0)
    tasks_total = models.IntegerField(default=0, help_text="tasks created so far")
    tasks_done = models.IntegerField(default=0)
    best = models.JSONField(default=dict, blank=True, help_text="best trial so far")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    work_seconds = models.FloatField(default=0.0, help_text="wall seconds spent by tasks done")
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="last sign of life of the process coordinating it"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "walk-forward studies"

    def __str__(self) -> str:
        return f"walk-forward {self.pk} ({self.kind}, {self.status})"


class WalkForwardTask(models.Model):
    """One unit of work: a batch's parameter sets of one market-parameter group over one
    time span, as research lanes of one pass. ``result`` holds each trial's trades."""

    study = models.ForeignKey(WalkForwardStudy, on_delete=models.CASCADE, related_name="tasks")
    batch = models.IntegerField()
    group = models.CharField(max_length=200, help_text="market parameters of the group (JSON)")
    span = models.IntegerField(help_text="index of the time span")
    span_start = models.DateTimeField()
    span_end = models.DateTimeField()
    sets = models.JSONField(help_text="[{trial, values}] in lane order")
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    attempts = models.IntegerField(default=0)
    error = models.TextField(blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    progress = models.FloatField(default=0.0, db_default=0.0, help_text="share of the span done")
    seconds = models.FloatField(null=True, blank=True)
    events = models.BigIntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)
    data_sha256 = models.CharField(max_length=64, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="{trial: [[trade], ...]}")

    class Meta:
        ordering = ["study", "batch", "group", "span"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "batch", "group", "span"], name="walkforwardtask_unit"
            )
        ]

    def __str__(self) -> str:
        return f"study {self.study_id} batch {self.batch} span {self.span} ({self.status})"


class RecommendationStatus(models.TextChoices):
    PENDING = "pending"
    APPLIED = "applied"
    DISMISSED = "dismissed"


class TuningRecommendation(models.Model):
    """What the auto-tuner recommends (domain.md §4.5), with its evidence; applied per lane
    by an operator only (audited), never by the tuner itself."""

    study = models.ForeignKey(
        WalkForwardStudy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    current = models.JSONField(help_text="the searched parameters' values when it ran")
    proposed = models.JSONField(help_text="the walk-forward's majority vote")
    changes = models.JSONField(help_text="the clamped changes to apply")
    should_apply = models.BooleanField(default=False)
    reasons = models.JSONField(default=list, help_text="the safety rules' verdicts")
    evidence = models.JSONField(default=dict, help_text="diagnosis, windows, data, budget")
    status = models.CharField(
        max_length=12, choices=RecommendationStatus.choices, default=RecommendationStatus.PENDING
    )
    applied_to = models.JSONField(default=list, blank=True, help_text="lanes it was applied to")
    applied_by = models.CharField(max_length=150, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"tuning recommendation {self.pk} ({self.status})"
