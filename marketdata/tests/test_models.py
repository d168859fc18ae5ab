"""marketdata tables: indexes, unit conversions and the admin pages."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from marketdata.recorder.rows import btc_to_decimal, ms_to_utc, utc_to_ms

MODELS = ["recordingsession", "recordedevent", "candle", "orderbooksnapshot",
          "publictraderecord", "market"]  # fmt: skip


@pytest.mark.parametrize("ts", [0, 1, 1_767_225_600_123, 4_102_444_799_999])
def test_event_time_round_trips_through_datetime_exactly(ts):
    assert utc_to_ms(ms_to_utc(ts)) == ts


def test_btc_prices_are_stored_to_the_cent_from_their_shortest_repr():
    assert str(btc_to_decimal(87_000.1)) == "87000.10"
    assert str(btc_to_decimal(0.1 + 0.2)) == "0.30"


@pytest.mark.postgres
@pytest.mark.django_db
def test_time_columns_have_brin_indexes_and_ticker_time_btrees():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'marketdata_%%'"
        )
        indexes = dict(cursor.fetchall())
    for name in ["recordedevent_ts_brin", "candle_open_time_brin", "orderbooksnapshot_ts_brin",
                 "publictrade_ts_brin"]:  # fmt: skip
        assert "USING brin" in indexes[name]
    assert "(ticker, ts)" in indexes["recordedevent_ticker_ts"]
    assert "(ticker, ts)" in indexes["publictrade_ticker_ts"]


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS)
def test_admin_lists_render_read_only(admin_client, model):
    response = admin_client.get(reverse(f"admin:marketdata_{model}_changelist"))
    assert response.status_code == 200
    assert admin_client.get(reverse(f"admin:marketdata_{model}_add")).status_code == 403
