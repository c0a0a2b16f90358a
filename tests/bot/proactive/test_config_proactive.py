"""config.yml's `proactive:` section: the shipped rules load, and every bad value is refused at
start-up with the key it is about."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import config_from_dict, load_config
from bot.config.proactive import ProactiveSection, parse_duration, placeholders
from bot.errors import ConfigError
from bot.proactive.render import OPT_OUT_HINT, render, template_variables
from tests.bot.proactive import PLAYBOOK_TRIGGERS

REPO = Path(__file__).resolve().parents[3]


def rule(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "cart_reminder",
        "event": "cart_abandoned",
        "delay": "24h",
        "message": {"zh": "您的购物车里还有 {product}", "en": "You left {product} in your cart"},
    }
    spec.update(overrides)
    return spec


def error(proactive: dict[str, Any], env: dict[str, str] | None = None) -> str:
    raw = {"pipeline": [{"name": "LanguageDetector"}], "proactive": proactive}
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw, env=env or {})
    return str(info.value)


def load(proactive: dict[str, Any]) -> ProactiveSection:
    raw = {"pipeline": [{"name": "LanguageDetector"}], "proactive": proactive}
    return config_from_dict(raw, env={}).proactive


# --- the shipped config.yml -----------------------------------------------------------------------


def test_the_sample_shop_has_one_rule_per_trigger_with_the_playbooks_caps() -> None:
    section = load_config(REPO / "config.yml", env={}).proactive
    assert section.enabled
    assert sorted(r.event for r in section.rules) == sorted(PLAYBOOK_TRIGGERS)
    assert (section.caps.high_value, section.caps.default, section.caps.window_days) == (3, 2, 7)
    assert section.quiet_hours is not None
    assert (section.quiet_hours.start, section.quiet_hours.end) == (time(21), time(9))
    cart = section.rules_for("cart_abandoned")[0]
    assert cart.delay == timedelta(hours=24)
    assert cart.expires_if == ["order_paid"]
    delivered = section.rules_for("delivered")[0]
    assert delivered.delay == timedelta(days=3)
    assert section.rules_for("page_dwell")[0].conditions.channels == ["web"]
    assert section.rules_for("payment_failed")[0].delay == timedelta(0)
    assert "shop" in section.sources


def test_the_sample_sources_take_their_secrets_from_the_environment() -> None:
    config = load_config(
        REPO / "config.yml",
        env={"PROACTIVE_SHOP_KEY": "shop-key-1", "PROACTIVE_SHOP_SECRET": "s3cret-from-env-1"},
    )
    shop = config.proactive.sources["shop"]
    assert shop.secret.get_secret_value() == "s3cret-from-env-1"
    assert {"shop-key-1", "s3cret-from-env-1"} <= set(config.secrets())


def test_every_sample_rule_renders_in_both_languages_with_the_opt_out_hint() -> None:
    section = load_config(REPO / "config.yml", env={}).proactive
    data = {"order": "202611180042", "product": "Kite X1", "coupon": "SORRY10"}
    data |= {"reason": "余额不足", "fix": "请换一张卡"}
    for r in section.rules:
        for language in ("zh", "en"):
            text, buttons = render(r, language, template_variables(r, data))
            assert text.endswith(OPT_OUT_HINT[language])
            assert "{" not in text
            assert buttons[-1]["payload"] == "/opt_out"


def test_left_out_the_section_is_off_with_the_playbooks_defaults() -> None:
    section = load({})
    assert not section.enabled
    assert section.rules == []
    assert (section.caps.high_value, section.caps.default) == (3, 2)
    assert section.caps.window == timedelta(days=7)


# --- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(minutes=90)),
        ("0", timedelta(0)),
        (0, timedelta(0)),
        (90, timedelta(seconds=90)),
    ],
)
def test_durations_are_read_in_the_usual_units(text: Any, expected: timedelta) -> None:
    assert parse_duration(text, maximum=timedelta(days=365)) == expected


@pytest.mark.parametrize("key", ["delay", "cooldown", "expires_after"])
@pytest.mark.parametrize("bad", ["soon", "5 minutes", "-1h", "h", True])
def test_a_bad_duration_names_the_rule_and_the_key(key: str, bad: Any) -> None:
    message = error({"rules": [rule(**{key: bad})]})
    assert f"proactive.rules[0].{key}" in message
    assert "duration" in message


def test_a_delay_beyond_the_limit_is_refused_with_the_limit() -> None:
    message = error({"rules": [rule(delay="100d")]})
    assert "proactive.rules[0].delay" in message
    assert "from 0 to 90d" in message


def test_an_expires_after_of_zero_is_refused() -> None:
    assert "proactive.rules[0].expires_after" in error({"rules": [rule(expires_after="0s")]})


# --- templates ------------------------------------------------------------------------------------


def test_an_unknown_template_variable_names_the_language_and_the_allowed_ones() -> None:
    bad = rule(message={"zh": "订单 {order} 的 {sku}", "en": "Order {order}"})
    message = error({"rules": [bad]})
    assert "proactive.rules[0]" in message
    assert "message.zh: unknown variable {sku}" in message
    assert "coupon, fix, name, order, product, reason" in message


def test_a_variable_declared_by_the_rule_may_be_used() -> None:
    ok = rule(
        variables=["sku"],
        message={"zh": "{sku} 在购物车里", "en": "{sku} is in your cart, {{really}}"},
    )
    section = load({"rules": [ok]})
    r = section.rules[0]
    assert placeholders(r.message.en) == ["sku"]
    text, _ = render(r, "en", template_variables(r, {"sku": "KX-1", "secret": "no"}))
    assert text.startswith("KX-1 is in your cart, {really}")


def test_a_lone_brace_is_refused() -> None:
    message = error({"rules": [rule(message={"zh": "购物车 {product", "en": "Cart {product}"})]})
    assert "message.zh: a lone brace" in message


@pytest.mark.parametrize("missing", ["zh", "en"])
def test_both_languages_are_required(missing: str) -> None:
    texts = {"zh": "购物车", "en": "Cart"}
    del texts[missing]
    message = error({"rules": [rule(message=texts)]})
    assert f"proactive.rules[0].message.{missing}: Field required" in message


def test_a_button_needs_both_languages_and_a_payload() -> None:
    message = error({"rules": [rule(buttons=[{"zh": "去结算", "payload": "/order_status"}])]})
    assert "proactive.rules[0].buttons[0].en: Field required" in message


# --- unknown keys and values ----------------------------------------------------------------------


def test_an_unknown_key_in_a_rule_is_named() -> None:
    message = error({"rules": [rule(delai="24h")]})
    assert "proactive.rules[0].delai: unknown key" in message


def test_an_unknown_key_in_the_caps_lists_the_allowed_ones() -> None:
    message = error({"caps": {"vip": 5}})
    assert "proactive.caps.vip: unknown key; allowed: default, high_value, window_days" in message


def test_an_unknown_key_in_the_section_is_named() -> None:
    assert "proactive.rule: unknown key" in error({"rule": []})


@pytest.mark.parametrize(
    ("conditions", "key", "words"),
    [
        ({"segments": ["vip"]}, "segments", "unknown segment 'vip'"),
        ({"languages": ["fr"]}, "languages", "unknown language 'fr'; allowed: zh, en"),
        ({"channels": ["sms"]}, "channels", "unknown channel 'sms'"),
        ({"tags": ["no spaces"]}, "tags", "'no spaces'"),
        ({"segment": ["lifecycle:new"]}, "segment", "unknown key"),
    ],
)
def test_bad_conditions_name_the_list(conditions: dict[str, Any], key: str, words: str) -> None:
    message = error({"rules": [rule(conditions=conditions)]})
    assert f"proactive.rules[0].conditions.{key}" in message
    assert words in message


def test_segments_may_be_named_with_or_without_their_kind() -> None:
    conditions = {"segments": ["lifecycle:active", "active", "value:high", "high"]}
    assert load({"rules": [rule(conditions=conditions)]}).rules[0].conditions.segments


def test_rule_names_must_be_unique() -> None:
    message = error({"rules": [rule(), rule()]})
    assert "proactive.rules: " in message
    assert "rule names must be unique: cart_reminder" in message


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        (rule(name="Cart Reminder"), "name"),
        (rule(event="Cart abandoned!"), "event"),
        (rule(expires_if=["Order Paid"]), "expires_if"),
        (rule(variables=["Not-A-Name"]), "variables"),
    ],
)
def test_bad_names_are_refused_with_their_key(spec: dict[str, Any], key: str) -> None:
    assert f"proactive.rules[0].{key}" in error({"rules": [spec]})


@pytest.mark.parametrize(
    ("quiet", "key", "words"),
    [
        ({"start": "25:00"}, "start", "a time of day"),
        ({"end": "9am"}, "end", "a time of day"),
        ({"default_timezone": "Mars/Base"}, "default_timezone", "not an IANA time zone"),
        ({"start": "09:00", "end": "09:00"}, "", "start and end are the same"),
    ],
)
def test_bad_quiet_hours_name_the_key(quiet: dict[str, Any], key: str, words: str) -> None:
    message = error({"quiet_hours": quiet})
    assert f"proactive.quiet_hours{'.' + key if key else ''}" in message
    assert words in message


def test_quiet_hours_written_without_quotes_are_read_as_yaml_numbers_and_still_work() -> None:
    # YAML 1.1 reads 21:00 unquoted as 1260 (minutes as base 60).
    q = load({"quiet_hours": {"start": 1260, "end": 540}}).quiet_hours
    assert q is not None
    assert (q.start, q.end) == (time(21), time(9))


@pytest.mark.parametrize(
    ("caps", "key"),
    [
        ({"high_value": -1}, "high_value"),
        ({"default": 1000}, "default"),
        ({"window_days": 0}, "window_days"),
    ],
)
def test_caps_out_of_range_name_the_key(caps: dict[str, Any], key: str) -> None:
    assert f"proactive.caps.{key}" in error({"caps": caps})


def test_a_source_secret_too_short_is_refused_without_showing_it() -> None:
    message = error({"sources": {"shop": {"key": "shop-key-1", "secret": "short"}}})
    assert "proactive.sources.shop.secret" in message
    assert "16 to 256 characters" in message
    assert "'short'" not in message


def test_a_source_key_too_short_is_refused() -> None:
    message = error({"sources": {"shop": {"key": "k", "secret": "s3cret-long-enough"}}})
    assert "proactive.sources.shop.key" in message
    assert "8 to 256 characters" in message


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"key": "shop-key-1", "secret": ""}, "key is set but secret is empty"),
        ({"key": "", "secret": "s3cret-long-enough"}, "secret is set but key is empty"),
    ],
)
def test_a_source_with_only_half_its_credentials_is_refused(
    spec: dict[str, str], needle: str
) -> None:
    message = error({"sources": {"shop": spec}})
    assert "proactive.sources.shop" in message
    assert needle in message


def test_the_shipped_source_is_off_until_both_come_from_the_environment() -> None:
    """No well-known development key ships: without the variables the source exists but
    nobody can sign for it (the endpoint answers 503, tests/connectors/events)."""
    shop = load_config(REPO / "config.yml", env={}).proactive.sources["shop"]
    assert not shop.configured
    assert shop.key.get_secret_value() == shop.secret.get_secret_value() == ""
    set_up = load_config(
        REPO / "config.yml",
        env={"PROACTIVE_SHOP_KEY": "shop-key-1", "PROACTIVE_SHOP_SECRET": "s3cret-from-env-1"},
    ).proactive.sources["shop"]
    assert set_up.configured


def test_the_dwell_prompt_goes_only_to_an_open_widget_and_at_any_hour() -> None:
    section = load_config(REPO / "config.yml", env={}).proactive
    dwell = section.rules_for("page_dwell")[0]
    assert dwell.via == ["web"]
    assert dwell.quiet_hours is False
    others = [r for r in section.rules if r.event != "page_dwell"]
    assert all(r.quiet_hours and not r.via for r in others)


def test_a_rule_via_an_unknown_channel_names_the_key() -> None:
    message = error({"rules": [rule(via=["sms"])]})
    assert "proactive.rules[0].via" in message
    assert "unknown channel 'sms'" in message


def test_a_source_name_is_checked() -> None:
    message = error({"sources": {"Shop Main": {"key": "shop-key-1", "secret": "0123456789abcdef"}}})
    assert "proactive.sources" in message
    assert "'Shop Main'" in message


def test_a_source_missing_its_env_variable_names_the_key_and_variable() -> None:
    message = error({"sources": {"shop": {"key": "shop-key-1", "secret": "${SHOP_SECRET}"}}})
    assert "proactive.sources.shop.secret: environment variable SHOP_SECRET is not set" in message


def test_opt_out_words_are_matched_ignoring_case() -> None:
    words = load({"opt_out_words": {"zh": ["退订"], "en": ["STOP"]}}).opt_out_words.words()
    assert words == frozenset({"退订", "stop"})


def test_too_many_buttons_are_refused() -> None:
    buttons = [{"zh": "按钮", "en": "Button", "payload": f"/b{i}"} for i in range(6)]
    assert "proactive.rules[0].buttons" in error({"rules": [rule(buttons=buttons)]})


# --- rendering ------------------------------------------------------------------------------------


def test_render_fills_variables_in_the_customers_language_with_buttons_and_opt_out() -> None:
    r = load(
        {"rules": [rule(buttons=[{"zh": "去结算", "en": "Check out", "payload": "/order_status"}])]}
    ).rules[0]
    text, buttons = render(r, "zh", {"product": "风筝 X1"})
    assert text == "您的购物车里还有 风筝 X1\n\n回复“退订”不再接收"
    assert buttons == [
        {"title": "去结算", "payload": "/order_status"},
        {"title": "退订", "payload": "/opt_out"},
    ]
    text, buttons = render(r, "en-US", {"product": "Kite X1"})
    assert text == "You left Kite X1 in your cart\n\nReply STOP to opt out"
    assert [b["title"] for b in buttons] == ["Check out", "Opt out"]


def test_render_never_reads_values_as_template_syntax_and_limits_them() -> None:
    r = load({"rules": [rule()]}).rules[0]
    text, _ = render(r, "en", {"product": "{name}\x00" + "x" * 500})
    first = text.split("\n")[0]
    assert "{name}" in first
    assert "\x00" not in first
    assert len(first) < 250


def test_a_missing_variable_renders_empty_rather_than_failing() -> None:
    r = load({"rules": [rule()]}).rules[0]
    text, _ = render(r, "zh", {})
    assert text.startswith("您的购物车里还有")


def test_template_variables_take_only_the_allowed_keys_and_the_name() -> None:
    r = load({"rules": [rule(variables=["size"])]}).rules[0]
    got = template_variables(r, {"product": "X1", "size": 42, "token": "t", "order": None}, "王芳")
    assert got == {"product": "X1", "size": "42", "name": "王芳"}
