"""python-zaqarclient (its `keystone` auth backend) and `openstack messaging` against
zaqar-server in keystone mode: users come from the real Keystone the test script started.

    KEYSTONE=http://.../v3 ZAQAR_ENDPOINT=http://... python keystone_suite.py
"""
import json
import os
import subprocess
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
    return json.loads(out.stdout) if out.stdout.strip() and args[-1] != "--no-json" else None


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
        subs = openstack(*me, "messaging", "subscription", "list", name)
        self.assertEqual([s["ID"] for s in subs], [sub["ID"]])
        url = openstack(*me, "messaging", "queue", "signed", "url", name, "--paths", "messages")
        self.assertEqual(url["Paths"], f"/v2/queues/{name}/messages")
        self.assertEqual(len(url["Signature"]), 64)
        stats = openstack(*me, "messaging", "queue", "stats", name)
        self.assertEqual(stats["Stats"]["messages"]["total"], 1)
        # bob sees nothing of it
        self.assertNotIn(name, [q["Name"] for q in openstack("bob", "other", "messaging", "queue", "list")])
        openstack(*me, "messaging", "queue", "delete", name, "--no-json")

    def test_pools_and_flavors_for_the_admin(self):
        openstack("admin", "admin", "messaging", "pool", "list")
        openstack("admin", "admin", "messaging", "flavor", "list")
        with self.assertRaises(AssertionError):
            openstack("alice", "demo", "messaging", "pool", "list")


if __name__ == "__main__":
    unittest.main(verbosity=2)
