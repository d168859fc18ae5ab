"""Discord's embed limits are enforced before a post is queued (a post over one is a 400
that no retry can fix)."""

from __future__ import annotations

from trading.notifications.embeds import (
    DESCRIPTION_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    FOOTER_MAX,
    TITLE_MAX,
    TOTAL_MAX,
    badge,
    embed,
    embed_length,
)
from trading.notifications.messages import cents, contracts, dollars, duration


def test_the_badge_says_which_money_the_post_is_about():
    assert badge("Trade opened", "paper") == "[PAPER] Trade opened"
    assert badge("Trade opened", "live") == "[LIVE] Trade opened"


def test_a_short_embed_is_sent_as_written():
    body = embed("[PAPER] Heartbeat", fields=(("Uptime", "1m 0s"),), footer="paper", ts_ms=0)

    assert body == {
        "embeds": [
            {
                "title": "[PAPER] Heartbeat",
                "color": 0x95A5A6,
                "fields": [{"name": "Uptime", "value": "1m 0s", "inline": True}],
                "footer": {"text": "paper"},
                "timestamp": "1970-01-01T00:00:00Z",
            }
        ]
    }


def test_every_part_is_cut_to_its_limit_with_an_ellipsis():
    body = embed(
        "T" * 1000,
        description="d" * 5000,
        fields=(("n" * 300, "v" * 2000),),
        footer="f" * 3000,
    )["embeds"][0]

    assert len(body["title"]) == TITLE_MAX
    assert body["title"].endswith("…")
    assert len(body["fields"][0]["name"]) == 256
    assert len(body["fields"][0]["value"]) == FIELD_VALUE_MAX
    assert len(body["footer"]["text"]) == FOOTER_MAX
    assert len(body["description"]) <= DESCRIPTION_MAX


def test_fields_past_the_25th_are_dropped_and_the_footer_says_so():
    body = embed("t", fields=tuple((f"f{n}", "x") for n in range(30)))["embeds"][0]

    assert len(body["fields"]) == FIELDS_MAX
    assert body["fields"][-1]["name"] == "f24"
    assert body["footer"]["text"] == "5 more fields not shown"


def test_the_whole_embed_stays_under_6000_characters():
    payload = embed(
        "t" * 300,
        description="d" * 4096,
        fields=tuple(("n" * 256, "v" * 1024) for _ in range(25)),
        footer="f" * 2048,
    )

    assert embed_length(payload) <= TOTAL_MAX
    assert payload["embeds"][0]["fields"]  # fields kept as far as they fit


def test_empty_field_values_become_a_dash_discord_refuses_empty_ones():
    body = embed("t", fields=(("Ticker", ""),))["embeds"][0]

    assert body["fields"][0]["value"] == "-"


def test_units_read_as_a_trader_reads_them():
    assert dollars(1_000_100_000) == "$1,000.10"
    assert dollars(-500_000) == "-$0.50"
    assert cents(4200) == "42¢"
    assert cents(450) == "4.5¢"  # a deci-cent tick
    assert contracts(1050) == "10.5"
    assert duration(312_000) == "5m 12s"
    assert duration(90 * 60_000) == "1h 30m"
    assert duration(26 * 3_600_000) == "1d 2h 0m"
