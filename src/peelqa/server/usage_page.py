"""The admin usage page: figures, a chart drawn as inline SVG, and tables, in one HTML
document with nothing to fetch (no script, no CDN). Every text from the database is escaped."""

from __future__ import annotations

import math
from html import escape

from peelqa.storage.models import StoredFeedback, UsageDay, UsageReport

ANSWERED_COLOUR = "#2f6f9f"
REFUSED_COLOUR = "#d9822b"
# Characters of an answer shown in the feedback table; the whole one is in GET /v1/feedback.
ANSWER_PREVIEW_CHARS = 280
PERIODS = (7, 30, 90, 365)

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d2733; margin: 0; background: #f6f7f9; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; }
.period a { margin-left: .5rem; }
.totals { display: flex; flex-wrap: wrap; gap: .75rem; margin-top: 1rem; }
.total { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; padding: .6rem .9rem;
         min-width: 9rem; }
.total b { display: block; font-size: 1.5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border-bottom: 1px solid #e3e7ec; padding: .4rem .5rem; text-align: left;
         vertical-align: top; }
th { font-weight: 600; background: #eef1f4; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #55606e; }
.up { color: #23753a; } .down { color: #b3401e; }
svg { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; max-width: 100%;
      height: auto; }
"""


def render_usage(report: UsageReport) -> str:
    share = _percent(report.refused_share)
    totals = [
        ("Questions", f"{report.questions:,}"),
        ("Answered", f"{report.answered:,}"),
        ("Not answered", f"{report.refused:,} ({share})"),
        ("Rated helpful", f"{report.feedback_up:,}"),
        ("Rated unhelpful", f"{report.feedback_down:,}"),
    ]
    periods = " ".join(
        f'<a href="?days={n}">{n} days</a>' if n != len(report.days) else f"<b>{n} days</b>"
        for n in PERIODS
    )
    cards = "".join(
        f'<div class="total">{escape(label)}<b>{value}</b></div>' for label, value in totals
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>peelqa usage, {report.since} to {report.until}</title>
<style>{_STYLE}</style>
</head>
<body>
<main>
<h1>Usage</h1>
<p class="period">{report.since} to {report.until} (UTC days) {periods}</p>
<section class="totals">{cards}</section>
<h2>Questions a day</h2>
{usage_chart(report.days)}
{_refused_section(report)}
{_feedback_section(report.feedback)}
<h2>By day</h2>
{_days_table(report.days)}
</main>
</body>
</html>
"""


def usage_chart(days: list[UsageDay], *, width: int = 760, height: int = 240) -> str:
    """Stacked bars, one a day: answered below, not answered above, with a scale."""
    left, right, top, bottom = 44, 12, 28, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_ceiling(max((d.questions for d in days), default=0))
    slot = plot_w / max(1, len(days))
    bar = max(1.0, slot * 0.78)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="chart-title">',
        '<title id="chart-title">Questions a day: answered and not answered</title>',
        f'<rect x="{left}" y="8" width="10" height="10" fill="{ANSWERED_COLOUR}"/>'
        f'<text x="{left + 14}" y="17" font-size="12">answered</text>'
        f'<rect x="{left + 90}" y="8" width="10" height="10" fill="{REFUSED_COLOUR}"/>'
        f'<text x="{left + 104}" y="17" font-size="12">not answered</text>',
    ]
    for tick in (0, peak // 2, peak) if peak > 1 else (0, peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e3e7ec"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{tick}</text>'
        )
    every = max(1, math.ceil(len(days) / 8))
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        h_answered = plot_h * d.answered / peak
        h_refused = plot_h * d.refused / peak
        y_answered = top + plot_h - h_answered
        parts.append(
            f"<g><title>{d.day}: {d.questions} question(s), {d.refused} not answered</title>"
            f'<rect x="{x:.1f}" y="{y_answered:.1f}" width="{bar:.1f}" '
            f'height="{h_answered:.1f}" fill="{ANSWERED_COLOUR}"/>'
            f'<rect x="{x:.1f}" y="{y_answered - h_refused:.1f}" width="{bar:.1f}" '
            f'height="{h_refused:.1f}" fill="{REFUSED_COLOUR}"/></g>'
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 10}" font-size="11" '
                f'text-anchor="middle">{d.day.strftime("%d %b")}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _nice_ceiling(n: int) -> int:
    """The scale's top: 1, 2 or 5 times a power of ten, at least n (and at least 1)."""
    if n <= 1:
        return 1
    power = int(10 ** math.floor(math.log10(n)))
    for step in (1, 2, 5, 10):
        if step * power >= n:
            return step * power
    return 10 * power


def _refused_section(report: UsageReport) -> str:
    head = "<h2>Most frequent questions the reports did not answer</h2>"
    if not report.questions_logged and not report.refused_questions:
        return (
            f'{head}<p class="note">Question text is not kept. Set PEELQA_LOG_QUESTIONS=1 to keep '
            f"it (for {report.retention_days} days, PEELQA_RETENTION_DAYS) and see here what "
            "staff ask that the reports do not cover.</p>"
        )
    if not report.refused_questions:
        return f'{head}<p class="note">None in this period.</p>'
    rows = "".join(
        f"<tr><td>{escape(q.question)}</td><td class=n>{q.count}</td>"
        f"<td>{q.last_asked:%Y-%m-%d %H:%M}</td></tr>"
        for q in report.refused_questions
    )
    return (
        f"{head}<table><thead><tr><th>question</th><th>times</th><th>last asked (UTC)</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _feedback_section(items: list[StoredFeedback]) -> str:
    head = "<h2>Feedback by answer</h2>"
    if not items:
        return f'{head}<p class="note">No answers were rated in this period.</p>'
    rows = []
    for f in items:
        mark = (
            '<span class="down">▼ down</span>'
            if f.rating == "down"
            else ('<span class="up">▲ up</span>')
        )
        answer = (
            f.answer
            if len(f.answer) <= ANSWER_PREVIEW_CHARS
            else (f.answer[:ANSWER_PREVIEW_CHARS].rstrip() + " …")
        )
        sources = ", ".join(sorted({f"{c.doc} · {c.section}" for c in f.citations}))
        question = escape(f.question) if f.question else '<span class="note">(not kept)</span>'
        rows.append(
            f"<tr><td>{mark}</td><td>{question}</td><td>{escape(answer)}"
            f'<div class="note">{escape(sources)}</div></td>'
            f"<td>{escape(f.comment or '')}</td><td>{f.updated:%Y-%m-%d %H:%M}</td></tr>"
        )
    return (
        f"{head}<table><thead><tr><th>rating</th><th>question</th><th>answer</th>"
        f"<th>comment</th><th>rated (UTC)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _days_table(days: list[UsageDay]) -> str:
    rows = "".join(
        f"<tr><td>{d.day}</td><td class=n>{d.questions}</td><td class=n>{d.answered}</td>"
        f"<td class=n>{d.refused}</td>"
        f"<td class=n>{_percent(d.refused / d.questions if d.questions else None)}</td>"
        f"<td class=n>{'' if d.mean_latency_ms is None else f'{d.mean_latency_ms:.0f} ms'}</td>"
        "</tr>"
        for d in reversed(days)
    )
    return (
        "<table><thead><tr><th>day</th><th>questions</th><th>answered</th><th>not answered</th>"
        f"<th>share not answered</th><th>mean time</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"
