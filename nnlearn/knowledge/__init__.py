"""The knowledge base behind `nnlearn explain` and `nnlearn rules` (torch-free).

Four kinds of entries: one per cause (written by hand, `causes.py`), one per FAQ topic
(`faq.py`), triage pages for symptoms with several causes (`symptoms.py`), and one per rule, generated from the rule's docstring sections and class
attributes, so every rule added to `nnlearn/rules/` has an entry without anyone writing one.

Building the entries and their search index (`search`) stems ~12k words: more than half of
`explain`'s start-up. Both are shipped, built, as `index.json` under a fingerprint of what they
are made of (the rule catalogue's fingerprint and this package's sources that make them), exactly as the rule
catalogue is (`nnlearn.rules.catalogue`): a stale or damaged file is ignored and everything is
built in memory, nothing is written, and `python -m nnlearn.rules.catalogue` regenerates both.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

KNOWLEDGE_DIR = Path(__file__).parent
SHIPPED = KNOWLEDGE_DIR / "index.json"
# the sources the entries and their search index are made of (the rule catalogue besides)
SOURCES = ("__init__.py", "causes.py", "faq.py", "symptoms.py", "search.py")

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
    from nnlearn.knowledge.causes import CAUSES
    from nnlearn.knowledge.faq import FAQ

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
    from nnlearn.knowledge.faq import FAQ

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
    from nnlearn.knowledge.symptoms import SYMPTOMS

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
    from nnlearn.knowledge.causes import CAUSES

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
    shipped = _shipped()
    if shipped is not None:
        return tuple(_entry_from(d) for d in shipped["entries"])
    return build_entries()


def build_entries() -> tuple[Entry, ...]:
    """The entries from their sources (the rule catalogue, causes, FAQ, symptoms)."""
    from nnlearn.knowledge.causes import CAUSES
    from nnlearn.knowledge.faq import FAQ
    from nnlearn.knowledge.symptoms import SYMPTOMS
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


def _entry_from(d: dict[str, Any]) -> Entry:
    return Entry(**{**d, "sections": [(h, b) for h, b in d["sections"]]})


@cache
def fingerprint() -> str:
    """A hash of the rule catalogue's fingerprint and the `SOURCES`."""
    from nnlearn.rules.catalogue import fingerprint as rules_fingerprint

    digest = hashlib.blake2b(rules_fingerprint().encode(), digest_size=12)
    for name in SOURCES:
        digest.update(name.encode() + b"\0" + (KNOWLEDGE_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def _shipped() -> dict[str, Any] | None:
    """The shipped index when it is current, else None."""
    try:
        data = json.loads(SHIPPED.read_text(encoding="utf-8"))
        if data.get("fingerprint") == fingerprint() and isinstance(data["entries"], list):
            return data
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def shipped_index() -> Any | None:
    """The search index shipped beside the entries (`search`), when current."""
    shipped = _shipped()
    return None if shipped is None else shipped.get("index")


def build_shipped() -> dict[str, Any]:
    """What `index.json` holds: the entries and their search index, built from the sources."""
    from nnlearn.knowledge.search import build_index

    built = build_entries()
    # through JSON, so that a built index and a shipped one are the same data
    return json.loads(
        json.dumps(
            {
                "fingerprint": fingerprint(),
                "entries": [asdict(e) for e in built],
                "index": build_index(built),
            }
        )
    )


def write_shipped() -> Path:
    """Regenerate `index.json` (a development step, with the rule catalogue's)."""
    SHIPPED.write_text(json.dumps(build_shipped(), sort_keys=True) + "\n", encoding="utf-8")
    return SHIPPED


def entry(entry_id: str) -> Entry | None:
    wanted = entry_id.strip().lower()
    return next((e for e in entries() if e.id.lower() == wanted), None)


def cause_meaning(cause: str) -> str:
    from nnlearn.knowledge.causes import CAUSES

    return CAUSES.get(cause, {}).get("meaning", "")
