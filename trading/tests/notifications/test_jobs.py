"""What jobs outside the trading loop post, each to its channel (Celery eager here)."""

from __future__ import annotations

import pytest

from trading.notifications import jobs

pytestmark = pytest.mark.usefixtures("webhooks", "eager")


def test_a_quarantine_from_a_job_goes_to_errors(server):
    assert jobs.notify_quarantine(
        mode="live", ticker="KXBTC15M-X", reason="BUG-025", detail="PnL drift $0.07"
    )

    [post] = server.wait_for(1)
    assert post.channel == "errors"
    assert post.title == "[LIVE] Trade quarantined: BUG-025"
    assert post.embed["description"] == "PnL drift $0.07"
    assert post.field("Ticker") == "KXBTC15M-X"


def test_a_tripwire_goes_to_risk(server):
    jobs.notify_tripwire(
        mode="live",
        name="live drought",
        detail="No live trade for 37 h while paper traded 6 times.",
        fields={"Paper trades 36 h": "6"},
    )

    [post] = server.wait_for(1)
    assert post.channel == "risk"
    assert post.title == "[LIVE] Tripwire: live drought"
    assert post.field("Paper trades 36 h") == "6"


def test_the_attribution_report_goes_to_attribution(server):
    jobs.notify_attribution_report(
        mode="paper", title="Daily attribution 2026-09-21", text="Net -$3.10", fields={"OBI": "-$2"}
    )

    [post] = server.wait_for(1)
    assert post.channel == "attribution"
    assert post.title == "[PAPER] Daily attribution 2026-09-21"
    assert post.field("OBI") == "-$2"


def test_a_tuning_recommendation_lists_its_changes(server):
    jobs.notify_tuning_recommendation(
        mode="paper", text="walk-forward 6 folds", changes={"obi_long_threshold": "0.65 → 0.68"}
    )
    jobs.notify_tuning_recommendation(mode="paper", text="nothing beat the current set")

    changed, unchanged = server.wait_for(2)
    assert changed.title == "[PAPER] Tuning recommendation"
    assert changed.field("obi_long_threshold") == "0.65 → 0.68"
    assert unchanged.title == "[PAPER] Tuning cycle: no change"


def test_ml_readiness_goes_to_attribution(server):
    jobs.notify_ml_ready(mode="paper", rows=500)

    [post] = server.wait_for(1)
    assert post.channel == "attribution"
    assert post.title == "[PAPER] ML data ready"
    assert post.field("Rows") == "500"


def test_a_backup_done_goes_to_heartbeat_and_a_failed_one_to_errors(server):
    jobs.notify_backup_status(mode="paper", ok=True, text="kbtc-20260921.dump, 41 MB")
    jobs.notify_backup_status(mode="paper", ok=False, text="pg_dump: connection refused")

    done, failed = server.wait_for(2)
    assert (done.channel, done.title) == ("heartbeat", "[PAPER] Backup done")
    assert (failed.channel, failed.title) == ("errors", "[PAPER] Backup failed")
    assert failed.embed["description"] == "pg_dump: connection refused"


def test_a_job_posting_to_a_channel_that_is_off_does_nothing(settings, server):
    settings.KBTC = {**settings.KBTC, "DISCORD_WEBHOOKS": {}}

    assert not jobs.notify_ml_ready(mode="paper", rows=500)
    assert server.posts == []
