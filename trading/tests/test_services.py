from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from trading import selectors
from trading.engine.intents import ClosePosition
from trading.engine.records import Decision as EngineDecision
from trading.models import ControlAudit, Decision, OpenPosition, ParamOverride, Trade
from trading.runtime import outputs
from trading.services import controls, trades
from trading.tests import factories
from trading.tests.factories import T0_MS

pytestmark = pytest.mark.django_db

ROBOT = controls.Actor(label="tester", source="test")


def test_position_close_moves_the_position_into_a_trade_with_exact_units():
    trades.position_open(
        lane="paper",
        position_uid="paper-1",
        ticker="T",
        direction="short",
        contracts=500,
        entry_price=2500,
        opened_at_ms=T0_MS,
        cost=3_750_000,
        fees=90_000,
        stop_price=2650,
        target_price=2275,
        conviction="HIGH",
        driver="OBI+ROC",
        regime="LOW",
        reasons={"why": ["obi"]},
        params_hash="h1",
    )
    assert trades.position_update(position_uid="paper-1", fees=100_000)
    trade = trades.position_close(
        position_uid="paper-1",
        exit_price=2300,
        closed_at_ms=T0_MS + 125_000,
        exit_proceeds=3_850_000,
        fees=180_000,
        pnl=-80_000,
        exit_reason="TAKE_PROFIT",
    )
    assert not OpenPosition.objects.exists()
    trade.refresh_from_db()
    assert trade.entry_price == Decimal("0.2500")
    assert trade.contracts == Decimal("5.00")
    assert trade.pnl == Decimal("-0.080000")
    assert trade.held_s == 125
    assert trade.reasons == {"why": ["obi"]}
    assert trade.params_hash == "h1"
    assert trade.regime == "LOW"


def test_quarantined_trades_are_listed_but_not_counted():
    factories.trade(pnl=1_000_000)
    factories.trade(pnl=-9_000_000, quarantined=True, error_reason="INSTANT_STOP_LOSS")
    factories.trade(pnl=-2_000_000, data_quality_flag="CORRUPTED_PNL")
    factories.trade(pnl=-3_000_000, exit_reason="ORPHAN_SETTLED")
    stats = selectors.trade_stats(lane="paper")
    assert stats["count"] == 1
    assert stats["total_pnl"] == Decimal("1.000000")
    assert stats["flagged"] == 2
    assert selectors.trades_list(lane="paper").count() == 4


def test_stats_report_best_worst_average_and_win_rate_by_regime():
    factories.trade(pnl=3_000_000, regime="LOW")
    factories.trade(pnl=-1_000_000, regime="LOW")
    factories.trade(pnl=1_000_000, regime="HIGH")
    stats = selectors.trade_stats(lane="paper")
    assert stats["best"] == Decimal("3.000000")
    assert stats["worst"] == Decimal("-1.000000")
    assert stats["avg"] == Decimal("1.000000")
    by_regime = {row["regime"]: row for row in selectors.win_rate_by_regime(lane="paper")}
    assert by_regime["LOW"]["win_rate"] == 0.5
    assert by_regime["HIGH"]["win_rate"] == 1.0


def test_bankroll_record_computes_drawdown():
    row = trades.bankroll_record(
        lane="paper",
        ts_ms=T0_MS,
        bankroll=900_000_000,
        peak=1_000_000_000,
        daily_pnl=-5_000_000,
        trade_count=4,
    )
    assert row.drawdown == pytest.approx(0.1)
    assert row.bankroll == Decimal("900.000000")


def test_decision_gate_keeps_changes_entries_and_one_sample_a_second():
    gate = trades.DecisionLogGate()
    kinds = [
        gate.kind_for(lane="paper", ts_ms=T0_MS, direction="", skip_reason="NO_SIGNAL"),
        gate.kind_for(lane="paper", ts_ms=T0_MS + 100, direction="", skip_reason="NO_SIGNAL"),
        gate.kind_for(lane="paper", ts_ms=T0_MS + 200, direction="long", skip_reason=""),
        gate.kind_for(
            lane="paper", ts_ms=T0_MS + 300, direction="long", skip_reason="", entered=True
        ),
        gate.kind_for(lane="paper", ts_ms=T0_MS + 900, direction="long", skip_reason=""),
        gate.kind_for(lane="paper", ts_ms=T0_MS + 1300, direction="long", skip_reason=""),
        gate.kind_for(lane="live", ts_ms=T0_MS + 1300, direction="long", skip_reason=""),
    ]
    assert kinds == ["change", None, "change", "entry", None, "sample", "change"]


def test_pause_is_audited_with_before_and_after_and_bumps_the_version():
    controls.trading_pause_set(paused=True, actor=ROBOT)
    audit = ControlAudit.objects.get()
    assert audit.action == "trading_pause_set"
    assert audit.before["paused"] is False
    assert audit.after["paused"] is True
    assert audit.actor_label == "tester"
    current = selectors.controls_current()
    assert current.paused is True
    assert current.version == 1


def test_switching_to_live_is_refused_and_the_refusal_is_audited():
    with pytest.raises(controls.ControlRefused, match="live lane does not exist"):
        controls.trading_mode_set(mode="live", actor=ROBOT)
    audit = ControlAudit.objects.get()
    assert audit.applied is False
    assert selectors.controls_current().trading_mode == "paper"


def test_close_all_exchange_positions_is_refused_until_the_live_lane_exists():
    with pytest.raises(controls.ControlRefused, match="live lane"):
        controls.close_all_exchange_positions(actor=ROBOT)
    assert ControlAudit.objects.get().applied is False


def test_emergency_stop_pauses_and_stays_pending_until_the_daemon_acknowledges():
    controls.emergency_stop(actor=ROBOT)
    current = selectors.controls_current()
    assert current.paused
    assert current.emergency_stop_pending
    assert current.emergency_stop_seq == 1
    assert controls.emergency_stop_acknowledge(seq=1)
    assert not controls.emergency_stop_acknowledge(seq=1)
    assert not selectors.controls_current().emergency_stop_pending


def test_reset_drawdown_sets_every_baseline_to_the_bankroll_and_asks_the_daemon():
    factories.lane_state(bankroll=900_000_000)
    state = controls.reset_drawdown(lane="paper", actor=ROBOT)
    assert state.peak == state.daily_baseline == state.weekly_baseline == Decimal("900")
    assert selectors.controls_current().drawdown_reset_seq == {"paper": 1}
    audit = ControlAudit.objects.get(action="reset_drawdown")
    assert audit.before["peak"] == "1000.000000"
    assert audit.after["peak"] == "900.000000"


def test_bot_state_save_keeps_the_operators_reset_request():
    factories.lane_state()
    controls.reset_drawdown(lane="paper", actor=ROBOT)
    factories.lane_state(bankroll=800_000_000)
    state = selectors.bot_state_get(lane="paper")
    assert state is not None
    assert state.drawdown_reset_seq == 1


def test_trade_limit_can_be_set_and_reset_though_nothing_counts_yet():
    controls.trade_limit_set(limit=5, reset=True, actor=ROBOT)
    current = selectors.controls_current()
    assert current.live_trade_limit == 5
    assert current.live_trade_count_since_ms is not None
    with pytest.raises(controls.ControlRefused):
        controls.trade_limit_set(limit=-1, actor=ROBOT)


def test_override_set_validates_against_the_parameter_bounds():
    controls.override_set(name="min_hold_s", value=90, actor=ROBOT)
    assert selectors.controls_current().params().min_hold_s == 90
    with pytest.raises(controls.OverrideInvalid, match=r"obi_long_threshold.*0\.5 and 1\.0"):
        controls.override_set(name="obi_long_threshold", value=1.7, actor=ROBOT)
    with pytest.raises(controls.OverrideInvalid, match="unknown parameter"):
        controls.override_set(name="no_such_thing", value=1, actor=ROBOT)
    with pytest.raises(controls.OverrideInvalid, match="must be int"):
        controls.override_set(name="min_hold_s", value="soon", actor=ROBOT)
    assert list(ParamOverride.objects.values_list("name", flat=True)) == ["min_hold_s"]
    # one applied, three refused: each refusal audited with its reason, nothing applied
    audits = ControlAudit.objects.filter(action="override_set").order_by("id")
    assert [audit.applied for audit in audits] == [True, False, False, False]
    assert "obi_long_threshold" in audits[1].message
    assert audits[3].before == {"name": "min_hold_s", "value": "soon"}


def test_override_clear_removes_one_or_all_and_is_audited():
    controls.override_set(name="min_hold_s", value=90, actor=ROBOT)
    controls.override_set(name="reentry_cooldown_s", value=60, actor=ROBOT)
    assert controls.override_clear(name="min_hold_s", actor=ROBOT) == 1
    assert controls.override_clear(name=None, actor=ROBOT) == 1
    assert not ParamOverride.objects.exists()
    audits = ControlAudit.objects.filter(action="override_clear").order_by("id")
    assert audits[0].before == {"min_hold_s": 90}


def test_controls_are_announced_only_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr("trading.services.controls.announce_control", lambda **kw: sent.append(kw))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        controls.trading_pause_set(paused=True, actor=ROBOT)
    assert sent == []
    for callback in callbacks:
        callback()
    assert sent == [{"action": "trading_pause_set", "version": 1}]


def test_trades_filter_by_lane_direction_reason_and_date():
    factories.trade(direction="short", exit_reason="STOP_LOSS")
    factories.trade()
    factories.trade(lane="live")
    assert selectors.trades_list(lane="paper", direction="short").count() == 1
    assert selectors.trades_list(exit_reason="TAKE_PROFIT").count() == 2
    day = Trade.objects.get(lane="live").closed_at.date()
    assert selectors.trades_list(date_from=day, date_to=day).count() == 3


def _engine_decision(conviction: str, size_mult: float, reason: str = "ENTRY") -> EngineDecision:
    return EngineDecision(T0_MS, "paper", "T", "LONG" if reason == "ENTRY" else None,
                          conviction, size_mult, "OBI", reason, (), 0.7, None, None, "MEDIUM",
                          5000, 4000 if reason == "ENTRY" else 0, "h")  # fmt: skip


@pytest.mark.parametrize(
    ("conviction", "size_mult", "reason"),
    [("HIGH", 1.3, "ENTRY"), ("LOW", 0.65, "LOW_CONVICTION_DISABLED"), ("NONE", 0.0, "NO_SIGNAL")],
)
def test_a_signal_log_row_stores_the_decisions_size_multiplier(conviction, size_mult, reason):
    write = outputs.decision_write(_engine_decision(conviction, size_mult, reason), "change")
    assert write.kwargs["size_mult"] == size_mult
    write.fn(**write.kwargs)
    row = Decision.objects.get()
    assert (row.conviction, row.size_mult) == (conviction, size_mult)


def test_exit_rows_and_rows_written_without_one_leave_the_size_multiplier_empty():
    trades.decision_record(lane="paper", ts_ms=T0_MS, kind="sample", skip_reason="NO_SIGNAL")
    exit_write = outputs.exit_decision_write(
        ClosePosition(
            ts=T0_MS + 1000,
            lane="paper",
            client_order_id="x",
            position_uid="paper-1",
            ticker="T",
            side="yes",
            count=100,
            yes_price=100,
            reason="STOP_LOSS",
        ),
        "h",
    )
    exit_write.fn(**exit_write.kwargs)
    assert list(Decision.objects.values_list("kind", "size_mult")) == [
        ("exit", None),
        ("sample", None),
    ]


def test_the_dashboards_signal_payload_carries_the_size_multiplier():
    assert outputs.signal_payload(_engine_decision("NORMAL", 1.0))["size_mult"] == 1.0


def test_a_start_restores_the_row_of_a_held_position_and_reports_a_row_nobody_holds():
    held: dict[str, Any] = {
        "lane": "paper",
        "position_uid": "pos-paper-held",
        "ticker": "KXBTC15M-26JAN010015-15",
        "direction": "long",
        "contracts": 300,
        "entry_price": 4200,
        "opened_at_ms": 1_767_225_600_000,
        "cost": 1_260_000,
    }
    trades.position_open(**{**held, "position_uid": "pos-paper-stale"})
    result = trades.open_positions_reconcile(lanes=["paper"], held=[held])
    assert result == {"rows_written": ["pos-paper-held"], "rows_not_held": ["pos-paper-stale"]}
    assert trades.open_positions_reconcile(lanes=["paper"], held=[held])["rows_written"] == []
    assert OpenPosition.objects.filter(position_uid="pos-paper-stale").exists()  # kept
