"""Reading the conversation: chit-chat, and whether a question is a follow-up that needs the
turns before it to be understood."""

from __future__ import annotations

import re

from peelqa.kinds import is_yes_no
from peelqa.models import Turn
from peelqa.text import STOPWORDS, content_words, words

_FOLLOW_UP_OPENERS = ("and", "also", "but", "so", "then", "what about", "how about")
_FILLERS = ("ok", "okay", "right", "well", "great", "cool", "thanks", "thank you", "cheers")
_DEICTIC = frozenset(
    """
    that this it its they them their those these there he she him her his such
    """.split()
)
_CHITCHAT = frozenset(
    """
    hi hello hey thanks thank you cheers bye goodbye ok okay great cool nice good
    morning afternoon evening lol yes no yeah nope sure
    """.split()
)
_QUESTION_WORDS = frozenset(
    ["what", "why", "how", "who", "when", "where", "which", "whose", "whom"]
)


def _strip_fillers(question: str) -> str:
    q = question.strip().lower()
    changed = True
    while changed:
        changed = False
        for f in _FILLERS:
            if q.startswith(f + " ") or q.startswith(f + ","):
                q = q[len(f) + 1 :].lstrip(" ,")
                changed = True
    return q


def is_chitchat(question: str) -> bool:
    """Greetings and thanks: nothing but such words, and not asked as a question ("are they
    any good?" is made of them too)."""
    ws = words(question)
    return (
        bool(ws)
        and all(w in _CHITCHAT or w in STOPWORDS for w in ws)
        and not (set(ws) & _QUESTION_WORDS)
        and not is_yes_no(question)
    )


# A request for some other task ("can you write me a poem", "recommend a good pub"): nothing
# a report's sentences can answer, however many of its words it shares.
_OTHER_TASK = re.compile(
    r"^\s*(?:(?:hi|hey|hello|ok|okay|please)\W+)*(?:(?:can|could|would|will) (?:you|u)\s+)?"
    r"(?:please\s+)?(?:write|compose|draft|recommend|translate|sing|book|order|generate|create"
    r"|tell me a (?:joke|story)|make me)\b(?!\s+(?:about|in|on)\b)"
    # ... but "write me a summary of the report" asks for what the report says.
    r"(?!(?:\s+(?:me|us|up|out|a|an|the|short|brief|quick))*\s+(?:summary|list|overview|table))",
    re.IGNORECASE,
)


# A sum to work out ("what's 17 x 23"): the report's sentences hold the same figures ("in 17
# calls"), never the result.
_SUM = re.compile(
    r"^\s*(?:(?:what|how much)(?:'s|s|\s+is)?|calculate|work out|compute)?\s*"
    r"(?:\d[\d,.]*\s*(?:[x×*/+^-]|times|plus|minus|divided by|multiplied by)\s*)+"
    r"\d[\d,.]*\s*\??\s*$",
    re.IGNORECASE,
)


def is_other_task(question: str) -> bool:
    return bool(_OTHER_TASK.search(question) or _SUM.search(question))


def opens_follow_up(question: str) -> bool:
    """Whether a question opens as a follow-up does ("and ...", "what about ...")."""
    q = _strip_fillers(question)
    return _opens(q, words(q))


def _opens(q: str, ws: list[str]) -> bool:
    """`opens_follow_up` of a question with its fillers stripped, and its words."""
    return bool(ws) and q.startswith(_FOLLOW_UP_OPENERS) and (len(ws) == 1 or q[len(ws[0])] in " ,")


def needs_context(question: str) -> bool:
    """Whether a question only makes sense with the conversation before it."""
    q = _strip_fillers(question)
    ws = words(q)
    if not ws or _opens(q, ws):
        return True
    content = content_words(q)
    if not content:
        return True
    return bool(_DEICTIC & set(ws)) and len(content) <= 3


def conversation_context(*, question: str, history: list[Turn]) -> str:
    """The earlier user turns a follow-up needs to be understood; empty when it stands alone.

    A self-contained question is searched alone, so an old topic never overrides a new one.
    """
    users = [t.content for t in history if t.role == "user"]
    if not users or not needs_context(question):
        return ""
    context = [users[-1]]
    # Walk back through chained follow-ups ("and that?" after "why?") to the topic they share.
    for earlier in reversed(users[:-1]):
        if not needs_context(context[0]):
            break
        context.insert(0, earlier)
    return " ".join(context)


def previous_answer(history: list[Turn]) -> str:
    """The assistant's last turn: what a follow-up ("why?") is most likely about."""
    return next((t.content for t in reversed(history) if t.role == "assistant"), "")
