"""The KBTC decision engine: pure, deterministic, fed by events, returning intents and records.

No Django, no I/O, no wall clock: time is the latest event's ``ts``. Entry point:
``trading.engine.engine.Engine`` (see its docstring for the fill feedback protocol).

Rule → test checklist (domain.md §3.3–§3.14 without §3.10, with §13 and interfaces.md §5).
Test modules are under ``trading/tests/engine/``.

| rule (domain.md) | module | tests |
| --- | --- | --- |
| §3.3 ATR: TR, 14-bar simple ATR, no output before | regime | test_regime::test_it_needs_a_full_atr_period_of_true_ranges, ::test_true_range_uses_the_previous_close |
| §3.3 classes LOW < 0.15 ≤ MEDIUM ≤ 0.50 < HIGH | regime | test_regime::test_classification_boundaries |
| §3.3 confirmation bars, initial MEDIUM | regime | test_regime::test_it_switches_only_after_the_confirmation_bars_agree, ::test_a_single_disagreeing_bar_does_not_flip_the_regime, test_engine::test_regime_change_is_recorded |
| §2.6/§13.8 candles close on event time | engine, market | test_engine::test_candles_close_on_event_time_and_feed_the_regime |
| §3.4 OBI raw, median smoothing, adaptive window, min samples | signals/obi | test_signals::test_raw_obi_*, ::test_fewer_than_min_samples_use_the_raw_value, ::test_smoothing_is_the_median_over_the_window, ::test_the_window_widens_when_volatile_and_narrows_when_calm, ::test_old_raw_readings_leave_the_window |
| §3.4 thresholds 0.65 / 0.35, 3 consecutive readings | signals/obi | test_signals::test_obi_direction_thresholds_and_consecutive_readings |
| §3.4 min book volume 1000, holding, HIGH regime | signals/obi | test_signals::test_obi_needs_minimum_book_volume_and_no_position_and_no_high_regime |
| §3.4 one reading per second, reset on a new contract | market, signals/obi | test_signals::test_history_is_bounded_and_reset_by_a_new_contract, test_engine::test_it_enters_long_on_three_obi_readings_and_records_every_rule |
| §3.5 ROC value, ATR-scaled threshold with floor/cap | signals/roc | test_signals::test_roc_needs_lookback_plus_one_closes, ::test_the_threshold_scales_with_atr_and_is_clamped, ::test_roc_long_at_the_threshold_and_not_below |
| §3.5 caps ±2.5, OBI agreement, candle confirmation | signals/roc | test_signals::test_roc_beyond_the_caps_is_a_blowoff_and_ignored, ::test_roc_short_needs_obi_not_long_and_long_needs_obi_not_short, ::test_roc_candle_confirmation_two_of_three_outside_medium, ::test_roc_is_neutral_in_low_regime_or_while_holding |
| §3.6 spread divergence WIDE/TIGHT, history, staleness | signals/spread | test_signals::test_spread_state_at_its_thresholds, ::test_spread_needs_history_medium_regime_and_a_current_spread, ::test_spread_history_goes_stale_after_90_seconds, ::test_empty_or_crossed_spreads_are_not_readings |
| §3.7 resolver table, pre-checks, spread modifier | resolver | test_resolver_guards::test_the_resolver_table, ::test_breaker_and_high_regime_come_first, ::test_the_spread_modifier, ::test_the_spread_modifier_only_applies_in_medium_and_when_enabled |
| §3.8 TFI downgrade | resolver, market | test_resolver_guards::test_tfi_disagreement_downgrades_one_step, ::test_tfi_downgrade_to_none_blocks_and_needs_obi_and_data, test_engine::test_trade_flow_disagreement_downgrades_the_entry |
| §3.2 LOW conviction gated per lane | entry | test_engine::test_trade_flow_disagreement_downgrades_the_entry |
| §3.9.1 short trend guard | guards | test_resolver_guards::test_the_short_trend_guard, ::test_the_short_trend_guard_ignores_longs_and_short_histories |
| §3.9.2 near expiry 120 s, unknown close = too close | guards, market | test_resolver_guards::test_near_expiry_blocks_unknown_or_under_120_seconds, test_engine::test_no_entry_without_a_known_close_time |
| §3.9.2 / §3.11 EXPIRY_TOO_CLOSE 180 s, shorts 780 s | guards | test_resolver_guards::test_price_guard_expiry_window, ::test_shorts_need_780_seconds |
| §3.11 price guard: regime, long bounds, late widening, short floor, NO cap | guards | test_resolver_guards::test_price_guard_blocks_high_regime, ::test_long_price_bounds, ::test_late_contract_widens_long_bounds, ::test_late_widening_never_goes_below_5_or_above_95_cents, ::test_short_price_floor, ::test_short_no_price_cap_binds_only_below_the_floor_defaults |
| §3.1 book health, re-entry cooldown 30 s | guards | test_resolver_guards::test_book_health, ::test_reentry_cooldown, test_engine::test_reentry_waits_for_the_cooldown |
| §3.12 stop loss / take profit on the premium, executable price | exits, position_watch | test_exits::test_long_stop_and_target_on_the_premium, ::test_short_stop_and_target_on_the_no_premium, test_engine::test_stop_loss_fires_on_the_executable_bid_only_after_min_hold |
| §3.12 min_hold_s gate (HIGH bypass) | exits | test_exits::test_no_strategy_exit_before_min_hold_unless_regime_high |
| §3.12 signal decay, early-exit rule, volatility spike | exits | test_exits::test_signal_decay_through_the_neutral_band, ::test_signal_decay_early_needs_a_loss_and_otherwise_volatility_spike |
| §3.12 time exits 360 s / 540 s | exits | test_exits::test_roc_time_exit, ::test_obi_time_exit |
| §3.12 blow-off, momentum stall, candle reversal | exits | test_exits::test_blowoff_take_profit, ::test_momentum_stall, ::test_momentum_stall_needs_an_entry_roc_and_early_exit, ::test_candle_reversal |
| §3.12.1 short settlement guard 60–300 s, YES space | exits, position_watch | test_exits::test_short_settlement_guard_window, ::test_short_settlement_guard_only_for_underwater_shorts, test_engine::test_a_winning_short_is_not_closed_by_the_settlement_guard |
| §3.12.1 expiry guard 180 s, skip on an empty side | exits, position_watch | test_exits::test_expiry_guard, test_engine::test_the_expiry_guard_fires_at_180_seconds, ::test_the_expiry_guard_skips_while_the_exit_side_is_empty |
| §3.12.1 contract settled, per ticker, empty result waits | engine | test_engine::test_settlement_only_uses_the_positions_own_contract, ::test_a_lost_settlement_and_late_fills_after_it, ::test_an_entry_filled_after_the_result_settles_at_once |
| §3.12.2 health score, shadow mode, breach exit | health, position_watch | test_exits::test_health_components, ::test_momentum_decay, ::test_momentum_decay_flips_for_shorts, ::test_the_health_score_is_a_weighted_mean, test_engine::test_health_score_is_recorded_in_shadow_and_exits_when_enabled |
| §3.12 retries keep the reason; partial exits | engine | test_engine::test_a_partial_exit_keeps_the_reason_and_retries |
| §3.13 sizing: fixed fractional, conviction, drawdown, clamps, caps | sizing | test_sizing_breaker::test_fixed_fractional_with_conviction_multipliers, ::test_drawdown_reduction_applies_strictly_above_ten_percent, ::test_risk_is_clamped_to_min_and_max_and_rounded_to_cents, ::test_contract_caps_per_lane, ::test_it_cannot_size_without_money_or_price |
| §3.13/§13.3 shorts sized on the NO price | sizing | test_sizing_breaker::test_shorts_are_sized_on_the_no_price_they_cost, test_engine::short_scenario |
| §3.14 daily / weekly / drawdown limits | breaker | test_sizing_breaker::test_daily_loss_trips_at_exactly_six_percent, ::test_weekly_loss_trips_at_fifteen_percent_of_the_monday_bankroll, ::test_drawdown_latches_until_an_operator_resets_it, ::test_drawdown_just_under_twenty_percent_does_not_trip |
| §3.14/§13.6 event-time rollovers 00:00 UTC and Monday | breaker, engine | test_sizing_breaker::test_the_daily_baseline_rolls_at_midnight_utc_in_event_time, ::test_the_weekly_baseline_rolls_on_monday, test_engine::test_the_daily_breaker_clears_at_midnight_utc_event_time |
| §3.14 paper_breaker_halts, live halts, operator reset | breaker, entry | test_sizing_breaker::test_paper_breakers_record_but_halt_only_when_configured, test_engine::test_the_live_breaker_halts_entries_and_clears_by_operator_reset |
| §3.18 rapid-fire / instant-stop quarantine (live) | lane | test_engine::test_rapid_fire_exits_on_the_live_lane_are_quarantined, ::test_an_instant_stop_on_the_live_lane_is_quarantined |
| interfaces §8 pause stops entries, exits continue | engine | test_engine::test_pause_stops_new_entries_on_every_lane_but_not_exits |
| interfaces §5 parameters | params | test_params (all) |

Regression tests for domain.md §11.1: stale settlement flag →
``test_settlement_only_uses_the_positions_own_contract``; short guard unit mismatch →
``test_a_winning_short_is_not_closed_by_the_settlement_guard``; marking against the wrong
ticker → ``test_positions_are_marked_and_guarded_against_their_own_contract``; short
sizing → ``test_shorts_are_sized_on_the_no_price_they_cost``. Determinism:
``test_determinism::test_a_simulator_stream_replays_to_the_same_trades``.
"""
