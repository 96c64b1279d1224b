"""What `nnlearn explain` and `nnlearn rules` print: Rich text, or JSON with `--json`."""

from __future__ import annotations

import math
import re
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from nnlearn.knowledge import Entry, entries, entry
from nnlearn.knowledge.search import GOOD_MATCH, did_you_mean, search

KIND_LABEL = {"faq": "question", "symptom": "symptom", "cause": "cause", "rule": "rule"}
_RULE_ID = re.compile(r"^[A-Za-z]\d{3}$")


def explain_data(query: str | None) -> dict[str, Any]:
    """The answer as data: the topics, or the matched entries, or suggestions."""
    if not query:
        return {"query": None, "topics": [_topic(e) for e in entries()]}
    matches = search(query, limit=5)
    if matches and matches[0].score >= GOOD_MATCH:
        best = matches[0]
        by_id = {e.id: e for e in entries()}
        others = [by_id[r] for r in best.entry.related if r in by_id]
        others += [m.entry for m in matches[1:] if m.score >= GOOD_MATCH]
        others = list({e.id: e for e in others}.values())[:6]
        return {
            "query": query,
            "match": best.entry.to_dict(),
            "score": None if math.isinf(best.score) else round(best.score, 2),
            "see_also": [_topic(e) for e in others],
        }
    return {"query": query, "match": None, "did_you_mean": did_you_mean(query)}


def _topic(e: Entry) -> dict[str, str]:
    return {"id": e.id, "kind": e.kind, "title": e.title, "summary": e.summary}


def print_explain(data: dict[str, Any], console: Console) -> bool:
    """Print the answer; False when nothing matched."""
    if data["query"] is None:
        print_topics(data["topics"], console)
        return True
    if data["match"] is None:
        query = data["query"]
        head = (
            f"no rule {query.upper()} in this version of nnlearn"
            if _RULE_ID.match(query.strip())
            else f'nothing matches "{query}" well'
        )
        console.print(Text(head, style="bold yellow"))
        if data["did_you_mean"]:
            console.print(Text("did you mean: " + ", ".join(data["did_you_mean"]) + "?"))
        console.print(Text("`nnlearn explain` with no query lists every topic", style="dim"))
        return False
    print_entry(data["match"], console)
    if data["see_also"]:
        console.print()
        console.print(Text("See also", style="bold"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for t in data["see_also"]:
            grid.add_row(Text(f"nnlearn explain {t['id']}"), Text(t["title"]))
        console.print(Padding(grid, (0, 0, 0, 2), expand=False))
    return True


def print_entry(e: dict[str, Any], console: Console) -> None:
    head = Text()
    head.append(e["title"], style="bold")
    head.append(f"  ({KIND_LABEL[e['kind']]} {e['id']})", style="dim")
    console.print(head)
    if e["kind"] != "faq":
        console.print(Text(e["summary"], style="italic"))
    for section in e["sections"]:
        body = section["body"]
        if not body:
            continue
        console.print()
        console.print(Text(section["heading"], style="bold cyan"))
        if isinstance(body, list):
            numbered = section["heading"] in ("How to fix it", "Answer")
            items = [i for i in body if i]
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column()
            for i, item in enumerate(items, 1):
                grid.add_row(f"{i}." if numbered else "-", Text(_rule_line(item)))
            console.print(Padding(grid, (0, 0, 0, 2), expand=False))
        else:
            console.print(Padding(Text(body), (0, 0, 0, 2), expand=False))


def _rule_line(item: str) -> str:
    """A rule id in a list reads better with its name and summary."""
    if _RULE_ID.match(item):
        rule = entry(item)
        if rule is not None and rule.kind == "rule":
            return f"{rule.title}: {rule.summary}"
    return item


def print_topics(topics: list[dict[str, str]], console: Console) -> None:
    console.print(Text("nnlearn explain QUERY: a rule id, a cause, or a question", style="bold"))
    for kind, heading in (
        ("faq", "Questions"),
        ("symptom", "Symptoms"),
        ("cause", "Causes"),
        ("rule", "Rules"),
    ):
        rows = [t for t in topics if t["kind"] == kind]
        if not rows:
            continue
        console.print()
        console.print(Text(heading, style="bold cyan"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for t in rows:
            grid.add_row(
                Text(t["title"] if kind == "rule" else t["id"]),
                Text(t["title"] if kind in ("faq", "symptom") else t["summary"]),
            )
        console.print(Padding(grid, (0, 0, 0, 2), expand=False))


def rules_data() -> list[dict[str, Any]]:
    from nnlearn.rules.catalogue import catalogue

    keys = ("rule", "name", "severity", "cause", "summary", "thresholds", "requires", "fixes")
    return [{k: rule[k] for k in keys} for rule in catalogue().values()]


def rules_table(rows: list[dict[str, Any]]) -> Table:
    """rule | severity | cause | name, with the thresholds under the name (fits 80 columns)."""
    from rich import box

    table = Table(title="nnlearn rules", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("rule", "severity", "cause"):
        table.add_column(col, no_wrap=True)  # ids stay whole, so they can be grepped
    table.add_column("name and thresholds")
    style = {"error": "red", "warning": "yellow", "info": "blue"}
    for r in rows:
        cell = Text(r["name"], style="bold")
        for k, v in r["thresholds"].items():
            cell.append(f"\n  {k}={v}", style="dim")
        table.add_row(r["rule"], Text(r["severity"], style=style[r["severity"]]), r["cause"], cell)
    return table


def explain_command(query: list[str] | None, json_out: bool) -> None:
    """`nnlearn explain`: the typer command and the fast path (`knowledge.fastpath`) both."""
    import json

    data = explain_data(" ".join(query or []) or None)
    if json_out:
        print(json.dumps(data, indent=2, default=str))
        return
    print_explain(data, Console(highlight=False, markup=False))


def rules_command(json_out: bool) -> None:
    """`nnlearn rules`: the typer command and the fast path both."""
    import json

    rows = rules_data()
    if json_out:
        print(json.dumps(rows, indent=2, default=str))
        return
    console = Console(highlight=False, markup=False)
    console.print(rules_table(rows))
    console.print("details: nnlearn explain RULE_ID")
