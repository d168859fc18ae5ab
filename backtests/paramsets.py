"""Parameter sets for a backtest: the defaults, the stored overrides, or a JSON/TOML file.

A file holds either one set of overrides (``{"stop_loss_frac": 0.03}``) or named sets, each
a table of overrides (``[wide] stop_loss_frac = 0.03`` / ``{"wide": {...}, "tight": {...}}``).
Every value is checked by ``Params.with_overrides``: a bad one stops the run before any
work, naming the set, the parameter and its bounds.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from backtests.driver import ParamSet
from trading.engine.params import DEFAULT_PARAMS, ParamError


class ParamFileError(ValueError):
    """A parameter file that cannot be used; the message names the file and what is wrong."""


def default_sets() -> list[ParamSet]:
    return [ParamSet("default", DEFAULT_PARAMS)]


def stored_sets(lane: str = "paper") -> list[ParamSet]:
    """The daemon's parameters for ``lane``: the defaults with the global overrides stored in
    the database, then that lane's own."""
    from trading.selectors import controls_current

    try:
        return [ParamSet("stored", controls_current().params(DEFAULT_PARAMS, lane=lane))]
    except ParamError as exc:
        raise ParamFileError(f"the stored overrides do not apply: {exc}") from exc


def file_sets(path: Path) -> list[ParamSet]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ParamFileError(f"cannot read parameter file {path}: {exc.strerror}") from exc
    try:
        loaded: Any = tomllib.loads(text) if Path(path).suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ParamFileError(f"{path}: not valid {Path(path).suffix[1:] or 'JSON'}: {exc}") from exc
    if not isinstance(loaded, dict) or not loaded:
        raise ParamFileError(f"{path}: expected a table of parameters or of named sets")
    tables = [name for name, value in loaded.items() if isinstance(value, dict)]
    named = len(tables) == len(loaded)
    if tables and not named:
        raise ParamFileError(
            f"{path}: mixes named sets ({', '.join(map(str, tables))}) with parameters "
            "at the top level; put every parameter inside a set"
        )
    sets = loaded if named else {Path(path).stem: loaded}
    result = []
    for name, overrides in sets.items():
        if not isinstance(overrides, dict):
            raise ParamFileError(f"{path}: set {name!r} is not a table of parameters")
        try:
            result.append(ParamSet(str(name), DEFAULT_PARAMS.with_overrides(overrides)))
        except ParamError as exc:
            raise ParamFileError(f"{path}: set {name!r}: {exc}") from exc
    return result


def param_sets(choice: str, lane: str = "paper") -> list[ParamSet]:
    """``default``, ``stored`` (``lane``'s stored parameters) or a path to a ``.json`` /
    ``.toml`` file."""
    if choice == "default":
        return default_sets()
    if choice == "stored":
        return stored_sets(lane)
    return file_sets(Path(choice))
