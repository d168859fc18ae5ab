"""What an operator does: trading controls, parameter overrides and their audit trail.

Each control runs in one durable transaction that also writes a ``ControlAudit`` row, and is
announced on the channel layer only after commit (the daemon re-reads the controls on the
announcement and at least once a second). A refused control writes its audit row
(``applied=False``) and raises ``ControlRefused`` with the reason. Callers: the API, the
dashboard's buttons, the admin, tasks (and the daemon, acknowledging an emergency stop).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from marketdata.kalshi.series_lookup import series_refusal
from trading.clock import trading_now
from trading.engine.params import DEFAULT_PARAMS, PARAMS_SCHEMA, ParamError, Params
from trading.models import (
    BotState,
    BreakerState,
    ControlAudit,
    Lane,
    LivePositionState,
    OpenPosition,
    ParamOverride,
    TradingControls,
    TradingMode,
)
from trading.push import announce_control

log = structlog.get_logger(__name__)

LIVE_LANE_MISSING = "the live lane does not exist yet: only paper trading is available"


class ControlRefused(Exception):
    """An operator control that its rules refuse; the message says why."""


class ControlInvalid(ControlRefused):
    """A control's value outside its type or bounds (an API answers 400, not 409)."""


class OverrideInvalid(ControlInvalid):
    """A parameter override outside the parameter's type or bounds."""


# The live lane's round-trip limit: a day of 15-minute windows is 96; far above any real
# limit, far below PostgreSQL's integer column (a trillion was a 500 there, stored on SQLite).
MAX_TRADE_LIMIT = 100_000


@dataclass(frozen=True)
class Actor:
    """Who acted: a user (API, admin, dashboard) or a named process (daemon, tuner task)."""

    label: str
    source: str
    user_id: int | None = None

    @classmethod
    def from_user(cls, user: Any, *, source: str) -> Actor:
        return cls(label=user.get_username(), source=source, user_id=user.pk)

    @classmethod
    def process(cls, name: str) -> Actor:
        return cls(label=name, source="daemon" if name == "run_trader" else "task")


# --- operator controls -------------------------------------------------------------------


def _controls_for_update() -> TradingControls:
    TradingControls.objects.get_or_create(pk=1)
    return TradingControls.objects.select_for_update().get(pk=1)


def _controls_dict(controls: TradingControls) -> dict[str, Any]:
    return {
        "trading_mode": controls.trading_mode,
        "paused": controls.paused,
        "emergency_stop_seq": controls.emergency_stop_seq,
        "emergency_stop_handled_seq": controls.emergency_stop_handled_seq,
        "live_trade_limit": controls.live_trade_limit,
        "live_trade_count_since": (
            controls.live_trade_count_since.isoformat() if controls.live_trade_count_since else None
        ),
        "close_all_seq": controls.close_all_seq,
        "version": controls.version,
    }


def _storable(value: Any) -> Any:
    """``value`` as PostgreSQL can store it in ``jsonb``/text: NUL spelled ``\\u0000`` and
    NaN/Infinity as strings. A refusal of exactly such a value must still be audited."""
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_storable(str(key)): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


def _audit(
    *,
    actor: Actor,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    applied: bool = True,
    message: str = "",
) -> ControlAudit:
    # One console line per control, applied or refused, once its audit row is committed:
    # the log says what the audit says.
    line = {"action": action, "actor": actor.label, "source": actor.source}
    event = "control" if applied else "control_refused"
    transaction.on_commit(lambda: log.info(event, **line, message=message or None))
    return ControlAudit.objects.create(
        at=timezone.now(),
        actor_id=actor.user_id,
        actor_label=actor.label,
        source=actor.source,
        action=action,
        applied=applied,
        message=_storable(message)[:300],
        before=_storable(before),
        after=_storable(after),
    )


def _announce(action: str, **details: Any) -> None:
    transaction.on_commit(lambda: _announce_now(action, details))


def _announce_now(action: str, details: dict[str, Any]) -> None:
    # The control is committed and audited; the announcement only hurries the daemon, which
    # re-reads the controls every second. With Redis away it is logged, never turned into an
    # error for a control that did take effect.
    try:
        announce_control(action=action, **details)
    except Exception as exc:
        log.warning(
            "control_announce_failed",
            action=action,
            error=f"{type(exc).__name__}: {str(exc).strip()}",
            note="applied; the trader reads it at its next one-second poll",
        )


def _refuse(
    *,
    actor: Actor,
    action: str,
    request: dict[str, Any],
    reason: str,
    refusal: type[ControlRefused] = ControlRefused,
) -> None:
    with transaction.atomic(durable=True):
        _audit(actor=actor, action=action, before=request, after={}, applied=False, message=reason)
    raise refusal(reason)


def _change_controls(
    *,
    actor: Actor,
    action: str,
    apply: Callable[[TradingControls], None] | None = None,
    **changes: Any,
) -> TradingControls:
    with transaction.atomic(durable=True):
        controls = _controls_for_update()
        before = _controls_dict(controls)
        if apply is not None:  # sees the controls as they were
            apply(controls)
        for name, value in changes.items():
            setattr(controls, name, value)
        controls.version += 1
        controls.save()
        _audit(actor=actor, action=action, before=before, after=_controls_dict(controls))
        _announce(action, version=controls.version)
    return controls


def live_lane_exists() -> bool:
    """The live lane exists once a trader has wired it (its state row is written at start)."""
    return LivePositionState.objects.filter(lane=Lane.LIVE).exists()


def live_position_open() -> bool:
    """A live position is held (or being entered or exited): the state row says so, or
    the engine's open-position row does."""
    state = LivePositionState.objects.filter(lane=Lane.LIVE).values_list("state", flat=True)
    if any(value != "FLAT" for value in state):
        return True
    return OpenPosition.objects.filter(lane=Lane.LIVE).exists()


def trading_mode_set(*, mode: str, actor: Actor, confirm: bool = False) -> TradingControls:
    """Paper or live (domain.md §3.17.10): live needs the live lane, ``confirm`` and no
    pause still settling a live position; paper is refused while a live position is
    open (its exit would be left without the lane that manages it) and turns pause off."""
    request: dict[str, Any] = {"mode": mode, **({"confirm": True} if confirm else {})}
    if mode not in (TradingMode.PAPER, TradingMode.LIVE):
        _refuse(
            actor=actor,
            action="trading_mode_set",
            request=request,
            reason=f"unknown trading mode {mode!r}: expected paper or live",
            refusal=ControlInvalid,
        )
    if mode == TradingMode.LIVE:
        reason = ""
        if not live_lane_exists():
            reason = LIVE_LANE_MISSING
        elif not confirm:
            reason = "switching to live trades real money: confirm it (confirm=true)"
        elif TradingControls.objects.filter(pk=1, paused=True).exists() and live_position_open():
            reason = "pause is still settling the live position: wait until it has exited"
        if reason:
            _refuse(actor=actor, action="trading_mode_set", request=request, reason=reason)
        return _change_controls(actor=actor, action="trading_mode_set", trading_mode=mode)
    current = TradingControls.objects.filter(pk=1).values_list("trading_mode", flat=True).first()
    if current == TradingMode.LIVE and live_position_open():
        _refuse(
            actor=actor,
            action="trading_mode_set",
            request=request,
            reason="a live position is open: exit or close it before switching to paper",
        )
    return _change_controls(actor=actor, action="trading_mode_set", trading_mode=mode, paused=False)


def trading_pause_set(*, paused: bool, actor: Actor) -> TradingControls:
    """Pause stops new entries on every lane; exits continue (interfaces.md §8). Resuming
    restarts the live trade limit's count when a limit is set (domain.md §3.17.10)."""

    def restart_count(controls: TradingControls) -> None:
        if not paused and controls.paused and controls.live_trade_limit is not None:
            controls.live_trade_count_since = trading_now()

    return _change_controls(
        actor=actor, action="trading_pause_set", apply=restart_count, paused=paused
    )


def emergency_stop(*, actor: Actor) -> TradingControls:
    """Pause, and ask the daemon to flatten every lane (paper closes at its entry price)."""

    def request_stop(controls: TradingControls) -> None:
        controls.emergency_stop_seq += 1

    return _change_controls(
        actor=actor,
        action="emergency_stop",
        apply=request_stop,
        paused=True,
        emergency_stop_at=timezone.now(),
    )


def emergency_stop_acknowledge(*, seq: int) -> bool:
    """The daemon has flattened for request ``seq``; later requests stay pending."""
    updated = TradingControls.objects.filter(
        pk=1, emergency_stop_handled_seq__lt=seq, emergency_stop_seq__gte=seq
    ).update(emergency_stop_handled_seq=seq)
    return updated == 1


def close_all_exchange_positions(*, actor: Actor) -> TradingControls:
    """Pause, and ask the trader to sell every non-zero position on the exchange account
    at the 1 ¢ floor (the live lane's own through its exit) (domain.md §3.17.10)."""
    if not live_lane_exists():
        _refuse(
            actor=actor,
            action="close_all_exchange_positions",
            request={},
            reason=f"close-all needs an exchange account: {LIVE_LANE_MISSING}",
        )

    def request_close(controls: TradingControls) -> None:
        controls.close_all_seq += 1

    return _change_controls(
        actor=actor, action="close_all_exchange_positions", apply=request_close, paused=True
    )


def trade_limit_check(*, limit: object, actor: Actor) -> None:
    """Refuse (audited, ``ControlInvalid``) a limit that is not a whole number between 0 and
    ``MAX_TRADE_LIMIT``; None means no limit. The API and the admin both ask here first."""
    if limit is None or (
        isinstance(limit, int) and not isinstance(limit, bool) and 0 <= limit <= MAX_TRADE_LIMIT
    ):
        return
    _refuse(
        actor=actor,
        action="trade_limit_set",
        request={"limit": limit},
        reason=(
            f"the trade limit must be a whole number between 0 and {MAX_TRADE_LIMIT}"
            f" (or empty for no limit), got {limit!r}"
        ),
        refusal=ControlInvalid,
    )


def trade_limit_set(*, limit: int | None, reset: bool = False, actor: Actor) -> TradingControls:
    """The live lane's round-trip limit (None: unlimited); ``reset`` restarts the count."""
    trade_limit_check(limit=limit, actor=actor)
    changes: dict[str, Any] = {"live_trade_limit": limit}
    if reset:
        # Counted against trade times, which are event times: in a replay or the demo the
        # wall clock would lie months ahead of every trade and the limit never bind.
        changes["live_trade_count_since"] = trading_now()
    return _change_controls(actor=actor, action="trade_limit_set", **changes)


def reset_drawdown(*, lane: str, actor: Actor) -> BotState:
    """Peak = daily = weekly baseline = bankroll, breaker cleared; the daemon applies it to
    its engine when it sees ``drawdown_reset_seq`` move."""
    if lane not in Lane.values:
        raise ValueError(f"lane: {lane!r} is not one of {', '.join(Lane.values)}")
    if lane == Lane.LIVE and not live_lane_exists():
        _refuse(
            actor=actor, action="reset_drawdown", request={"lane": lane}, reason=LIVE_LANE_MISSING
        )
    with transaction.atomic(durable=True):
        state = BotState.objects.select_for_update().filter(lane=lane).first()
        if state is None:
            raise ControlRefused(f"no saved state for the {lane} lane yet: nothing to reset")
        before = _lane_dict(state)
        now = trading_now()  # the breaker's baselines live in event time, as the engine's do
        state.peak = state.daily_baseline = state.weekly_baseline = state.bankroll
        state.daily_baseline_at = state.weekly_baseline_at = now
        state.breaker_state = BreakerState.OK
        state.breaker_tripped_at = None
        state.drawdown_reset_seq += 1
        state.drawdown_reset_at = now
        state.save()
        _audit(actor=actor, action="reset_drawdown", before=before, after=_lane_dict(state))
        _announce("reset_drawdown", lane=lane, seq=state.drawdown_reset_seq)
    return state


def _lane_dict(state: BotState) -> dict[str, Any]:
    return {
        "lane": state.lane,
        "bankroll": str(state.bankroll),
        "peak": str(state.peak),
        "daily_baseline": str(state.daily_baseline),
        "weekly_baseline": str(state.weekly_baseline),
        "breaker_state": state.breaker_state,
        "drawdown_reset_seq": state.drawdown_reset_seq,
    }


def paper_breaker_halts_set(*, halts: bool, actor: Actor) -> ParamOverride:
    """Whether a paper breaker trip halts paper entries: the ``paper_breaker_halts``
    parameter, stored as an override (audited as ``override_set``). Off by default, as in
    the original, which kept paper trading through trips to collect data."""
    note = "paper breaker " + ("enforced" if halts else "not enforced")
    return override_set(name="paper_breaker_halts", value=halts, actor=actor, note=note)


# --- parameter overrides -----------------------------------------------------------------


def _param_bounds(name: str) -> str:
    for spec in PARAMS_SCHEMA:
        if spec["name"] == name:
            if spec["min"] is None:
                return f"{spec['type']}"
            return f"{spec['type']} between {spec['min']} and {spec['max']}"
    return "a known parameter name"


def _params_with(*, name: str, value: Any) -> Params:
    """The parameter set with every stored override plus this one (types and bounds only)."""
    current = dict(ParamOverride.objects.values_list("name", "value"))
    current[name] = value
    try:
        return DEFAULT_PARAMS.with_overrides(current)
    except ParamError as error:
        raise OverrideInvalid(f"{error} (expected {_param_bounds(name)})") from error
    except (TypeError, ValueError) as error:
        raise OverrideInvalid(f"{name}: {error} (expected {_param_bounds(name)})") from error


def override_validate(*, name: str, value: Any) -> Params:
    """The parameter set with every stored override plus this one, or ``OverrideInvalid``
    naming the parameter and its bounds. A value must also be one that can trade: a
    ``series_ticker`` the exchange does not list (asked over Kalshi REST) is refused."""
    params = _params_with(name=name, value=value)
    if name == "series_ticker":
        reason = series_refusal(value, base_url=str(settings.KBTC["KALSHI_API_URL"]))
        if reason is not None:
            raise OverrideInvalid(f"series_ticker: {reason}")
    return params


def override_check(*, name: str, value: Any, actor: Actor) -> None:
    """Validate an override before a form stores it (the admin); an invalid one is audited
    as refused, as ``override_set`` does, and raises ``OverrideInvalid``."""
    try:
        override_validate(name=name, value=value)
    except OverrideInvalid as invalid:
        _refuse(
            actor=actor,
            action="override_set",
            request={"name": name, "value": value},
            reason=str(invalid),
            refusal=OverrideInvalid,
        )


def override_set(*, name: str, value: Any, actor: Actor, note: str = "") -> ParamOverride:
    """Store one override; an invalid one changes nothing, is audited as refused (who tried
    what) and raises ``OverrideInvalid`` naming the parameter and its bounds."""
    try:
        override_validate(name=name, value=value)  # outside the transaction: it may ask Kalshi
        return _override_store(name=name, value=value, actor=actor, note=note)
    except OverrideInvalid as invalid:
        _refuse(
            actor=actor,
            action="override_set",
            request={"name": name, "value": value},
            reason=str(invalid),
            refusal=OverrideInvalid,
        )
        raise  # pragma: no cover - _refuse raises


def _override_store(*, name: str, value: Any, actor: Actor, note: str) -> ParamOverride:
    with transaction.atomic(durable=True):
        _params_with(name=name, value=value)  # against the overrides stored by now
        existing = ParamOverride.objects.select_for_update().filter(name=name).first()
        before = {"name": name, "value": existing.value if existing else None}
        override, _ = ParamOverride.objects.update_or_create(
            name=name,
            defaults={
                "value": value,
                "set_by_id": actor.user_id,
                "set_by_label": actor.label,
                "set_at": timezone.now(),
                "note": note[:200],
            },
        )
        _bump_version()
        _audit(
            actor=actor,
            action="override_set",
            before=before,
            after={"name": name, "value": value},
            message=note,
        )
        _announce("override_set", name=name)
    return override


def override_clear(*, name: str | None, actor: Actor) -> int:
    """Remove one override (or all of them when ``name`` is None); returns how many."""
    with transaction.atomic(durable=True):
        rows = ParamOverride.objects.select_for_update()
        if name is not None:
            rows = rows.filter(name=name)
        before = dict(rows.values_list("name", "value"))
        count = len(before)
        ParamOverride.objects.filter(name__in=list(before)).delete()
        _bump_version()
        _audit(
            actor=actor,
            action="override_clear",
            before=before,
            after={},
            message=f"cleared {count}",
        )
        _announce("override_clear", name=name)
    return count


def _bump_version() -> None:
    TradingControls.objects.get_or_create(pk=1)
    TradingControls.objects.filter(pk=1).update(version=F("version") + 1)
