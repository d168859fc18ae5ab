"""Models of the trading app (domain.md §3.20, units per interfaces.md §1).

Prices are ``Decimal(10,4)`` dollars (YES space), counts ``Decimal(14,2)`` contracts, money
``Decimal(18,6)`` dollars, times UTC. Ratios (OBI, ROC, drawdown, PnL %) are floats: they are
signal inputs and display figures, never money. Writes go through ``trading.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


def price_field(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=10, decimal_places=4, **kwargs)  # type: ignore[arg-type]


def count_field(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=14, decimal_places=2, **kwargs)  # type: ignore[arg-type]


def money_field(**kwargs: object) -> models.DecimalField:
    return models.DecimalField(max_digits=18, decimal_places=6, **kwargs)  # type: ignore[arg-type]


class Lane(models.TextChoices):
    PAPER = "paper", "Paper"
    LIVE = "live", "Live"


class Direction(models.TextChoices):
    LONG = "long", "Long (YES)"
    SHORT = "short", "Short (NO)"


class TraderHeartbeat(models.Model):
    """One row per trader process, touched every few seconds while it runs."""

    process = models.CharField(max_length=64, unique=True)
    pid = models.IntegerField()
    hostname = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.process} pid {self.pid} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class Trade(models.Model):
    """A closed round trip. Quarantined rows stay here, flagged, and out of every aggregate."""

    lane = models.CharField(max_length=8, choices=Lane.choices)
    ticker = models.CharField(max_length=64)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    conviction = models.CharField(max_length=16, blank=True)
    driver = models.CharField(max_length=32, blank=True)
    regime = models.CharField(max_length=16, blank=True, help_text="ATR regime at entry")
    entry_price = price_field(help_text="YES-space dollars")
    exit_price = price_field(help_text="YES-space dollars")
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField()
    contracts = count_field()
    entry_cost = money_field(help_text="premium paid, dollars")
    exit_proceeds = money_field(help_text="proceeds or settlement payout, dollars")
    fees = money_field()
    pnl = money_field()
    pnl_pct = models.FloatField(help_text="PnL / entry cost")
    exit_reason = models.CharField(max_length=40)
    entry_obi = models.FloatField(null=True, blank=True)
    entry_roc = models.FloatField(null=True, blank=True)
    held_s = models.IntegerField(default=0)
    reasons = models.JSONField(default=dict, blank=True, help_text="the entry decision's reasons")
    params_hash = models.CharField(max_length=64, blank=True)
    position_uid = models.CharField(max_length=64, unique=True)
    entry_client_order_id = models.CharField(max_length=64, blank=True)
    exit_client_order_id = models.CharField(max_length=64, blank=True)
    fill_source = models.CharField(max_length=40, blank=True)
    data_quality_flag = models.CharField(max_length=40, blank=True)
    quarantined = models.BooleanField(default=False)
    error_reason = models.CharField(max_length=200, blank=True)
    flagged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-closed_at", "-id"]
        indexes = [
            models.Index(fields=["lane", "-closed_at"], name="trade_lane_closed"),
            models.Index(fields=["lane", "exit_reason"], name="trade_lane_reason"),
            models.Index(fields=["ticker", "-closed_at"], name="trade_ticker_closed"),
        ]

    def __str__(self) -> str:
        return f"{self.lane} {self.direction} {self.ticker} {self.pnl} ({self.exit_reason})"

    @property
    def is_counted(self) -> bool:
        """Whether aggregates (stats, win rate, attribution) may include this row."""
        return not self.quarantined and not self.data_quality_flag


class OpenPosition(models.Model):
    """A lane's position while it is held; deleted (and a ``Trade`` written) when it closes."""

    lane = models.CharField(max_length=8, choices=Lane.choices)
    position_uid = models.CharField(max_length=64, unique=True)
    ticker = models.CharField(max_length=64)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    contracts = count_field()
    entry_price = price_field(help_text="YES-space dollars")
    opened_at = models.DateTimeField()
    cost = money_field(help_text="premium paid, dollars")
    fees = money_field(default=0)
    stop_price = price_field(null=True, blank=True, help_text="YES-space dollars")
    target_price = price_field(null=True, blank=True, help_text="YES-space dollars")
    conviction = models.CharField(max_length=16, blank=True)
    driver = models.CharField(max_length=32, blank=True)
    regime = models.CharField(max_length=16, blank=True)
    entry_obi = models.FloatField(null=True, blank=True)
    entry_roc = models.FloatField(null=True, blank=True)
    reasons = models.JSONField(default=dict, blank=True)
    params_hash = models.CharField(max_length=64, blank=True)
    entry_client_order_id = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["lane", "opened_at"]
        indexes = [models.Index(fields=["lane", "opened_at"], name="position_lane_opened")]

    def __str__(self) -> str:
        return f"{self.lane} {self.direction} {self.contracts} {self.ticker} @ {self.entry_price}"


class BankrollSnapshot(models.Model):
    """The equity curve: one row per lane at each trade close (and periodically)."""

    lane = models.CharField(max_length=8, choices=Lane.choices)
    ts = models.DateTimeField()
    bankroll = money_field()
    peak = money_field()
    drawdown = models.FloatField(help_text="(peak - bankroll) / peak")
    daily_pnl = money_field(help_text="sum of today's (UTC) PnL")
    trade_count = models.IntegerField(default=0)

    class Meta:
        ordering = ["lane", "ts"]
        indexes = [models.Index(fields=["lane", "-ts"], name="bankroll_lane_ts")]

    def __str__(self) -> str:
        return f"{self.lane} {self.ts:%Y-%m-%d %H:%M:%S} {self.bankroll}"


class DecisionKind(models.TextChoices):
    SAMPLE = "sample", "Sample"  # at most one a second per lane
    CHANGE = "change", "Decision changed"
    ENTRY = "entry", "Entry"
    EXIT = "exit", "Exit"


class Decision(models.Model):
    """The signal log: every change of decision, ≤ 1 row/s/lane otherwise, every entry and exit."""

    lane = models.CharField(max_length=8, choices=Lane.choices)
    ts = models.DateTimeField()
    kind = models.CharField(max_length=8, choices=DecisionKind.choices)
    ticker = models.CharField(max_length=64, blank=True)
    direction = models.CharField(max_length=8, blank=True, help_text="long, short or empty")
    conviction = models.CharField(max_length=16, blank=True)
    size_mult = models.FloatField(
        null=True,
        blank=True,
        help_text="the conviction's size multiplier (HIGH 1.30, NORMAL 1.00, LOW 0.65, NONE 0);"
        " empty on exit rows and rows logged before it existed",
    )
    driver = models.CharField(max_length=32, blank=True)
    obi = models.FloatField(null=True, blank=True)
    roc = models.FloatField(null=True, blank=True)
    regime = models.CharField(max_length=16, blank=True)
    spread_state = models.CharField(max_length=16, blank=True)
    skip_reason = models.CharField(max_length=64, blank=True)
    reasons = models.JSONField(default=dict, blank=True)
    params_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-ts", "-id"]
        indexes = [models.Index(fields=["lane", "-ts"], name="decision_lane_ts")]

    def __str__(self) -> str:
        return f"{self.lane} {self.ts:%H:%M:%S} {self.kind} {self.direction or self.skip_reason}"


class BreakerState(models.TextChoices):
    OK = "ok", "OK"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT", "Daily loss limit"
    WEEKLY_LOSS_LIMIT = "WEEKLY_LOSS_LIMIT", "Weekly loss limit"
    MAX_DRAWDOWN_HALT = "MAX_DRAWDOWN_HALT", "Max drawdown halt"


class BotState(models.Model):
    """Per-lane restorable state: sizer and breaker figures plus the engine's snapshot blob."""

    lane = models.CharField(max_length=8, choices=Lane.choices, unique=True)
    bankroll = money_field()
    peak = money_field()
    daily_baseline = money_field()
    daily_baseline_at = models.DateTimeField(null=True, blank=True)
    weekly_baseline = money_field()
    weekly_baseline_at = models.DateTimeField(null=True, blank=True)
    breaker_state = models.CharField(
        max_length=24, choices=BreakerState.choices, default=BreakerState.OK
    )
    breaker_tripped_at = models.DateTimeField(null=True, blank=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    cooldowns = models.JSONField(default=dict, blank=True, help_text="ticker → until (ms)")
    trades_today = models.IntegerField(default=0)
    # An operator's drawdown reset is a request the daemon applies to its engine: it sees the
    # sequence number move (announcement or one-second poll) and resets its own sizer.
    drawdown_reset_seq = models.IntegerField(default=0)
    drawdown_reset_at = models.DateTimeField(null=True, blank=True)
    engine_snapshot = models.JSONField(default=dict, blank=True)
    snapshot_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "bot state (lane)"
        verbose_name_plural = "bot state (lanes)"

    def __str__(self) -> str:
        return f"{self.lane}: {self.bankroll} (peak {self.peak}, {self.breaker_state})"


class TradingMode(models.TextChoices):
    PAPER = "paper", "Paper"
    LIVE = "live", "Live"


class TradingControls(models.Model):
    """The global operator controls: a single row (pk=1) the daemon re-reads every second."""

    trading_mode = models.CharField(
        max_length=8, choices=TradingMode.choices, default=TradingMode.PAPER
    )
    paused = models.BooleanField(default=False, help_text="no new entries on any lane")
    emergency_stop_seq = models.IntegerField(default=0)
    emergency_stop_handled_seq = models.IntegerField(default=0)
    emergency_stop_at = models.DateTimeField(null=True, blank=True)
    live_trade_limit = models.IntegerField(null=True, blank=True)
    live_trade_count_since = models.DateTimeField(null=True, blank=True)
    # Close all exchange positions (live): a request the daemon handles once (like the stop).
    close_all_seq = models.IntegerField(default=0)
    close_all_handled_seq = models.IntegerField(default=0)
    version = models.IntegerField(default=0, help_text="bumped on every change")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "trading controls"
        verbose_name_plural = "trading controls"

    def __str__(self) -> str:
        return f"{self.trading_mode}{' paused' if self.paused else ''} (v{self.version})"

    @property
    def emergency_stop_pending(self) -> bool:
        return self.emergency_stop_seq > self.emergency_stop_handled_seq


class ParamOverride(models.Model):
    """One row per overridden engine parameter and lane (interfaces.md §5).

    A blank lane is a global override (every lane); a lane's own row wins over it for that
    lane. Market parameters shape the market every lane shares: they are only global and
    apply at the trader's next start; lane parameters apply within a second."""

    name = models.CharField(max_length=64)
    lane = models.CharField(
        max_length=32, blank=True, default="", help_text="blank: every lane (global)"
    )
    value = models.JSONField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    set_by_label = models.CharField(max_length=150, help_text="username, or tuner/task name")
    set_at = models.DateTimeField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name", "lane"]
        constraints = [
            models.UniqueConstraint(fields=["name", "lane"], name="paramoverride_name_lane"),
        ]

    def __str__(self) -> str:
        return f"{self.name}{f' [{self.lane}]' if self.lane else ''} = {self.value!r}"


class ControlAudit(models.Model):
    """Who did what to the controls, when, and the state before and after. Append-only."""

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=150)
    source = models.CharField(max_length=16, help_text="api, admin, dashboard, daemon, task")
    action = models.CharField(max_length=48)
    applied = models.BooleanField(default=True, help_text="false when the control refused")
    message = models.CharField(max_length=300, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"


# --- the live lane (issue #21) ------------------------------------------------------------


class LivePositionState(models.Model):
    """The live position manager's state (domain.md §3.17.8), written at every transition
    and restored at start: state, the position as the exchange should show it, an order
    whose outcome is unknown, orphans, round trips, settled tickers and cooldowns."""

    lane = models.CharField(max_length=32, unique=True)
    state = models.CharField(max_length=16, default="FLAT")
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "live position state"

    def __str__(self) -> str:
        return f"{self.lane}: {self.state}"


class LiveTradeCheck(models.Model):
    """One live round trip's check (§3.18, ``trading.venues.trade_check``): PnL from both
    legs' cash against the wallet's change between the snapshot before the entry and the
    one after the exit, and the post-trade anomaly check. ``flagged`` says why a row needs
    an operator (``BUG-025: PnL drift …``, ``TRADE_ANOMALY: …``, both joined by "; "): a
    diagnostic beside the trade, which stays in the totals."""

    at = models.DateTimeField(auto_now_add=True)
    lane = models.CharField(max_length=32)
    ticker = models.CharField(max_length=64)
    entry_client_order_id = models.CharField(max_length=64, blank=True)
    entry_order_id = models.CharField(max_length=64, blank=True)
    exit_order_ids = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=40, blank=True)
    entry_cost = money_field()
    exit_proceeds = money_field()
    fees = money_field()
    pnl = money_field()
    wallet_at_entry = money_field(null=True, blank=True)
    wallet_after_exit = money_field(null=True, blank=True)
    wallet_pnl = money_field(null=True, blank=True)
    drift = money_field(null=True, blank=True)
    flagged = models.CharField(max_length=500, blank=True)
    fill_source = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.lane} {self.ticker} pnl {self.pnl} drift {self.drift} {self.flagged}"


# --- live safety: orphans (issue #22) -----------------------------------------------------


class LiveOrphan(models.Model):
    """An exchange position the live lane did not hold as its own (domain.md §3.17.7), as
    the operator sees it: what it is, what it exposes, why it was adopted, and how it
    ended. The position manager's state (``LivePositionState``) is what blocks entries;
    these rows follow it (one open row per lane and ticker) and keep the history."""

    lane = models.CharField(max_length=32)
    ticker = models.CharField(max_length=64)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    contracts = count_field()
    cost = money_field(help_text="what the open orphan cost, dollars (0: unknown)")
    exposure = money_field(help_text="cost, or contracts × $1 when the cost is unknown")
    cause = models.CharField(max_length=40)
    counted = models.BooleanField(default=False)
    detected_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=40, blank=True)
    trade = models.ForeignKey(Trade, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["lane", "ticker"],
                condition=models.Q(closed_at__isnull=True),
                name="live_orphan_one_open_per_ticker",
            )
        ]

    def __str__(self) -> str:
        state = f"closed {self.close_reason}" if self.closed_at else "open"
        return f"{self.lane} orphan {self.ticker} {self.contracts} ({self.cause}, {state})"
