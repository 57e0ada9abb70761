"""The host's end-of-run marks (marks.mjs): fd 1 and the worker's messages have no order between them, so a
run's answer must go at once whether the host read the run's mark before or after the message ending it;
only a mark that never comes costs the wait."""

from __future__ import annotations

import json
from pathlib import Path

from hallsim.harness.pipedream import _host

from .conftest import node_module_json

MARKS = Path(_host.__file__).with_name("marks.mjs")

# each case: what the host reads, in order; "end" is the run's end (the answer starts waiting for the mark)
SCRIPT = """
import { EndMarks } from %s;
const cases = %s;
const results = {};
let open = Object.keys(cases).length;
for (const [name, order] of Object.entries(cases)) {
  // the wait for a mark that was read is long enough never to be what answers on a busy machine
  const marks = new EndMarks(name === "no_mark" ? 1 : 5000);
  for (const what of order) {
    if (what === "end") marks.after("run1.", (how) => { results[name] = how; open -= 1; if (!open) done(); });
    else marks.seen(what);
  }
}
function done() { process.stdout.write(JSON.stringify(results)); process.exit(0); }
"""

CASES = {
    "mark_after_end": ["end", "run1."],
    "mark_before_end": ["run1.", "end"],
    "other_runs_marks_first": ["run0.", "run2.", "run1.", "end"],
    "no_mark": ["run0.", "end"],
}


def test_an_answer_goes_on_its_mark_in_either_order() -> None:
    script = SCRIPT % (json.dumps(MARKS.as_uri()), json.dumps(CASES))
    assert node_module_json(script) == {
        "mark_after_end": "mark",
        "mark_before_end": "mark",
        "other_runs_marks_first": "mark",
        "no_mark": "timeout",
    }
