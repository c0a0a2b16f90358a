"""The monthly report: one HTML page with the dashboard's charts as PNG files beside it, and
every table as CSV, in a folder that can be mailed or archived as it is."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.analytics.inputs import COLUMNS, CSV_TABLES, table, to_csv

PERCENT = {
    "containment_rate",
    "escalation_rate",
    "human_within_sla_rate",
    "first_contact_resolution_rate",
    "csat_rate",
    "participation_rate",
    "conversion_rate",
}
HEADLINE = [
    ("conversations", "Conversations / 会话数"),
    ("open", "Still open (not in the outcome figures) / 未结束（不计入结果指标）"),
    ("containment_rate", "Bot containment / 机器人独立解决率"),
    ("escalation_rate", "Escalation rate / 转人工率"),
    ("bot_first_response_p50_s", "Bot first response p50 (s) / 机器人首响"),
    ("human_first_response_p50_s", "Agent first response p50 (s) / 人工首响"),
    ("human_within_sla_rate", "Agent first response within SLA / 首响达标率"),
    ("sla_breaches", "SLA breaches / 超时"),
    ("resolution_p50_s", "Time to resolution p50 (s) / 解决时长"),
    ("first_contact_resolution_rate", "First-contact resolution / 一次解决率"),
    ("csat_rate", "CSAT (4-5) / 满意率"),
    ("csat_mean_100", "CSAT mean (0-100) / 满意度均分"),
]
PROACTIVE = [
    ("sent", "Sent / 已发送"),
    ("delivered", "Delivered / 已送达"),
    ("replied", "Replied / 已回复"),
    ("converted", "Converted / 已转化"),
    ("participation_rate", "Participation (replied ÷ delivered) / 参与率（回复 ÷ 送达）"),
    ("conversion_rate", "Conversion (converted ÷ sent) / 转化率（转化 ÷ 发送）"),
    ("suppressed", "Held back / 未发送"),
    ("opt_outs", "Customers who opted out / 退订的客户"),
]
REASON_LABELS = {
    "opt_out": "Customer opted out / 客户已退订",
    "expired": "Expired / 已过期",
    "conditions": "Rule's conditions not met / 不满足规则条件",
    "cooldown": "Cool-down / 冷却期内",
    "cap": "Weekly cap reached / 已达每周上限",
    "quiet_hours": "Postponed for quiet hours (not in the total) / 免打扰顺延（不计入合计）",
    "duplicate": "Duplicate event / 重复事件",
    "unreachable": "No channel reached the customer / 无可触达渠道",
}


def fmt(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if key in PERCENT:
        return f"{float(value) * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def write_report(summary: dict[str, Any], out: Path, title: str) -> list[Path]:
    """Write report.html, the charts (PNG) and the tables (CSV) into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written = [*_charts(summary, out)]
    for name in CSV_TABLES:
        path = out / f"{name}.csv"
        path.write_text("\ufeff" + to_csv(table(summary, name), COLUMNS[name]), encoding="utf-8")
        written.append(path)
    if "proactive" in summary:
        path = out / "proactive.csv"
        path.write_text(
            "\ufeff" + to_csv(proactive_rows(summary["proactive"]), ["figure", "value"]),
            encoding="utf-8",
        )
        written.append(path)
    page = out / "report.html"
    page.write_text(_html(summary, title), encoding="utf-8")
    written.append(page)
    return written


def proactive_rows(p: dict[str, Any]) -> list[dict[str, Any]]:
    """The proactive figures as (figure, value) rows: the counts, the rates, each reason."""
    rows = [{"figure": k, "value": p.get(k)} for k, _ in PROACTIVE]
    rows += [
        {"figure": f"suppressed:{r['reason']}", "value": r["count"]}
        for r in p["suppressed_by_reason"]
    ]
    return rows


def _proactive_html(p: dict[str, Any] | None) -> str:
    if p is None:
        return ""
    cards = "".join(
        f'<div class="card"><div class="v">{html.escape(fmt(k, p.get(k)))}</div>'
        f'<div class="k">{html.escape(label)}</div></div>'
        for k, label in PROACTIVE
    )
    reasons = _rows(
        [
            {"reason": REASON_LABELS.get(r["reason"], r["reason"]), "count": r["count"]}
            for r in p["suppressed_by_reason"]
        ],
        ["reason", "count"],
    )
    return (
        "<h2>Proactive contact / 主动触达</h2>"
        "<p>Messages the bot sent first, from the shop's events. Participation rate = replied ÷ "
        "delivered; converted = an order paid after a cart or payment reminder "
        "(docs/analytics.md).</p>"
        f'<div class="cards">{cards}</div>'
        f"<h3>Held back, by reason / 未发送原因</h3>{reasons}"
    )


def _charts(summary: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = out / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)

    series = summary["series"]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    xs = [row["key"] for row in series]
    ax.bar(xs, [row["conversations"] for row in series], color="#9cc9c6", label="conversations")
    ax.set_ylabel("conversations")
    ax.tick_params(axis="x", rotation=60, labelsize=7)
    ax2 = ax.twinx()
    for key, colour in (("containment_rate", "#0b7a75"), ("csat_rate", "#d9822b")):
        ax2.plot(
            xs,
            [row[key] if row[key] is not None else float("nan") for row in series],
            marker=".",
            color=colour,
            label=key.replace("_rate", ""),
        )
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("share")
    ax2.legend(loc="lower right", fontsize=8)
    ax.set_title("Conversations, containment and CSAT")
    save(fig, "trend")

    frt = summary["first_response"]["human"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    labels = [f"≤{b['le']}s" if b["le"] is not None else "more" for b in frt]
    sla = summary["first_response"]["sla_seconds"]
    colours = ["#0b7a75" if b["le"] is not None and b["le"] <= sla else "#c0392b" for b in frt]
    ax.bar(labels, [b["count"] for b in frt], color=colours)
    ax.set_title(f"Agent first response (SLA {sla:g} s: green within)")
    ax.tick_params(axis="x", labelsize=8)
    save(fig, "first_response")

    for name, rows, key in (
        ("problems", summary["top_problems"]["intents"], "intent"),
        ("categories", summary["top_problems"]["categories"], "category"),
        ("reasons", summary["escalation_reasons"], "reason"),
    ):
        fig, ax = plt.subplots(figsize=(6, 3.2))
        names = [str(r[key]) for r in rows][::-1]
        ax.barh(names, [r["count"] for r in rows][::-1], color="#0b7a75")
        ax.set_title(
            {
                "problems": "Top problems (intents)",
                "categories": "Top knowledge categories",
                "reasons": "Escalation reasons",
            }[name]
        )
        ax.tick_params(axis="y", labelsize=8)
        save(fig, name)
    return paths


def _rows(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(c, r.get(c)))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(summary: dict[str, Any], title: str) -> str:
    t = summary["totals"]
    cards = "".join(
        f'<div class="card"><div class="v">{html.escape(fmt(k, t.get(k)))}</div>'
        f'<div class="k">{html.escape(label)}</div></div>'
        for k, label in HEADLINE
    )
    slice_cols = [
        "key",
        "conversations",
        "open",
        "containment_rate",
        "human_first_response_p50_s",
        "human_within_sla_rate",
        "sla_breaches",
        "resolution_p50_s",
        "first_contact_resolution_rate",
        "csat_rate",
        "csat_mean_100",
    ]
    names = summary.get("agents", {})

    def named(d: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Agents by the name their colleagues know, the username beside it.
        if d != "agent":
            return rows
        return [
            {**r, "key": f"{names[r['key']]} ({r['key']})"} if r["key"] in names else r
            for r in rows
        ]

    slices = "".join(
        f"<h3>By {html.escape(d.replace('_', ' '))}</h3>"
        + _rows(named(d, summary["slices"][d]), slice_cols)
        for d in ("channel", "skill_group", "agent", "language")
    )
    gaps = _rows(
        [{**g, "examples": " | ".join(g["examples"])} for g in summary["knowledge_gaps"]],
        ["label", "count", "language", "examples"],
    )
    c = summary["comments"]
    phrases = "".join(
        f"<p><b>{lang}</b>: "
        + html.escape(", ".join(f"{p['phrase']} ({p['count']})" for p in c["phrases"][lang]))
        + "</p>"
        for lang in ("zh", "en")
    )
    sentiment = ", ".join(f"{k} {v}" for k, v in c["sentiment"].items())
    period = summary["period"]
    return f"""<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "PingFang SC", system-ui, sans-serif; margin: 2rem;
  color: #1d2b2a; max-width: 1100px; }}
.cards {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr));
  gap: .6rem; }}
.card {{ border: 1px solid #d5e3e1; border-radius: 8px; padding: .6rem .8rem; }}
.card .v {{ font-size: 1.5rem; font-weight: 600; color: #0b7a75; }}
.card .k {{ font-size: .8rem; color: #52635f; }}
table {{ border-collapse: collapse; margin: .5rem 0 1.2rem; font-size: .85rem; }}
th, td {{ border-bottom: 1px solid #e3ecea; padding: .25rem .6rem; text-align: left; }}
img {{ max-width: 100%; }}
.charts {{ display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{period["from"]:%Y-%m-%d} – {period["to"]:%Y-%m-%d} (UTC, end exclusive) · SLA
{summary["settings"]["sla_seconds"]:g} s · first-contact window {summary["settings"]["fcr_days"]:g}
days. Containment, escalation, time to resolution and first-contact resolution are over
closed conversations only; {fmt("open", summary["totals"]["open"])} still open are counted
apart. Definitions: bot/analytics/metrics.py and docs/analytics.md.</p>
<div class="cards">{cards}</div>
<h2>Trend / 趋势</h2><img src="trend.png" alt="Conversations, containment and CSAT per day">
<div class="charts">
<div><h2>First response / 首响</h2><img src="first_response.png" alt="Agent first response"></div>
<div><h2>Escalation reasons / 转人工原因</h2><img src="reasons.png" alt="Escalation reasons"></div>
<div><h2>Top problems / 热点问题</h2><img src="problems.png" alt="Top intents"></div>
<div><h2>Knowledge categories / 知识分类</h2><img src="categories.png" alt="Top categories"></div>
</div>
{_proactive_html(summary.get("proactive"))}
<h2>Knowledge gaps / 知识缺口</h2>{gaps}
<h2>Slices / 分维度</h2>{slices}
<h2>Rating comments / 评价留言</h2><p>{c["count"]} comments: {html.escape(sentiment)}</p>{phrases}
<h2>SLA breaches / 超时明细</h2>
{
        _rows(
            summary["sla_breaches"][:50],
            COLUMNS["breaches"],
        )
    }
<h2>Low ratings / 差评</h2>
{_rows(summary["low_ratings"], COLUMNS["low_ratings"])}
</body></html>
"""
