"""`peelqa usage` as text: the figures, a bar a day, the refused questions and the feedback."""

from __future__ import annotations

from peelqa.storage.models import UsageReport

# Characters of the longest bar: the table fits an 80-column terminal.
BAR_CHARS = 40
ANSWERED, REFUSED = "█", "░"
# Characters of a question or answer in a line; the JSON has them whole.
CLIP = 70


def format_usage(report: UsageReport) -> str:
    share = "–" if report.refused_share is None else f"{report.refused_share:.0%}"
    lines = [
        f"peelqa usage, {report.since} to {report.until} (UTC days)",
        f"questions {report.questions} · answered {report.answered} · not answered "
        f"{report.refused} ({share}) · rated up {report.feedback_up}, down "
        f"{report.feedback_down}",
        "",
        f"{'day':10}  {'questions':>9}  {'not ans.':>8}  {ANSWERED} answered {REFUSED} not",
    ]
    peak = max((d.questions for d in report.days), default=0)
    for d in report.days:
        answered = round(BAR_CHARS * d.answered / peak) if peak else 0
        refused = round(BAR_CHARS * d.refused / peak) if peak else 0
        if d.refused and not refused:
            refused = 1  # a refusal is never invisible
        bar = ANSWERED * answered + REFUSED * refused
        lines.append(f"{d.day!s:10}  {d.questions:9}  {d.refused:8}  {bar}")
    lines += ["", "most frequent questions the reports did not answer:"]
    if report.refused_questions:
        lines += [f"  {q.count:4}  {_clip(q.question)}" for q in report.refused_questions]
    elif not report.questions_logged:
        lines.append("  (question text is not kept: set PEELQA_LOG_QUESTIONS=1)")
    else:
        lines.append("  none")
    lines += ["", "feedback by answer (thumbs-down first):"]
    if not report.feedback:
        lines.append("  none")
    for f in report.feedback:
        question = _clip(f.question) if f.question else "(question not kept)"
        lines.append(f"  {f.rating:4}  {f.updated:%Y-%m-%d %H:%M}  {question}")
        lines.append(f"        answer: {_clip(f.answer)}")
        if f.comment:
            lines.append(f"        comment: {_clip(f.comment)}")
    return "\n".join(lines)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= CLIP else text[: CLIP - 1].rstrip() + "…"
