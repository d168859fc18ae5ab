"""What each notification says (domain.md §8), as ``Post``s for their channels.

Pure: engine records and plain values in, webhook bodies out. Money arrives in
micro-dollars, prices in YES-space units of $0.0001, counts in hundredths, times in ms
(interfaces.md §1); only the text shows dollars, cents and contracts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from trading.engine.records import (
    BreakerChanged,
    Decision,
    PositionClosed,
    PositionOpened,
    RegimeChanged,
)
from trading.notifications.embeds import AMBER, BLUE, GREEN, GREY, RED, Post, badge, embed, iso

# --- units in text -----------------------------------------------------------------------


def dollars(micro: int) -> str:
    sign = "-" if micro < 0 else ""
    return f"{sign}${abs(micro) / 1_000_000:,.2f}"


def cents(price: int) -> str:
    """A YES-space price unit ($0.0001) as cents: 4200 → 42¢, 450 → 4.5¢ (deci-cent ticks)."""
    return f"{price / 100:g}¢"


def contracts(count: int) -> str:
    return f"{count / 100:g}"


def duration(ms: int) -> str:
    seconds = max(ms, 0) // 1000
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s"


def ratio(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _lane_mode(lane: str) -> str:
    return "live" if lane == "live" else "paper"


def _trade_channels(lane: str) -> tuple[str, ...]:
    # Both lanes post to trades; the live lane's trades are copied to live trades too.
    return ("trades", "live_trades") if lane == "live" else ("trades",)


# --- trades ------------------------------------------------------------------------------


def trade_opened(record: PositionOpened) -> list[Post]:
    side = "YES" if record.direction == "LONG" else "NO"
    body = embed(
        badge(f"Trade opened: {record.direction} {record.ticker}", _lane_mode(record.lane)),
        fields=(
            ("Side", side),
            ("Entry (YES)", cents(record.entry_yes_price)),
            ("Contracts", contracts(record.count)),
            ("Cost", dollars(record.cost)),
            ("Fees", dollars(record.fees)),
            ("Conviction", record.conviction),
            ("Driver", record.driver),
            ("OBI", ratio(record.entry_obi)),
            ("ROC", ratio(record.entry_roc)),
            ("Regime", record.regime),
        ),
        color=BLUE,
        footer=f"{record.lane} · {record.position_uid}",
        ts_ms=record.ts,
    )
    return [Post(channel, body) for channel in _trade_channels(record.lane)]


def trade_closed(record: PositionClosed, bankroll: int | None) -> list[Post]:
    won = record.pnl >= 0
    body = embed(
        badge(
            f"Trade closed: {record.direction} {record.ticker} {dollars(record.pnl)}",
            _lane_mode(record.lane),
        ),
        fields=(
            ("Direction", record.direction),
            ("Contracts", contracts(record.count)),
            ("Entry (YES)", cents(record.entry_yes_price)),
            ("Exit (YES)", cents(record.exit_yes_price)),
            ("PnL", dollars(record.pnl)),
            ("PnL %", f"{record.pnl_frac * 100:+.2f}%"),
            ("Fees", dollars(record.fees)),
            ("Reason", record.reason),
            ("Held", duration(record.ts - record.opened_ts)),
            ("Conviction", record.conviction),
            ("Bankroll", "-" if bankroll is None else dollars(bankroll)),
        ),
        color=GREEN if won else RED,
        footer=f"{record.lane} · {record.position_uid} · {record.fill_source}",
        ts_ms=record.ts,
    )
    return [Post(channel, body) for channel in _trade_channels(record.lane)]


def live_review(record: PositionClosed, bankroll: int | None, *, channel: str) -> Post:
    """The live lane's post-trade review (domain.md §8): what the round trip cost and why
    it ended, with what looked wrong about it."""
    anomalies = [f"quarantined: {record.quarantine}"] if record.quarantine else []
    if record.pnl_frac < -0.10:
        anomalies.append("loss worse than -10 %")
    return Post(
        channel,
        embed(
            badge(f"Post-trade review: {record.ticker}", "live"),
            description="Anomalies: " + "; ".join(anomalies) if anomalies else "No anomalies.",
            fields=(
                ("Result", "WIN" if record.pnl > 0 else "LOSS" if record.pnl < 0 else "FLAT"),
                ("PnL", dollars(record.pnl)),
                ("Fees", dollars(record.fees)),
                ("Held", duration(record.ts - record.opened_ts)),
                ("Reason", record.reason),
                ("Conviction", record.conviction),
                ("MFE / MAE", f"{ratio(record.mfe)} / {ratio(record.mae)}"),
                ("Fill source", record.fill_source),
                ("Bankroll", "-" if bankroll is None else dollars(bankroll)),
            ),
            color=RED if anomalies else GREY,
            footer=record.position_uid,
            ts_ms=record.ts,
        ),
    )


def trade_quarantined(record: PositionClosed) -> Post:
    return Post(
        "errors",
        embed(
            badge(f"Trade quarantined: {record.quarantine}", _lane_mode(record.lane)),
            description="The trade is kept out of the trades table and its effect on the "
            "bankroll is reversed; look at it before trusting this lane again.",
            fields=(
                ("Ticker", record.ticker),
                ("Direction", record.direction),
                ("PnL", dollars(record.pnl)),
                ("Reason", record.reason),
                ("Held", duration(record.ts - record.opened_ts)),
            ),
            color=RED,
            footer=f"{record.lane} · {record.position_uid}",
            ts_ms=record.ts,
        ),
    )


# --- risk --------------------------------------------------------------------------------


def breaker_changed(record: BreakerChanged) -> Post:
    mode = _lane_mode(record.lane)
    if record.reason:
        title = f"Circuit breaker tripped: {record.reason}"
        description = (
            "New entries are halted until it clears."
            if record.halts
            else "Recorded only: this lane trades on (its breaker does not halt)."
        )
        color = RED
    else:
        title, description, color = "Circuit breaker cleared", "Entries resume.", GREEN
    return Post(
        "risk",
        embed(
            badge(title, mode),
            description=description,
            fields=(("Lane", record.lane), ("Bankroll", dollars(record.bankroll))),
            color=color,
            ts_ms=record.ts,
        ),
    )


def regime_changed(record: RegimeChanged, mode: str, repeats: int = 0) -> Post:
    return Post(
        "risk",
        embed(
            badge(f"ATR regime: {record.old} → {record.new}", mode),
            description=_repeats(repeats).strip(),
            fields=(
                ("ATR %", ratio(record.atr_pct)),
                ("Smoothed ATR %", ratio(record.smoothed_atr_pct)),
            ),
            color=AMBER if record.new == "HIGH" else BLUE,
            ts_ms=record.ts,
        ),
    )


def sizing_failed(record: Decision, repeats: int) -> Post:
    return Post(
        "risk",
        embed(
            badge("Position sizing failed", _lane_mode(record.lane)),
            description="A signal passed every guard but the sizer could not size a "
            "single contract (bankroll, price or limits)." + _repeats(repeats),
            fields=(
                ("Lane", record.lane),
                ("Ticker", record.ticker or "-"),
                ("Conviction", record.conviction),
                ("Driver", record.driver),
                ("YES price", "-" if record.yes_price is None else cents(record.yes_price)),
            ),
            color=AMBER,
            ts_ms=record.ts,
        ),
    )


def tripwire(name: str, detail: str, *, mode: str, fields: Mapping[str, str] = {}) -> Post:
    return Post(
        "risk",
        embed(
            badge(f"Tripwire: {name}", mode),
            description=detail,
            fields=tuple(fields.items()),
            color=RED,
        ),
    )


# --- heartbeat and summaries -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LaneView:
    """What the heartbeat shows of a lane: its bankroll and open position, if any."""

    name: str
    bankroll: int | None
    position: str  # "flat" or "LONG 10 KXBTC15M-… @ 42¢"


def heartbeat(
    *,
    mode: str,
    now_ms: int,
    uptime_ms: int,
    spot: float | None,
    ticker: str | None,
    lanes: Sequence[LaneView],
) -> Post:
    fields = [
        ("Uptime", duration(uptime_ms)),
        ("BTC spot", "-" if spot is None else f"${spot:,.2f}"),
        ("Ticker", ticker or "-"),
    ]
    for lane in lanes:
        bankroll = "-" if lane.bankroll is None else dollars(lane.bankroll)
        fields.append((f"{lane.name}", f"{bankroll} · {lane.position}"))
    return Post("heartbeat", embed(badge("Heartbeat", mode), fields=tuple(fields), ts_ms=now_ms))


@dataclass(slots=True)
class Tally:
    """Closed trades of one lane over a summary period."""

    trades: int = 0
    wins: int = 0
    pnl: int = 0
    fees: int = 0

    def add(self, record: PositionClosed) -> None:
        self.trades += 1
        self.wins += record.pnl > 0
        self.pnl += record.pnl
        self.fees += record.fees


def summary(
    title: str, *, mode: str, now_ms: int, since_ms: int, tallies: Mapping[str, Tally]
) -> Post:
    fields = []
    for lane, tally in sorted(tallies.items()):
        rate = f"{tally.wins / tally.trades:.0%}" if tally.trades else "-"
        fields.append(
            (
                lane,
                f"{tally.trades} trades · {tally.wins} won ({rate}) · PnL {dollars(tally.pnl)}"
                f" · fees {dollars(tally.fees)}",
            )
        )
    total = sum(t.pnl for t in tallies.values())
    return Post(
        "heartbeat",
        embed(
            badge(title, mode),
            description="No trades closed." if not fields else f"Net PnL {dollars(total)}",
            fields=tuple(fields),
            color=GREEN if total >= 0 else RED,
            footer=f"trades closed in [{_hhmm(since_ms)}, {_hhmm(now_ms)}) UTC",
            ts_ms=now_ms,
        ),
    )


def _hhmm(ts_ms: int) -> str:
    return iso(ts_ms)[:16].replace("T", " ")


# --- runtime -----------------------------------------------------------------------------


def trader_started(*, mode: str, lanes: Mapping[str, int | None], restored: bool) -> Post:
    return Post(
        "errors",
        embed(
            badge("Trader started" + (" (restored)" if restored else ""), mode),
            fields=_bankroll_fields(lanes),
            color=GREEN,
        ),
    )


def trader_stopped(*, mode: str, uptime_ms: int, lanes: Mapping[str, int | None]) -> Post:
    return Post(
        "errors",
        embed(
            badge("Trader stopped", mode),
            fields=(("Uptime", duration(uptime_ms)), *_bankroll_fields(lanes)),
            color=GREY,
        ),
    )


def _bankroll_fields(lanes: Mapping[str, int | None]) -> tuple[tuple[str, str], ...]:
    return tuple(
        (f"{lane} bankroll", "-" if bankroll is None else dollars(bankroll))
        for lane, bankroll in lanes.items()
    )


def feed_state(*, mode: str, name: str, state: str, repeats: int) -> Post:
    connected = state == "connected"
    return Post(
        "errors",
        embed(
            badge(f"Feed {name}: {state}", mode),
            description=_repeats(repeats),
            color=GREEN if connected else RED,
        ),
    )


def db_error(*, mode: str, text: str, repeats: int) -> Post:
    return Post(
        "errors",
        embed(badge("Database error", mode), description=text + _repeats(repeats), color=RED),
    )


def event_failed(*, mode: str, kind: str, error: str, repeats: int) -> Post:
    return Post(
        "errors",
        embed(
            badge(f"Event failed: {kind}", mode),
            description="The trader skipped it and trades on.\n" + error + _repeats(repeats),
            color=RED,
        ),
    )


def _repeats(repeats: int) -> str:
    """Burst suppression's count: how many more of these the interval held back."""
    if repeats <= 0:
        return ""
    return f"\n{repeats} more since the last post (bursts post once per interval)."


# --- jobs (attribution channel, backups) -------------------------------------------------


def report(
    channel: str,
    title: str,
    *,
    mode: str,
    text: str = "",
    fields: Mapping[str, str] = {},
    color: int = BLUE,
) -> Post:
    return Post(
        channel,
        embed(badge(title, mode), description=text, fields=tuple(fields.items()), color=color),
    )
