"""What an operator does: trading controls, parameter overrides and their audit trail.

Each control runs in one durable transaction that also writes a ``ControlAudit`` row, and is
announced on the channel layer only after commit (the daemon re-reads the controls on the
announcement and at least once a second). A refused control writes its audit row
(``applied=False``) and raises ``ControlRefused`` with the reason. Callers: the API, the
dashboard's buttons, the admin, tasks (and the daemon, acknowledging an emergency stop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketdata.kalshi.series_lookup import series_refusal
from trading import selectors
from trading.clock import trading_now
from trading.engine.params import (
    DEFAULT_PARAMS,
    MARKET_PARAMS,
    PARAMS_SCHEMA,
    ParamError,
    Params,
)
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
#
# A row per parameter and lane: a blank lane is global (every lane); a lane's own row wins
# over the global one for that lane. Market parameters shape the market every lane shares:
# only global, and the trader applies them at its next start; lane parameters within a
# second (interfaces.md §5).

GLOBAL = ""  # the lane of a global override


def override_lanes() -> list[str]:
    """The lanes an override may name: the paper lane every trader runs, and every lane a
    trader has saved state for (at closes, every five minutes of event time and at stops).
    Lanes are paper or live today (the trading tables hold no other); the live lane is
    refused with ``LIVE_LANE_MISSING`` until a trader has run it."""
    return sorted({Lane.PAPER.value, *BotState.objects.values_list("lane", flat=True)})


def _param_bounds(name: str) -> str:
    for spec in PARAMS_SCHEMA:
        if spec["name"] == name:
            if spec["min"] is None:
                return f"{spec['type']}"
            return f"{spec['type']} between {spec['min']} and {spec['max']}"
    return "a known parameter name"


def _lane_refusal(names: Iterable[str], lane: str) -> str | None:
    if not lane:
        return None
    market = sorted(MARKET_PARAMS.intersection(names))
    if market:
        return (
            f"{', '.join(market)}: market parameter(s) shape the market every lane shares: set"
            " them for every lane (no lane); they apply at the trader's next start"
        )
    lanes = override_lanes()
    if lane == Lane.LIVE and lane not in lanes:
        return LIVE_LANE_MISSING
    if lane not in lanes:
        return f"lane {lane!r} does not exist: the trader's lanes are {', '.join(lanes)}"
    return None


def _params_with(*, values: Mapping[str, Any], lane: str) -> Params:
    """The parameter set of ``lane`` (blank: global) with every stored override plus
    ``values``; a global change is checked against every lane's own overrides too (the
    relations between parameters hold in each lane's set). ``OverrideInvalid`` says why."""
    refusal = _lane_refusal(values, lane)
    if refusal is not None:
        raise OverrideInvalid(refusal)
    if values.get("ml_gate_mode") == "gate":
        # Gating needs the shadow comparison's evidence (domain.md §7.3, issue #27), on
        # every path: the API, the admin, the ML action and a tuner's lane overrides.
        from mlgate.promotion import gating_refusal

        refusal = gating_refusal()
        if refusal is not None:
            raise OverrideInvalid(f"ml_gate_mode: gating refused: {refusal}")
    overrides, lane_overrides = selectors.overrides_stored()
    if lane:
        checks = {lane: {**lane_overrides.get(lane, {}), **values}}
    else:
        overrides = {**overrides, **values}
        checks = {GLOBAL: {}, **lane_overrides}
    result = DEFAULT_PARAMS
    for the_lane, own in checks.items():
        try:
            params = selectors.params_of_lane(DEFAULT_PARAMS, overrides, own, lane=the_lane)
        except (ParamError, TypeError, ValueError) as error:
            named = str(error).split(":", 1)[0]
            name = named if named in values else next(iter(values))
            where = f" for lane {the_lane}" if the_lane and the_lane != lane else ""
            prefix = "" if isinstance(error, ParamError) else f"{name}: "
            raise OverrideInvalid(
                f"{prefix}{error}{where} (expected {_param_bounds(name)})"
            ) from error
        if the_lane == lane:
            result = params
    return result


def _request(name: str, value: Any, lane: str) -> dict[str, Any]:
    return {"name": name, "value": value, **({"lane": lane} if lane else {})}


def override_validate(*, name: str, value: Any, lane: str = GLOBAL) -> Params:
    """The parameter set of ``lane`` (blank: global) with every stored override plus this
    one, or ``OverrideInvalid`` naming the parameter and its bounds, the lane that does not
    exist or the market parameter that cannot be set per lane. A value must also be one that
    can trade: a ``series_ticker`` the exchange does not list (asked over Kalshi REST) is
    refused."""
    params = _params_with(values={name: value}, lane=lane)
    if name == "series_ticker":
        reason = series_refusal(value, base_url=str(settings.KBTC["KALSHI_API_URL"]))
        if reason is not None:
            raise OverrideInvalid(f"series_ticker: {reason}")
    return params


def override_check(*, name: str, value: Any, actor: Actor, lane: str = GLOBAL) -> None:
    """Validate an override before a form stores it (the admin); an invalid one is audited
    as refused, as ``override_set`` does, and raises ``OverrideInvalid``."""
    try:
        override_validate(name=name, value=value, lane=lane)
    except OverrideInvalid as invalid:
        _refuse(
            actor=actor,
            action="override_set",
            request=_request(name, value, lane),
            reason=str(invalid),
            refusal=OverrideInvalid,
        )


def override_set(
    *, name: str, value: Any, actor: Actor, note: str = "", lane: str = GLOBAL
) -> ParamOverride:
    """Store one override for ``lane`` (blank: every lane); an invalid one changes nothing,
    is audited as refused (who tried what) and raises ``OverrideInvalid`` naming the
    parameter and its bounds."""
    try:
        override_validate(name=name, value=value, lane=lane)  # outside: it may ask Kalshi
        return _overrides_store(values={name: value}, lane=lane, actor=actor, note=note)[0]
    except OverrideInvalid as invalid:
        _refuse(
            actor=actor,
            action="override_set",
            request=_request(name, value, lane),
            reason=str(invalid),
            refusal=OverrideInvalid,
        )
        raise  # pragma: no cover - _refuse raises


def lane_overrides_apply(
    *, lane: str, values: Mapping[str, Any], actor: Actor, note: str = ""
) -> list[ParamOverride]:
    """Set several overrides of one lane at once (the auto-tuner's recommendation): all
    are validated together first and written in one transaction, or none is. Each stored
    override has its ``override_set`` audit row; a refusal has one (``applied=False``,
    every value asked for) and raises ``OverrideInvalid``. ``lane`` blank: global."""
    if not values:
        raise OverrideInvalid("no parameter values to apply")
    try:
        _params_with(values=values, lane=lane)
        if "series_ticker" in values:
            override_validate(name="series_ticker", value=values["series_ticker"], lane=lane)
        return _overrides_store(values=values, lane=lane, actor=actor, note=note)
    except OverrideInvalid as invalid:
        _refuse(
            actor=actor,
            action="override_set",
            request={"lane": lane, "values": dict(values)},
            reason=str(invalid),
            refusal=OverrideInvalid,
        )
        raise  # pragma: no cover - _refuse raises


def _overrides_store(
    *, values: Mapping[str, Any], lane: str, actor: Actor, note: str
) -> list[ParamOverride]:
    with transaction.atomic(durable=True):
        # The controls row serialises override writes: each is validated against the
        # overrides stored by the one before it (relations span several rows).
        controls = _controls_for_update()
        _params_with(values=values, lane=lane)
        stored = []
        for name, value in values.items():
            existing = ParamOverride.objects.filter(name=name, lane=lane).first()
            override, _ = ParamOverride.objects.update_or_create(
                name=name,
                lane=lane,
                defaults={
                    "value": value,
                    "set_by_id": actor.user_id,
                    "set_by_label": actor.label,
                    "set_at": timezone.now(),
                    "note": note[:200],
                },
            )
            stored.append(override)
            _audit(
                actor=actor,
                action="override_set",
                before=_request(name, existing.value if existing else None, lane),
                after=_request(name, value, lane),
                message=note,
            )
        controls.version += 1
        controls.save(update_fields=["version", "updated_at"])
        _announce("override_set", names=list(values), lane=lane)
    return stored


def _override_key(override: ParamOverride) -> str:
    return f"{override.name}@{override.lane}" if override.lane else override.name


def override_clear(*, name: str | None, actor: Actor, lane: str | None = None) -> int:
    """Remove overrides; returns how many. ``name`` None: every parameter; ``lane`` None:
    global and every lane's, blank: only the global one, a lane: only that lane's."""
    with transaction.atomic(durable=True):
        controls = _controls_for_update()
        rows = ParamOverride.objects.all()
        if name is not None:
            rows = rows.filter(name=name)
        if lane is not None:
            rows = rows.filter(lane=lane)
        cleared = list(rows)
        ParamOverride.objects.filter(pk__in=[row.pk for row in cleared]).delete()
        controls.version += 1
        controls.save(update_fields=["version", "updated_at"])
        _audit(
            actor=actor,
            action="override_clear",
            before={_override_key(row): row.value for row in cleared},
            after={},
            message=f"cleared {len(cleared)}" + (f" (lane {lane})" if lane else ""),
        )
        _announce("override_clear", name=name, lane=lane)
    return len(cleared)
