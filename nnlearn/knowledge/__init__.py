"""The knowledge base behind `nnlearn explain` and `nnlearn rules` (torch-free).

Four kinds of entries: one per cause (written by hand, `causes.py`), one per FAQ topic
(`faq.py`), triage pages for symptoms with several causes (`symptoms.py`), and one per rule, generated from the rule's docstring sections and class
attributes, so every rule added to `nnlearn/rules/` has an entry without anyone writing one.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import asdict, dataclass, field
from functools import cache

from nnlearn.knowledge.causes import CAUSES
from nnlearn.knowledge.faq import FAQ
from nnlearn.knowledge.symptoms import SYMPTOMS

# the docstring sections every rule has, in order (STYLE.md)
RULE_SECTIONS = ("What it detects", "Why it matters", "Evidence", "Example", "Fix")


@dataclass
class Entry:
    id: str  # "G401", "overfitting", "not-learning"
    kind: str  # "faq" | "symptom" | "cause" | "rule"
    title: str
    summary: str
    sections: list[tuple[str, str | list[str]]] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)  # what people type for it
    rules: list[str] = field(default_factory=list)
    tries: list[str] = field(default_factory=list)  # the spec change that tries the fix
    related: list[str] = field(default_factory=list)  # other entry ids

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sections"] = [{"heading": h, "body": b} for h, b in self.sections]
        return d


def rule_sections(doc: str) -> dict[str, str]:
    """A rule docstring's sections: header line `Name:` at column 0, body indented below."""
    sections: dict[str, str] = {}
    current = None
    lines: list[str] = []
    for line in inspect.cleandoc(doc or "").splitlines():
        header = line.rstrip().rstrip(":")
        if line.endswith(":") and not line.startswith(" ") and header in RULE_SECTIONS:
            if current:
                sections[current] = _paragraph(lines)
            current, lines = header, []
        elif current:
            lines.append(line)
    if current:
        sections[current] = _paragraph(lines)
    return sections


def _paragraph(lines: list[str]) -> str:
    return re.sub(r"[ \t]*\n[ \t]*(?=\S)", " ", inspect.cleandoc("\n".join(lines))).strip()


def cause_entry(cause: str, rules: list[str]) -> Entry:
    c = CAUSES[cause]
    return Entry(
        id=cause,
        kind="cause",
        title=c["title"],
        summary=c["meaning"],
        sections=[
            ("What it is", c["what"]),
            ("Why it happens", c["why"]),
            ("How nnlearn detects it", c["detect"]),
            ("Rules", rules or ["(no rule of this cause is installed)"]),
            ("How to fix it", c["fixes"]),
            ("Try it", c["tries"]),
        ],
        phrases=[cause.replace("_", " "), *c["symptoms"]],
        rules=rules,
        tries=list(c["tries"]),
        related=[f for f, t in FAQ.items() if cause in t["causes"]],
    )


def faq_entry(topic: str) -> Entry:
    t = FAQ[topic]
    return Entry(
        id=topic,
        kind="faq",
        title=t["question"],
        summary=t["answer"][0],
        sections=[("Answer", t["answer"]), ("Causes to read next", t["causes"])],
        phrases=[t["question"], *t["symptoms"]],
        related=list(t["causes"]),
    )


def symptom_entry(symptom: str) -> Entry:
    t = SYMPTOMS[symptom]
    return Entry(
        id=symptom,
        kind="symptom",
        title=t["title"],
        summary=t["meaning"],
        sections=[
            (
                "Possible causes, and how to tell them apart",
                [f"{c}: {how}" for c, how in t["causes"]],
            ),
            ("What to do first", t["first"]),
            ("Try it", t["tries"]),
        ],
        phrases=[t["title"], *t["symptoms"]],
        tries=list(t["tries"]),
        related=[c for c, _ in t["causes"]],
    )


def rule_entry(rule) -> Entry:
    """`rule`: a rule class or its description from `nnlearn.rules.catalogue`."""
    if not isinstance(rule, dict):
        from nnlearn.rules.catalogue import describe

        rule = describe(rule)
    s = rule_sections(rule["doc"])
    cause = rule["cause"]
    code = rule["rule"]
    return Entry(
        id=code,
        kind="rule",
        title=f"{code} {rule['name']}",
        summary=rule["summary"],
        sections=[
            ("What it detects", s.get("What it detects", "")),
            ("Why it matters", s.get("Why it matters", "")),
            ("How nnlearn detects it", s.get("Evidence", "")),
            ("Severity and cause", f"{rule['severity']}, {cause} (nnlearn explain {cause})"),
            ("Thresholds", rule["threshold_lines"] or ["none"]),
            ("Example", s.get("Example", "")),
            ("How to fix it", [s.get("Fix", ""), *rule["fixes"]]),
            ("Try it", CAUSES[cause]["tries"]),
            (
                "Tune or disable",
                f"probe.rules.thresholds: {{{code}: {{...}}}} or probe.rules.disable: [{code}]",
            ),
        ],
        phrases=[rule["name"].replace("-", " "), rule["summary"]],
        rules=[code],
        tries=list(CAUSES[cause]["tries"]),
        related=[cause],
    )


@cache
def entries() -> tuple[Entry, ...]:
    """Every entry: FAQ topics, symptoms, causes, rules."""
    from nnlearn.rules.catalogue import catalogue  # no rule module imported: no numpy

    rules = catalogue()
    by_cause: dict[str, list[str]] = {}
    for code, rule in rules.items():
        by_cause.setdefault(rule["cause"], []).append(code)
    out = [faq_entry(t) for t in FAQ]
    out += [symptom_entry(s) for s in SYMPTOMS]
    out += [cause_entry(c, by_cause.get(c, [])) for c in CAUSES]
    out += [rule_entry(rule) for rule in rules.values()]
    return tuple(out)


def entry(entry_id: str) -> Entry | None:
    wanted = entry_id.strip().lower()
    return next((e for e in entries() if e.id.lower() == wanted), None)


def cause_meaning(cause: str) -> str:
    return CAUSES.get(cause, {}).get("meaning", "")
