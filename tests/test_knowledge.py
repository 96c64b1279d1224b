"""`nnlearn explain` / `nnlearn rules`: every rule and cause has an entry, symptom queries land on
the right entry, neither command imports torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nnlearn.cli import app
from nnlearn.knowledge import RULE_SECTIONS, entries, entry, rule_sections
from nnlearn.knowledge.causes import CAUSES
from nnlearn.knowledge.faq import FAQ
from nnlearn.knowledge.search import GOOD_MATCH, search
from nnlearn.rules import Cause, registry

runner = CliRunner()


@pytest.mark.parametrize("code", sorted(registry()))
def test_every_rule_has_its_docstring_sections_and_an_entry(code):
    cls = registry()[code]
    sections = rule_sections(cls.__doc__)
    assert set(sections) == set(RULE_SECTIONS), f"{code}: docstring sections {list(sections)}"
    assert all(sections.values()), f"{code}: an empty docstring section"
    assert cls.name and cls.name == cls.name.lower() and " " not in cls.name
    assert cls.fixes, f"{code}: no fixes"
    e = entry(code)
    assert e is not None and e.kind == "rule" and e.related == [cls.cause.value]
    body = dict(e.sections)
    assert body["What it detects"] == sections["What it detects"]
    assert code in entry(cls.cause.value).rules
    # the rule is found by its id and by its name (a rule named like its cause, e.g.
    # "overfitting", may land on the cause's entry, which lists the rule)
    assert search(code)[0].entry.id == code
    assert search(cls.name)[0].entry.id in (code, cls.cause.value)


@pytest.mark.parametrize("cause", [c.value for c in Cause])
def test_every_cause_has_an_entry_written_for_it(cause):
    assert cause in CAUSES
    c = CAUSES[cause]
    for key in ("title", "meaning", "what", "why", "detect", "fixes", "tries", "symptoms"):
        assert c[key], f"{cause}: no {key}"
    assert all(t.startswith("nnlearn probe") for t in c["tries"])
    assert entry(cause).kind == "cause"
    assert search(cause.replace("_", " "))[0].entry.id == cause


def test_symptom_triage_points_at_real_causes():
    from nnlearn.knowledge.symptoms import SYMPTOMS

    for name, t in SYMPTOMS.items():
        assert len(t["causes"]) >= 3 and {c for c, _ in t["causes"]} <= set(CAUSES), name
        assert entry(name).kind == "symptom"


def test_faq_topics_point_at_real_causes():
    assert len(FAQ) == 10
    for topic, t in FAQ.items():
        assert t["question"].endswith("?") and len(t["answer"]) >= 3, topic
        assert set(t["causes"]) <= set(CAUSES), topic


# (query, acceptable best entries): the questions practitioners ask, as they type them
SYMPTOMS = [
    ("loss is nan", {"nan-loss", "lr_too_high", "L101"}),
    ("my loss becomes NaN after a few steps", {"lr_too_high", "nan-loss", "L101"}),
    ("NaN values in my input data", {"invalid_data"}),
    ("accuracy stuck at 50%", {"stuck-at-chance"}),
    ("model predicts the same class for everything", {"stuck-at-chance", "biased_data"}),
    ("val loss goes up", {"overfitting"}),
    ("training loss goes down but validation loss goes up", {"overfitting"}),
    ("gradients are zero", {"zero-gradients", "implementation_bug"}),
    ("weights not updating", {"implementation_bug"}),
    ("loss not decreasing", {"L102", "lr_too_low"}),
    ("loss is stuck", {"loss-plateau", "lr_too_low", "L102"}),
    ("the training loss is flat", {"loss-plateau", "lr_too_low", "L102"}),
    ("always predicts the majority class", {"biased_data"}),
    ("loss explodes", {"lr_too_high", "L103"}),
    ("loss oscillates", {"lr_too_high"}),
    ("gradients vanish", {"vanishing_gradients", "gradients"}),
    ("exploding gradients", {"exploding_gradients"}),
    ("dying relu", {"dead_units"}),
    ("sigmoid outputs saturate", {"saturated_activations"}),
    ("loss at init is too high", {"poor_initialization", "implementation_bug"}),
    ("features have different scales", {"unnormalized_input"}),
    ("class imbalance", {"biased_data"}),
    ("noisy labels", {"inconsistent_data"}),
    ("not enough data", {"insufficient_data"}),
    ("model is underfitting", {"low_capacity"}),
    ("why is my neural network not learning", {"not-learning"}),
    ("how do I know if my model is learning", {"check-learning"}),
    ("how to improve learning", {"improve-learning"}),
    ("how to deal with overfitting", {"overfitting-howto"}),
    ("should I change the learning rate during training", {"lr-schedule"}),
    ("why do gradients vanish or explode", {"gradients"}),
    ("what to do with biased data", {"bad-data"}),
    ("deeper or wider", {"deeper-or-wider"}),
    ("should I use pretrained weights", {"transfer-learning"}),
    ("it still does not learn", {"still-not-learning"}),
    ("how to ask a good question", {"still-not-learning"}),
    ("my validation loss is increasing", {"overfitting"}),
    ("test accuracy is much lower than training accuracy", {"overfitting"}),
    ("should I normalize inputs", {"unnormalized_input"}),
    ("relu neurons are dead", {"dead_units"}),
    ("the gradient norm is huge", {"exploding_gradients"}),
    ("what learning rate should I use", {"lr-schedule", "lr_too_high", "lr_too_low"}),
    ("labels are wrong", {"inconsistent_data"}),
    ("CUDA error: device-side assert triggered", {"invalid_data"}),
    ("Target 5 is out of bounds", {"invalid_data"}),
    ("loss.backward gives None gradients", {"zero-gradients", "implementation_bug"}),
    ("how to use a pretrained resnet", {"transfer-learning"}),
    ("early stopping", {"overfitting-howto"}),
]


@pytest.mark.parametrize("query, expected", SYMPTOMS)
def test_symptom_queries_land_on_the_right_entry(query, expected):
    matches = search(query)
    assert matches and matches[0].score >= GOOD_MATCH, query
    top = matches[0].entry
    # a rule entry is a right answer when its cause is one of the expected entries
    cause = registry()[top.id].cause.value if top.kind == "rule" else None
    assert top.id in expected or cause in expected, [
        (m.entry.id, round(m.score, 2)) for m in matches
    ]


def test_entry_ids_are_unique():
    ids = [e.id.lower() for e in entries()]
    assert len(ids) == len(set(ids))


def test_explain_cli_answers_a_question():
    r = runner.invoke(app, ["explain", "val", "loss", "goes", "up"])
    assert r.exit_code == 0
    assert "Overfitting" in r.output and "How to fix it" in r.output
    assert "nnlearn probe spec.yaml --set optimizer.weight_decay" in r.output


def test_explain_cli_suggests_when_nothing_matches():
    r = runner.invoke(app, ["explain", "overfiting_"])
    assert r.exit_code == 0
    assert "Overfitting" in r.output or "did you mean" in r.output
    r = runner.invoke(app, ["explain", "qwxyz"])
    assert "nothing matches" in r.output
    r = runner.invoke(app, ["explain", "Z999"])
    assert "no rule Z999" in r.output


def test_explain_without_query_lists_the_topics():
    r = runner.invoke(app, ["explain"])
    assert r.exit_code == 0
    for topic in list(FAQ) + [c.value for c in Cause] + sorted(registry()):
        assert topic in r.output


def test_explain_and_rules_json():
    data = json.loads(runner.invoke(app, ["explain", "--json", "L101"]).output)
    assert data["match"]["id"] == "L101" and data["match"]["kind"] == "rule"
    data = json.loads(runner.invoke(app, ["explain", "--json", "qwxyz"]).output)
    assert data["match"] is None and "did_you_mean" in data
    data = json.loads(runner.invoke(app, ["explain", "--json"]).output)
    assert {t["id"] for t in data["topics"]} >= set(FAQ) | set(CAUSES)
    rows = json.loads(runner.invoke(app, ["rules", "--json"]).output)
    assert [r["rule"] for r in rows] == sorted(registry())
    l102 = next(r for r in rows if r["rule"] == "L102")
    assert l102["thresholds"]["min_relative_drop"] == 0.05 and l102["cause"] == "lr_too_low"


def test_rules_cli_table():
    r = runner.invoke(app, ["rules"])
    assert r.exit_code == 0
    for code, cls in registry().items():
        assert code in r.output and cls.name in r.output


@pytest.mark.parametrize(
    "argv", [["--help"], ["explain", "loss is nan"], ["explain", "--json"], ["rules"]]
)
def test_explain_and_rules_do_not_import_torch(argv):
    code = (
        "import sys\n"
        "from nnlearn.cli import app\n"
        f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_brackets_are_printed_not_taken_for_markup():
    r = runner.invoke(app, ["explain", "zero-gradients"])
    assert "--set probe.experiments=[init_check]" in r.output
