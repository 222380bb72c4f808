"""Send profiled requests to zaqar-server with the real osprofiler library, as
`openstack --os-profile KEY` does: profiler.init(key), then every request carries
web.get_trace_id_headers(). Prints the trace id (the base_id) on the last line.

usage: profiled_request.py URL KEY
"""
import sys
import uuid

import requests
from osprofiler import profiler, web

url, key = sys.argv[1], sys.argv[2]
profiler.init(key)
base = {"Client-ID": str(uuid.uuid4()), "X-Project-ID": "e2e"}


def call(method, path, body=None):
    headers = dict(base, **web.get_trace_id_headers())
    r = requests.request(method, url + path, json=body, headers=headers, timeout=10)
    trace = r.headers.get("x-trace-id")
    print(method, path, r.status_code, "x-trace-id:", trace, file=sys.stderr)
    if r.status_code >= 300:
        sys.exit("unexpected status %d" % r.status_code)
    return trace


trace = call("POST", "/v2/queues/e2e/messages", {"messages": [{"body": {"n": 1}}]})
call("POST", "/v2/queues/e2e/claims", {"ttl": 60})
base_id = profiler.get().get_base_id()
if trace != uuid.UUID(base_id).hex:
    sys.exit("x-trace-id %s is not the base_id %s" % (trace, base_id))
print(base_id)
