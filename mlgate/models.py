"""The ML gate's tables (domain.md §7): one row of entry features per position, labelled at
its exit, and the trained model versions (never files in the code tree, BUG-033).

A daemon's rows have ``run`` None; a backtest's carry their ``BacktestRun`` id (by value:
mlgate does not depend on the backtests app) and the run's data source, so a training set
always says what it is made of (simulated books or the exchange's).
"""

from __future__ import annotations

from django.db import models


class TradeFeatures(models.Model):
    position_uid = models.CharField(max_length=64)
    lane = models.CharField(max_length=32)
    source = models.CharField(
        max_length=16, help_text="paper or live (a daemon), backtest (a backtest run)"
    )
    run = models.BigIntegerField(null=True, blank=True, help_text="BacktestRun id, if any")
    data_source = models.CharField(
        max_length=16, blank=True, help_text="a backtest's source: journal, history, archive"
    )
    ticker = models.CharField(max_length=64, blank=True)
    entry_ts_ms = models.BigIntegerField(help_text="when the entry filled (event time)")
    features = models.JSONField(help_text="name → value at the entry (None: not available)")
    # Written at the exit (§7.2): None while the position is open.
    exit_ts_ms = models.BigIntegerField(null=True, blank=True)
    label = models.SmallIntegerField(null=True, blank=True, help_text="+1 / 0 / -1")
    pnl = models.BigIntegerField(null=True, blank=True, help_text="net, micro-dollars")
    mfe = models.FloatField(null=True, blank=True, help_text="best mark pnl fraction held")
    mae = models.FloatField(null=True, blank=True, help_text="worst mark pnl fraction held")
    exit_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["entry_ts_ms", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["position_uid"],
                condition=models.Q(run__isnull=True),
                name="trade_features_daemon_position",
            ),
            models.UniqueConstraint(
                fields=["run", "position_uid"], name="trade_features_run_position"
            ),
        ]
        indexes = [models.Index(fields=["source", "entry_ts_ms"])]

    def __str__(self) -> str:
        return f"{self.source} {self.lane} {self.position_uid} label={self.label}"


class ModelVersion(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    artifact = models.BinaryField(help_text="the booster, XGBoost's JSON model format")
    artifact_sha256 = models.CharField(max_length=64)
    features = models.JSONField(help_text="feature names in the model's column order")
    features_hash = models.CharField(max_length=64)
    threshold = models.FloatField(help_text="p_win at or above which an entry is allowed")
    source = models.CharField(max_length=16, help_text="paper, live, backtest or csv")
    lanes = models.JSONField(default=list, blank=True)
    period_start_ms = models.BigIntegerField(null=True, blank=True)
    period_end_ms = models.BigIntegerField(null=True, blank=True)
    rows = models.IntegerField()
    metrics = models.JSONField(
        default=dict, help_text="OOS precision/recall (time-ordered and shuffled), win rate"
    )
    importances = models.JSONField(default=dict)
    warnings = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=False, help_text="the one the daemon loads")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=models.Q(active=True), name="one_active_model"
            )
        ]

    def __str__(self) -> str:
        return f"model {self.pk} ({self.source}, {self.rows} rows, t={self.threshold:.2f})"


class PromotionLog(models.Model):
    """One row per promotion attempt (weekly retrain or by hand): the candidate, the
    incumbent it was weighed against, and why it was or was not made the active model
    (domain.md §7.3). The newest ``PROMOTION_LOG_KEEP`` rows are kept."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=64, help_text="beat, or the command's user")
    source = models.CharField(max_length=16, help_text="the training rows' source")
    candidate = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incumbent = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted = models.BooleanField()
    reason = models.CharField(max_length=300, help_text="why refused; 'promoted' otherwise")
    details = models.JSONField(default=dict, blank=True, help_text="the figures compared")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {'promoted' if self.promoted else 'refused'}"


class ReadinessNotice(models.Model):
    """The one-shot ML-readiness notification (domain.md §7.4): a row per mode once sent."""

    mode = models.CharField(max_length=16, unique=True)
    sent_at = models.DateTimeField(auto_now_add=True)
    rows = models.IntegerField()
    win_rate = models.FloatField()

    def __str__(self) -> str:
        return f"{self.mode}: {self.rows} rows, sent {self.sent_at:%Y-%m-%d %H:%M}"
