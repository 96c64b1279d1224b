"""Match a query to knowledge entries: an id or a name exactly, else free text.

Free text is scored against what people type for an entry (its symptom phrases and title)
much more than against its body, because a symptom such as "val loss goes up" names the
problem the way a user sees it, while an entry's body also mentions every neighbouring
problem. Words are reduced to crude stems and a few synonyms (NaN/Inf -> nonfinite, val ->
validation) so "gradients are vanishing" meets "vanishing gradient".
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from functools import cache

from nnlearn.knowledge import Entry, entries, shipped_index

# below this score a match is a guess: answer with "did you mean" instead
GOOD_MATCH = 2.5

STOP = set(
    "a an the is are was were be been being my i me it its to of in on at and or do does did "
    "with for what how why when should can could this that there these those after before "
    "very so but get gets got have has had from by as im keep keeps just still any all "
    "during using use your you we our".split()
)
# a word -> the word it is filed under (applied before stemming)
SYNONYMS = {
    "nan": "nonfinite",
    "nans": "nonfinite",
    "inf": "nonfinite",
    "infinite": "nonfinite",
    "infinity": "nonfinite",
    "non": "",
    "finite": "nonfinite",
    "acc": "accuracy",
    "val": "validation",
    "valid": "validation",
    "dev": "validation",
    "lr": "learning rate",
    "grad": "gradient",
    "grads": "gradient",
    "neuron": "unit",
    "neurons": "unit",
    "relus": "relu",
    "dying": "dead",
    "die": "dead",
    "dies": "dead",
    "imbalance": "imbalanced",
    "unbalanced": "imbalanced",
    "underfit": "underfitting",
    "overfits": "overfitting",
    "overfit": "overfitting",
    "zeros": "zero",
    "rises": "up",
    "rising": "up",
    "increases": "up",
    "increasing": "up",
    "climbs": "up",
    "higher": "up",
    "stuck": "plateau",
    "flat": "plateau",
    "stagnates": "plateau",
    "pretrained": "pre trained",
    "finetune": "fine tune",
    "finetuning": "fine tune",
    "blows": "explode",
    "blow": "explode",
    "huge": "explode",
    "tiny": "small",
}
_SUFFIXES = (
    "izations",
    "ization",
    "izing",
    "ized",
    "izes",
    "ize",
    "ations",
    "ation",
    "ences",
    "ence",
    "ments",
    "ment",
    "ings",
    "ing",
    "ies",
    "ed",
    "es",
    "ly",
    "s",
)


@cache  # the index stems ~12k words, ~1.5k of them distinct: half of `explain`'s start-up
def stem(word: str) -> str:
    word = re.sub(r"is(e|ed|es|ing|ation|ations)$", r"iz\1", word)
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]  # overfitt -> overfit
    return word


def tokens(text: str) -> list[str]:
    out = []
    for raw in re.findall(r"[a-z0-9]+", text.lower().replace("%", " percent")):
        for word in SYNONYMS.get(raw, raw).split():
            if word and word not in STOP:
                out.append(stem(word))
    return out


@dataclass
class Match:
    entry: Entry
    score: float


@cache
def _index() -> tuple[list[tuple[Entry, list[list[str]], set[str], set[str]]], dict[str, float]]:
    """Per entry: its phrases' tokens, its title/summary tokens, its body tokens; and idf.
    Read from the shipped index (`nnlearn.knowledge`) when it is current."""
    all_entries = entries()
    index = shipped_index() or build_index(all_entries)
    rows = [
        (e, phrases, set(head), set(body))
        for e, (phrases, head, body) in zip(all_entries, index["rows"], strict=True)
    ]
    return rows, index["idf"]


def build_index(all_entries: tuple[Entry, ...]) -> dict:
    """The tokens of every entry's phrases, title and summary, and body; and their idf."""
    rows = []
    df: dict[str, int] = {}
    for e in all_entries:
        phrases = [p for p in (tokens(p) for p in [e.title, *e.phrases]) if p]
        head = sorted(set(tokens(e.title + " " + e.summary + " " + e.id.replace("_", " "))))
        body = sorted(set(tokens(" ".join(_flat(b) for _, b in e.sections))))
        rows.append([phrases, head, body])
        for t in {*head, *body, *(t for p in phrases for t in p)}:
            df[t] = df.get(t, 0) + 1
    n = len(rows)
    return {"rows": rows, "idf": {t: math.log(1 + n / c) for t, c in sorted(df.items())}}


def _flat(body) -> str:
    return " ".join(body) if isinstance(body, list) else str(body)


def exact(query: str) -> Entry | None:
    """An entry named exactly: rule id, rule name, cause (with _ or spaces), FAQ id."""
    q = query.strip().lower()
    for e in entries():
        names = {e.id.lower(), e.id.lower().replace("_", " ")}
        if e.kind == "rule":
            name = e.title.split(" ", 1)[1]
            names |= {name, name.replace("-", " ")}
        if q in names:
            return e
    return None


def search(query: str, limit: int = 5) -> list[Match]:
    """Entries best first; an exact name gives that entry alone, with an infinite score."""
    hit = exact(query)
    if hit:
        return [Match(hit, math.inf)]
    q = tokens(query)
    if not q:
        return []
    rows, idf = _index()
    qset = set(q)
    weight = {t: idf.get(t, 0.0) for t in qset}
    total = sum(weight.values()) or 1.0
    scored = []
    for e, phrases, head, body in rows:
        # the best-matching phrase: the share of the query's weight it covers, penalised
        # by how much of the phrase the query leaves out
        best = 0.0
        for p in phrases:
            common = qset & set(p)
            if common:
                covered = sum(weight[t] for t in common) / total
                precision = len(common) / len(set(p))
                best = max(best, covered * (0.5 + 0.5 * precision))
        score = 6.0 * best
        score += 1.5 * sum(weight[t] for t in qset & head) / total
        score += 0.5 * sum(weight[t] for t in qset & body) / total
        score *= min(1.0, total / 2.0)  # a query of one common word is weak evidence
        if score > 0:
            scored.append(Match(e, score))
    scored.sort(key=lambda m: -m.score)
    return scored[:limit]


def did_you_mean(query: str, limit: int = 3) -> list[str]:
    """Entry ids close to the query's spelling, then the best weak matches."""
    names = {e.id.lower(): e.id for e in entries()}
    names |= {e.title.split(" ", 1)[1]: e.id for e in entries() if e.kind == "rule"}
    close = difflib.get_close_matches(query.strip().lower(), list(names), n=limit, cutoff=0.6)
    out = [names[c] for c in close]
    out += [m.entry.id for m in search(query, limit)]
    return list(dict.fromkeys(out))[:limit]
