"""JUnit XML: one testcase per scenario x check, failures carrying the evidence."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from harness.checks import Status
from harness.results import ScenarioRun


def junit_xml(runs: list[ScenarioRun]) -> str:
    suites = ET.Element("testsuites", name="sse-chaos")
    for run in runs:
        suite = ET.SubElement(suites, "testsuite", name=run.name, time=f"{run.wall_seconds:.3f}")
        cases = 0
        failures = skipped = errors = 0
        if run.error is not None:
            case = ET.SubElement(suite, "testcase", classname=f"sse_chaos.{run.name}", name="run")
            ET.SubElement(case, "error", message=run.error[:500]).text = run.error
            errors, cases = 1, 1
        for result in run.results:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=f"sse_chaos.{run.name}", name=result.name, time="0")
            evidence = json.dumps(result.evidence, indent=2, default=str)
            if result.status == Status.FAIL:
                failures += 1
                ET.SubElement(case, "failure", message=result.detail[:500]).text = f"{result.detail}\n{evidence}"
            elif result.status == Status.NOT_APPLICABLE:
                skipped += 1
                ET.SubElement(case, "skipped", message=f"not applicable: {result.detail}"[:500])
            else:
                ET.SubElement(case, "system-out").text = f"{result.detail}\n{evidence}"
        suite.set("tests", str(cases))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
