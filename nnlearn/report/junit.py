"""JUnit XML for CI: one test case per rule, failing where the `--fail-on` gate fails.

The shape is the common subset GitHub (test-reporter actions), GitLab (`artifacts:reports:
junit`) and Jenkins (the JUnit plugin) all read: `<testsuites>` / `<testsuite>` / `<testcase
classname name time>` with `<failure message type>` or `<skipped message>`. A rule that found
something below the gate passes, its findings in `<system-out>`, so JUnit and the exit code
always agree. Rules without enough evidence are `<skipped>`; disabled rules are left out.
"""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET

from nnlearn.report.summary import evidence_text
from nnlearn.verdict import gate_failures

# characters XML 1.0 cannot carry at all, even escaped
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str) -> str:
    return _INVALID_XML.sub("?", str(text))


def junit_xml(result, fail_on: str) -> str:
    suite_name = f"nnlearn.{result.name}"
    failing = {id(f) for f in gate_failures(result.findings, fail_on)}
    by_rule: dict[str, list] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    cases, n_fail, n_skip, n_err = [], 0, 0, 0
    for o in result.outcomes:
        if o.status == "disabled":
            continue
        case = ET.Element(
            "testcase", classname=suite_name, name=clean(f"{o.code} {o.name}"), time="0"
        )
        findings = by_rule.get(o.code, [])
        gate = [f for f in findings if id(f) in failing]
        if gate:
            n_fail += 1
            worst = gate[0]
            failure = ET.SubElement(
                case,
                "failure",
                message=clean(f"{worst.severity.value}: {worst.message}"),
                type=worst.severity.value,
            )
            failure.text = clean("\n\n".join(finding_text(f) for f in findings))
        elif o.status == "error":
            n_err += 1
            ET.SubElement(case, "error", message=clean(o.reason), type="rule-error")
        elif o.status == "skipped":
            n_skip += 1
            ET.SubElement(case, "skipped", message=clean(o.reason))
        elif findings:
            out = ET.SubElement(case, "system-out")
            out.text = clean("\n\n".join(finding_text(f) for f in findings))
        cases.append(case)
    attrs = {
        "tests": str(len(cases)),
        "failures": str(n_fail),
        "errors": str(n_err),
        "skipped": str(n_skip),
        "time": f"{result.duration_s:.3f}",
    }
    root = ET.Element("testsuites", name="nnlearn", **attrs)
    suite = ET.SubElement(
        root,
        "testsuite",
        name=suite_name,
        timestamp=time.strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=clean(socket.gethostname()),
        **attrs,
    )
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("spec", result.spec_path or ""),
        ("verdict", result.verdict),
        ("fail_on", fail_on),
        ("device", result.device),
        ("seed", result.seed),
    ):
        ET.SubElement(props, "property", name=key, value=clean(str(value)))
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def error_xml(name: str, spec_path: str | None, message: str) -> str:
    """The probe could not run (exit 3): one errored test case, so CI shows why."""
    root = ET.Element("testsuites", name="nnlearn", tests="1", failures="0", errors="1")
    suite = ET.SubElement(
        root, "testsuite", name=f"nnlearn.{name}", tests="1", failures="0", errors="1"
    )
    case = ET.SubElement(suite, "testcase", classname=f"nnlearn.{name}", name="probe", time="0")
    first = message.splitlines()[0] if message else "the probe could not run"
    err = ET.SubElement(case, "error", message=clean(first), type="probe-failed")
    err.text = clean(f"{spec_path or ''}\n{message}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def finding_text(f) -> str:
    lines = [f"{f.severity.value.upper()} {f.rule} {f.name} [{f.cause.value}]: {f.message}"]
    if f.explained_by:
        lines.append(f"explained by {f.explained_by}")
    if f.evidence:
        lines.append(f"evidence: {evidence_text(f.evidence)}")
    lines += [f"fix {i}: {fix}" for i, fix in enumerate(f.fixes, 1)]
    return "\n".join(lines)
