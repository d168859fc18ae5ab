"""The spill line's envelope, shared by the daemon's and the recorder's spills."""

from __future__ import annotations

import pytest

from kbtc_core.spillfiles import spill_line, spill_record


def test_a_line_starts_with_its_format_and_database_and_reads_back() -> None:
    line = spill_line("postgresql:kbtc@h:5432", write="state_save", kwargs={"rows": []})
    assert line == (
        '{"format":1,"db":"postgresql:kbtc@h:5432","write":"state_save","kwargs":{"rows":[]}}'
    )
    assert spill_record(line) == {
        "format": 1,
        "db": "postgresql:kbtc@h:5432",
        "write": "state_save",
        "kwargs": {"rows": []},
    }


def test_fields_json_cannot_hold_raise() -> None:
    with pytest.raises(TypeError):
        spill_line("d", kwargs={"at": object()})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"format": 1, "db": "d"', "not JSON"),
        ("", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"format": 2, "db": "d"}', "unknown format 2"),
        ('{"db": "d"}', "unknown format None"),
        ('{"format": 1}', "no database named"),
        ('{"format": 1, "db": 7}', "no database named"),
    ],
)
def test_a_line_without_its_envelope_is_refused_saying_why(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        spill_record(line)
