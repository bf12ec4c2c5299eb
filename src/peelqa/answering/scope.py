"""Which reports a question is about, when the corpus holds several.

A report is named by its force (the words of the force's name, its initials, a short form such
as "Northants" for Northamptonshire), its places and people (names no other force's reports
use), the years of its title, and the kind of inspection in its title (effectiveness,
efficiency, legitimacy). A question naming one force is answered from that force's reports; a
year or a kind of inspection narrows those further. A question that names nothing is not
scoped: the evidence decides.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from peelqa.reports.model import Document
from peelqa.text import STOPWORDS

_FORCE_RE = re.compile(
    r"\b((?:[A-Z][a-z]+|&|and|of)(?:\s(?:[A-Z][a-z]+|&|and|of))*)\s(?:Police|Constabulary)\b"
)
# Words of a force's name that name no force in particular.
_GENERIC = frozenset(
    """
    police constabulary service greater north south east west northern southern eastern western
    city county and of the royal metropolitan mid central
    """.split()
)
KINDS = ("effectiveness", "efficiency", "legitimacy", "vulnerability")
_YEAR_RE = re.compile(r"\b((?:19|20)\d\d)(?:\s?[/–-]\s?(\d\d(?:\d\d)?))?\b")
# A year after these words is a comparison with another time, not the report asked about.
_NOT_THIS_YEAR = re.compile(
    r"\b(?:since|before|after|than|compared|comparison|previous|previously|earlier|last|prior"
    r"|until|from)\b(?:\W+\w+){0,3}\W*$",
    re.IGNORECASE,
)
# A short form is at least this much of a name's start ("Northants" -> "northa...").
MIN_SHORT_FORM = 4


@dataclass
class Profile:
    doc: str
    names: set[str] = field(default_factory=set)  # lower-case name words
    initials: set[str] = field(default_factory=set)  # "GDP", "HWP", "HW"
    years: set[int] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)
    # The words of the name of the force the report is about (its title's, else the one it
    # names most); other forces it mentions (a neighbour it collaborates with) are not it.
    own: set[str] = field(default_factory=set)


def title_years(title: str) -> set[int]:
    """The years a title covers: "2018/19" is 2018 and 2019, "2023–25" 2023 to 2025."""
    found: set[int] = set()
    for m in _YEAR_RE.finditer(title):
        first = int(m.group(1))
        found.add(first)
        if m.group(2):
            end = int(m.group(2)) if len(m.group(2)) == 4 else first // 100 * 100 + int(m.group(2))
            found.update(range(first, min(end, first + 5) + 1))
    return found


def profiles(documents: list[Document], *, common: frozenset[str]) -> dict[str, Profile]:
    """Each report's names, years and kinds. `common`: plain English words, which name a
    report only as part of its force's name."""
    texts = {
        d.doc: " ".join([d.title, *(s.heading + " " + s.text for s in d.sections)])
        for d in documents
    }
    capitalised: dict[str, Counter[str]] = {}
    for doc, text in texts.items():
        capitalised[doc] = Counter(
            m.lower() for m in re.findall(r"(?<=[a-z,;] )[A-Z][a-z]{2,}", text)
        )
    using: Counter[str] = Counter()
    for counts in capitalised.values():
        using.update(counts.keys())
    out: dict[str, Profile] = {}
    for d in documents:
        p = Profile(doc=d.doc, years=title_years(d.title))
        p.kinds = {k for k in KINDS if k in d.title.lower()}
        forces = Counter(m.group(1) for m in _FORCE_RE.finditer(texts[d.doc]))
        titled = [m.group(1) for m in _FORCE_RE.finditer(d.title)]
        for force in titled or [f for f, _ in forces.most_common(1)]:
            p.own |= name_words(force)
        for force, _ in forces.most_common(2):
            parts = [w for w in re.findall(r"[A-Za-z]+|&", force)]
            p.names |= {w for w in name_words(force) if len(w) > 2}
            letters = "".join(w[0].upper() for w in parts if w.lower() not in ("and", "of", "&"))
            if len(letters) >= 1:
                p.initials |= {letters, letters + ("C" if "Constabulary" in force else "P")}
        # Places and people: capitalised mid-sentence, used at least twice, in fewer than half
        # of the reports (so that a force's own reports over the years share them).
        limit = max(1, len(documents) // 2)
        p.names |= (
            {
                w
                for w, n in capitalised[d.doc].items()
                if n >= 2 and using[w] <= limit and w not in STOPWORDS and w not in common
            }
            if len(documents) > 1
            else set()
        )
        out[d.doc] = p
    return out


def name_words(force: str) -> set[str]:
    """The words of a force's name that name it in particular (not "Police", "West")."""
    return {w.lower() for w in re.findall(r"[A-Za-z]+", force) if w.lower() not in _GENERIC}


def named_reports(
    question: str, profiles_: dict[str, Profile], *, known: frozenset[str]
) -> tuple[str, ...] | None:
    """The reports a question names, best narrowed; None when it names none. `known`: the
    corpus's own words (a short form is looked for only among words the corpus does not use)."""
    if len(profiles_) < 2:
        return None
    tokens = re.findall(r"[A-Za-z][A-Za-z&]*", question)
    lowered = [t.lower() for t in tokens]
    by_force = {
        doc
        for doc, p in profiles_.items()
        if any(_names(w, t, p, known) for w, t in zip(lowered, tokens, strict=True))
    }
    chosen = by_force or set(profiles_)
    years = years_asked(question)
    if years:
        dated = {doc for doc in chosen if profiles_[doc].years & years}
        chosen = dated or chosen
    kinds = {k for k in KINDS if k in question.lower()}
    if kinds:
        kinded = {doc for doc in chosen if profiles_[doc].kinds & kinds}
        chosen = kinded or chosen
    if chosen == set(profiles_):
        return None
    return tuple(sorted(chosen))


def _names(word: str, token: str, p: Profile, known: frozenset[str]) -> bool:
    if word in p.names:
        return True
    if token.isupper() and len(token) >= 2 and token.replace("&", "") in p.initials:
        return True
    if len(word) < MIN_SHORT_FORM or word in known or word in STOPWORDS:
        return False
    stem = word[: max(MIN_SHORT_FORM, len(word) - 3)]
    return any(len(n) >= 6 and n.startswith(stem) for n in p.names)


def years_asked(question: str) -> set[int]:
    """The years a question asks about as the time of a report (not 'since 2015')."""
    found: set[int] = set()
    for m in _YEAR_RE.finditer(question):
        if _NOT_THIS_YEAR.search(question[: m.start()]):
            continue
        found |= title_years(m.group(0))
    return found
