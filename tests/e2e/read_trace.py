"""Read one trace back from Phoenix's REST API and check that it holds the per-actor spans.

usage: read_trace.py PHOENIX_URL PROJECT TRACE_ID_HEX NAME[@KEY=VALUE] [...]
Polls (bounded) until every NAME is among the trace's spans, prints the tree, exits 0;
exits 1 if they never all arrive, or if a span so named lacks the attribute KEY=VALUE.
"""
import json
import sys
import time
import urllib.parse
import urllib.request

url, project, trace_id = sys.argv[1], sys.argv[2], sys.argv[3]
wanted, expected = [], []
for arg in sys.argv[4:]:
    name, _, attr = arg.partition("@")
    wanted.append(name)
    if attr:
        expected.append((name,) + tuple(attr.split("=", 1)))


def attribute(span, key):
    """An attribute by its dotted key, whether Phoenix answers it flat or nested."""
    attrs = span.get("attributes") or {}
    if key in attrs:
        return attrs[key]
    for part in key.split("."):
        if not isinstance(attrs, dict) or part not in attrs:
            return None
        attrs = attrs[part]
    return attrs


def spans():
    q = urllib.parse.urlencode([("trace_id", trace_id), ("limit", "500")])
    path = "%s/v1/projects/%s/spans?%s" % (url, urllib.parse.quote(project, safe=""), q)
    try:
        with urllib.request.urlopen(path, timeout=10) as r:
            return json.load(r)["data"]
    except urllib.error.HTTPError as e:
        if e.code == 404:  # the project appears with its first span
            return []
        raise


deadline = time.time() + 60
found = []
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")


def orphans(spans_found):
    """Spans, other than the HTTP ones, whose parent has not arrived."""
    ids = {s["context"]["span_id"] for s in spans_found}
    return [s["name"] for s in spans_found
            if s["parent_id"] not in ids and s["name"].split(" ")[0] not in HTTP_METHODS]


# A parent ends after its children, so it may reach Phoenix in a later batch: wait for the
# wanted spans and for every parent (the check below still fails at the deadline).
while time.time() < deadline:
    found = spans()
    names = {s["name"] for s in found}
    if all(n in names for n in wanted) and not orphans(found):
        break
    time.sleep(0.5)

by_id = {s["context"]["span_id"]: s for s in found}


def show(span, depth):
    print("  " * depth + span["name"], "(%s)" % span["context"]["span_id"])
    for child in found:
        if child["parent_id"] == span["context"]["span_id"]:
            show(child, depth + 1)


for s in found:
    if s["parent_id"] not in by_id:
        show(s, 0)
missing = [n for n in wanted if n not in {s["name"] for s in found}]
if missing:
    sys.exit("missing spans in trace %s: %s" % (trace_id, missing))
for name, key, value in expected:
    got = [attribute(s, key) for s in found if s["name"] == name]
    if value not in [str(g) for g in got]:
        sys.exit("span %s: %s is %s, not %s" % (name, key, got, value))
    print("%s: %s = %s" % (name, key, value))
# Only HTTP spans are roots (one per request of the trace); every other span hangs under a
# span of the same trace.
roots = [s["name"] for s in found if s["parent_id"] not in by_id]
if not all(r.split(" ")[0] in HTTP_METHODS for r in roots):
    sys.exit("spans without their parent in the trace: %s" % roots)
print("trace %s: %d spans from %d requests, all connected" % (trace_id, len(found), len(roots)))
