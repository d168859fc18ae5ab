"""Tables of the marketdata app: the recorded event journal and what is derived from it.

Units follow interfaces.md §1: contract prices ``Decimal(10,4)`` dollars, counts
``Decimal(14,2)`` contracts, BTC prices ``Decimal(14,2)``, times ``DateTimeField`` (UTC).
The journal (``RecordedEvent``) is the replay source of truth; the other tables are typed
views of the same stream for charts, warm-up, TFI and settlement look-ups.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.indexes import BrinIndex
from django.db import models


class TimeBrinIndex(BrinIndex):
    """BRIN on PostgreSQL (append-only time columns: tiny and fast for range scans); a plain
    btree elsewhere, so the embedded SQLite profile migrates the same models."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        return models.Index.create_sql(self, model, schema_editor, using=using, **kwargs)

    def check_supported(self, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().check_supported(schema_editor)


class RecordingSession(models.Model):
    """One recorder run (one daemon start). Events are ordered by (session, seq)."""

    started_at = models.DateTimeField(help_text="Wall time the recorder started (UTC).")
    ended_at = models.DateTimeField(null=True, blank=True)
    label = models.CharField(max_length=100, blank=True)
    recorded = models.BigIntegerField(default=0, help_text="Events stored so far.")
    dropped = models.BigIntegerField(
        default=0, help_text="Events lost to a full buffer (their seq numbers are missing)."
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"session {self.pk} ({self.label or 'unlabelled'}, {self.started_at:%Y-%m-%d %H:%M})"


class RecordedEvent(models.Model):
    """One normalised event exactly as the engine consumed it (interfaces.md §3)."""

    session = models.ForeignKey(
        RecordingSession, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    seq = models.BigIntegerField(help_text="Position in the session's stream from 1; gaps: drops.")
    ts = models.DateTimeField(help_text="Exchange time of the event (UTC).")
    kind = models.CharField(max_length=24)
    ticker = models.CharField(max_length=64, blank=True, default="")
    fields = models.JSONField(help_text="event_to_dict(event): exact ints, kind not included.")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "seq"], name="recordedevent_session_seq_uniq"
            )
        ]
        indexes = [
            TimeBrinIndex(fields=["ts"], name="recordedevent_ts_brin"),
            # Spot and clock events have no ticker; leaving them out saves ~40% of the entries.
            models.Index(
                fields=["ticker", "ts"],
                name="recordedevent_ticker_ts",
                condition=~models.Q(ticker=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} @ {self.ts:%Y-%m-%d %H:%M:%S.%f}"


class Candle(models.Model):
    """BTC spot OHLCV bar. Read by charts, the ATR/ROC warm-up and the backtester."""

    SOURCE_BINANCE = "binance"
    SOURCE_LIVE = "live"

    source = models.CharField(max_length=16)
    interval_s = models.PositiveIntegerField(help_text="60 or 900.")
    open_time = models.DateTimeField()
    open = models.DecimalField(max_digits=14, decimal_places=2)
    high = models.DecimalField(max_digits=14, decimal_places=2)
    low = models.DecimalField(max_digits=14, decimal_places=2)
    close = models.DecimalField(max_digits=14, decimal_places=2)
    volume = models.DecimalField(
        max_digits=24, decimal_places=8, default=0, help_text="Base asset (BTC); 0 for live bars."
    )
    tick_count = models.PositiveIntegerField(default=0, help_text="Updates in the bar (live only).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "interval_s", "open_time"],
                name="candle_source_interval_time_uniq",
            )
        ]
        indexes = [TimeBrinIndex(fields=["open_time"], name="candle_open_time_brin")]

    def __str__(self) -> str:
        return f"{self.source} {self.interval_s}s {self.open_time:%Y-%m-%d %H:%M}"


class OrderBookSnapshot(models.Model):
    """Top of a Kalshi book every 30 s of event time per ticker (domain.md §2.7 [NEW]).

    ``yes_bids``/``no_bids`` are ``[[price_units, count_hundredths], …]`` best first, exact
    ints as in the events; the decimal columns are for humans and SQL.
    """

    ticker = models.CharField(max_length=64)
    ts = models.DateTimeField()
    yes_bids = models.JSONField()
    no_bids = models.JSONField()
    best_yes_bid = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    best_yes_ask = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    yes_depth = models.DecimalField(max_digits=14, decimal_places=2, help_text="Top 10, contracts.")
    no_depth = models.DecimalField(max_digits=14, decimal_places=2, help_text="Top 10, contracts.")
    obi = models.FloatField(null=True, blank=True, help_text="yes_depth / (yes_depth + no_depth).")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticker", "ts"], name="orderbooksnapshot_ticker_ts_uniq"
            )
        ]
        indexes = [TimeBrinIndex(fields=["ts"], name="orderbooksnapshot_ts_brin")]

    def __str__(self) -> str:
        return f"{self.ticker} book @ {self.ts:%Y-%m-%d %H:%M:%S}"


class PublicTradeRecord(models.Model):
    """A Kalshi public trade (the TFI source)."""

    ticker = models.CharField(max_length=64)
    ts = models.DateTimeField()
    trade_id = models.CharField(max_length=64, blank=True, default="")
    yes_price = models.DecimalField(max_digits=10, decimal_places=4)
    count = models.DecimalField(max_digits=14, decimal_places=2)
    taker_side = models.CharField(max_length=3, choices=[("yes", "yes"), ("no", "no")])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticker", "trade_id"],
                condition=~models.Q(trade_id=""),
                name="publictrade_ticker_trade_id_uniq",
            )
        ]
        indexes = [
            TimeBrinIndex(fields=["ts"], name="publictrade_ts_brin"),
            models.Index(fields=["ticker", "ts"], name="publictrade_ticker_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.ticker} {self.taker_side} {self.count}@{self.yes_price}"


class Market(models.Model):
    """A contract's metadata and latest lifecycle phase; ``result`` once determined."""

    ticker = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=12)
    strike = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="Price to beat (BTC)."
    )
    open_time = models.DateTimeField()
    close_time = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=3, blank=True, default="")
    fee_type = models.CharField(max_length=32)
    fee_multiplier = models.CharField(max_length=32, help_text="Exact rational, 'p/q'.")
    status_time = models.DateTimeField(help_text="Event time of the latest status.")

    class Meta:
        indexes = [models.Index(fields=["close_time"], name="market_close_time")]

    def __str__(self) -> str:
        return self.ticker


class SettledMarket(models.Model):
    """A settled market as Kalshi lists it (``GET /markets?status=settled``), written by
    ``manage.py backfill_settled``: the real price to beat and result that the simulator
    (``--settled table``) and backtests settle covered windows with."""

    ticker = models.CharField(max_length=64, unique=True)
    series = models.CharField(max_length=32)
    open_time = models.DateTimeField()
    close_time = models.DateTimeField()
    floor_strike = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="Price to beat."
    )
    expiration_value = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, help_text="Settlement value."
    )
    result = models.CharField(max_length=3, blank=True, default="", help_text="yes, no or ''.")
    volume = models.DecimalField(
        max_digits=16, decimal_places=2, null=True, blank=True, help_text="Contracts traded."
    )
    settlement_time = models.DateTimeField(help_text="When Kalshi settled it.")
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["series", "close_time"], name="settled_series_close"),
            models.Index(fields=["series", "settlement_time"], name="settled_series_time"),
        ]

    def __str__(self) -> str:
        return f"{self.ticker} {self.result or '?'}"
