"""python-zaqarclient (its `keystone` and `signed-url` auth backends) and `openstack
messaging` against zaqar-server in keystone mode: users come from the real Keystone the
test script started. `openstack --os-profile KEY` is traced: the server exports to the
OTLP sink whose spans file is SPANS (tests/clients/otlp_sink.py); the trace ids made are
written to TRACES, for keystone.sh to check, once the server has stopped, that nothing
else was traced.

    KEYSTONE=http://.../v3 ZAQAR_ENDPOINT=http://... PROFILE_KEY=... SPANS=... TRACES=... \
        python keystone_suite.py
"""
import json
import os
import re
import subprocess
import time
import unittest
import uuid

from zaqarclient.queues import client

KEYSTONE = os.environ["KEYSTONE"]
ENDPOINT = os.environ["ZAQAR_ENDPOINT"]
CLIENT_ID = str(uuid.uuid4())
OPENSTACK = os.path.join(os.path.dirname(os.sys.executable), "openstack")


def names(listing):
    """The queue names of a client's `queues()` (which answers a pair with a count)."""
    if isinstance(listing, tuple):
        listing = listing[0]
    return [q.name for q in listing]


def zaqar(user, project):
    opts = {
        "os_auth_url": KEYSTONE,
        "os_username": user,
        "os_password": user + "-pw",
        "os_project_name": project,
        "os_user_domain_name": "Default",
        "os_project_domain_name": "Default",
    }
    conf = {"auth_opts": {"backend": "keystone", "options": opts}}
    return client.Client(ENDPOINT, version=2, conf=conf)


def openstack(user, project, *args):
    """Runs `openstack ARGS` as the user: its JSON output (none for a last arg `--no-json`)."""
    out = openstack_run(user, project, *args)
    return json.loads(out.stdout) if out.stdout.strip() and args[-1] != "--no-json" else None


def openstack_run(user, project, *args):
    env = dict(os.environ)
    env.update({
        "OS_AUTH_URL": KEYSTONE,
        "OS_USERNAME": user,
        "OS_PASSWORD": user + "-pw",
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_INTERFACE": "public",
        # The messaging commands that post, list or claim need a client id.
        "OS_MESSAGE_CLIENT_ID": CLIENT_ID,
    })
    for k in ("OS_TOKEN", "OS_CLOUD"):
        env.pop(k, None)
    out = subprocess.run([OPENSTACK, *args, "-f", "json"] if args[-1] != "--no-json" else [OPENSTACK, *args[:-1]],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)}: {out.stderr}")
    return out


class KeystoneBackend(unittest.TestCase):
    def test_a_user_works_in_its_tokens_project_only(self):
        name = "ks-" + uuid.uuid4().hex[:8]
        alice = zaqar("alice", "demo")
        queue = alice.queue(name)
        queue.post([{"body": {"n": 1}, "ttl": 300}])
        self.assertEqual([m.body for m in queue.messages(echo=True)], [{"n": 1}])
        self.assertIn(name, names(alice.queues()))
        bob = zaqar("bob", "other")
        self.assertNotIn(name, names(bob.queues()))
        self.assertEqual(list(bob.queue(name).messages(echo=True)), [])
        claim = queue.claim(ttl=60, grace=60)
        self.assertEqual(len(list(claim)), 1)
        queue.delete()

    def test_signed_url_backend(self):
        from zaqarclient.transport import errors
        name = "ks-signed-" + uuid.uuid4().hex[:8]
        queue = zaqar("alice", "demo").queue(name)
        queue.post([{"body": "for the holder", "ttl": 300}])
        url = queue.signed_url(paths=["messages"], methods=["GET"])
        opts = {k: url[k] for k in ("signature", "expires", "methods", "paths")}
        opts["os_project_id"] = url["project"]
        holder = client.Client(ENDPOINT, version=2,
                               conf={"auth_opts": {"backend": "signed-url", "options": opts}})
        signed = holder.queue(name, auto_create=False)
        self.assertEqual([m.body for m in signed.messages(echo=True)], ["for the holder"])
        # Only what was signed: GET of messages, not POST.
        with self.assertRaises(errors.ResourceNotFound):
            signed.post([{"body": "not signed for this"}])
        queue.delete()

    def test_admin_api_needs_the_admin_role(self):
        from zaqarclient.transport import errors
        with self.assertRaises(errors.ForbiddenError):
            list(zaqar("alice", "demo").pools())
        list(zaqar("admin", "admin").pools())


class OpenStackMessaging(unittest.TestCase):
    def test_queues_messages_claims_subscriptions(self):
        name = "osc-" + uuid.uuid4().hex[:8]
        me = ("alice", "demo")
        openstack(*me, "messaging", "queue", "create", name)
        listed = openstack(*me, "messaging", "queue", "list")
        self.assertIn(name, [q["Name"] for q in listed])
        openstack(*me, "messaging", "queue", "set", "metadata", name, '{"k": "v"}', "--no-json")
        meta = openstack(*me, "messaging", "queue", "get", "metadata", name)
        self.assertEqual(meta["Metadata"]["k"], "v")
        openstack(*me, "messaging", "message", "post", name, '[{"body": "hi", "ttl": 300}]', "--no-json")
        messages = openstack(*me, "messaging", "message", "list", name, "--echo")
        self.assertEqual([m["Body"] for m in messages], ["hi"])
        claimed = openstack(*me, "messaging", "claim", "create", name, "--ttl", "60", "--grace", "60")
        self.assertEqual(len(claimed), 1)
        sub = openstack(*me, "messaging", "subscription", "create", name, "http://127.0.0.1:9/hook", "3600")
        # A trust subscriber: the server makes alice's trust to its trustee.
        trusting = openstack(*me, "messaging", "subscription", "create", name,
                             "trust+http://127.0.0.1:9/hook", "3600")
        shown = openstack(*me, "messaging", "subscription", "show", name, trusting["ID"])
        self.assertRegex(shown["Options"]["trust_id"], "^[0-9a-f]{32}$")
        subs = openstack(*me, "messaging", "subscription", "list", name)
        self.assertEqual(sorted(s["ID"] for s in subs), sorted([sub["ID"], trusting["ID"]]))
        url = openstack(*me, "messaging", "queue", "signed", "url", name, "--paths", "messages")
        self.assertEqual(url["Paths"], f"/v2/queues/{name}/messages")
        self.assertEqual(len(url["Signature"]), 64)
        stats = openstack(*me, "messaging", "queue", "stats", name)
        self.assertEqual(stats["Stats"]["messages"]["total"], 1)
        # bob sees nothing of it
        self.assertNotIn(name, [q["Name"] for q in openstack("bob", "other", "messaging", "queue", "list")])
        openstack(*me, "messaging", "queue", "delete", name, "--no-json")

    def test_pools_and_flavors_for_the_admin(self):
        admin = ("admin", "admin")
        pool = "osc-pool-" + uuid.uuid4().hex[:8]
        uri = "sqlite://" + os.path.join(os.environ["POOL_DIR"], pool + ".db")
        openstack(*admin, "messaging", "pool", "create", pool, uri, "10")
        self.assertIn(pool, [p["Name"] for p in openstack(*admin, "messaging", "pool", "list")])
        flavor = "osc-flavor-" + uuid.uuid4().hex[:8]
        openstack(*admin, "messaging", "flavor", "create", flavor, "--pool_list", pool)
        shown = openstack(*admin, "messaging", "flavor", "show", flavor)
        self.assertEqual(shown["Name"], flavor)
        # A member may read flavors (Zaqar's default policy) but not touch pools.
        self.assertIn(flavor, [f["Name"] for f in openstack("alice", "demo", "messaging", "flavor", "list")])
        with self.assertRaises(AssertionError):
            openstack("alice", "demo", "messaging", "pool", "list")
        with self.assertRaises(AssertionError):
            openstack("alice", "demo", "messaging", "flavor", "delete", flavor, "--no-json")
        openstack(*admin, "messaging", "flavor", "delete", flavor, "--no-json")
        openstack(*admin, "messaging", "pool", "delete", pool, "--no-json")
        self.assertNotIn(pool, [p["Name"] for p in openstack(*admin, "messaging", "pool", "list")])


def spans_of(trace):
    """The spans the sink has received for a trace (hex id)."""
    try:
        with open(os.environ["SPANS"]) as f:
            return [s for s in map(json.loads, f) if s["trace_id"] == trace]
    except FileNotFoundError:
        return []


class Profiling(unittest.TestCase):
    def test_os_profile_traces_the_requests_it_sends(self):
        me = ("alice", "demo")
        name = "osc-profiled-" + uuid.uuid4().hex[:8]
        # A key the server does not hold: served, not traced.
        wrong = openstack_run(*me, "--os-profile", "not-the-servers-key", "messaging", "queue", "list")
        untraced = re.search(r"Trace ID: ([0-9a-f-]{36})", wrong.stderr).group(1)
        out = openstack_run(*me, "--os-profile", os.environ["PROFILE_KEY"], "messaging", "queue", "create", name)
        trace = re.search(r"Trace ID: ([0-9a-f-]{36})", out.stderr).group(1)
        openstack(*me, "messaging", "queue", "delete", name, "--no-json")
        with open(os.environ["TRACES"], "w") as f:
            json.dump({"traced": [trace.replace("-", "")], "untraced": [untraced.replace("-", "")]}, f)
        # Spans are exported in batches: wait (bounded) for the request's to arrive.
        want = {"PUT /v2/queues/{queue}", "keystone auth", "keystone"}
        deadline = time.time() + 60
        while True:
            spans = spans_of(trace.replace("-", ""))
            if want <= {s["name"] for s in spans} or time.time() > deadline:
                break
            time.sleep(0.5)
        names = {s["name"] for s in spans}
        self.assertLessEqual(want, names, spans)
        by_id = {s["span_id"]: s for s in spans}
        http = [s for s in spans if s["name"] == "PUT /v2/queues/{queue}"][0]
        auth = [s for s in spans if s["name"] == "keystone auth" and s["parent"] == http["span_id"]]
        self.assertEqual(len(auth), 1, spans)
        calls = [s for s in spans if s["name"] == "keystone"]
        self.assertTrue(all(by_id[c["parent"]]["name"] == "keystone auth" for c in calls), spans)
        self.assertIn("PoolRouter CreateQueue", names)


if __name__ == "__main__":
    unittest.main(verbosity=2)
