"""python-zaqarclient 4.7.0, unchanged, against a running server: every high-level
operation and the low-level `core` calls, each asserting what Zaqar 23 answers (the
recorded transcript, ../shared/reference/zaqar-v2-transcript.md, or Zaqar's source as
cited). The same file passes against the original Zaqar 23 (tests/clients/README.md).

    ZAQAR_ENDPOINT=http://127.0.0.1:8888 python -m unittest tests/clients/zaqarclient_suite.py
"""

import os
import unittest
import uuid

from zaqarclient.queues import client as zclient
from zaqarclient.queues.v2 import core
from zaqarclient.transport import errors

ENDPOINT = os.environ.get("ZAQAR_ENDPOINT", "http://127.0.0.1:8888")


def new_client():
    # noauth, as Zaqar's own functional tests run: the client sends Client-ID and
    # X-Project-Id itself.
    conf = {"auth_opts": {"backend": "noauth",
                          "options": {"os_project_id": "zc-" + uuid.uuid4().hex}}}
    return zclient.Client(ENDPOINT, version=2, conf=conf)


class HighLevel(unittest.TestCase):
    def setUp(self):
        self.client = new_client()
        self.name = "zc-" + uuid.uuid4().hex[:12]
        self.queue = self.client.queue(self.name, force_create=True)
        self.addCleanup(self.queue.delete)

    def post(self, *bodies):
        posted = self.queue.post([{"body": b, "ttl": 300} for b in bodies])
        return [href.rsplit("/", 1)[1] for href in posted["resources"]]

    def test_queue_create_list_exists_delete(self):
        self.assertTrue(self.queue.exists())
        queues, count = self.client.queues()
        self.assertIn(self.name, [q.name for q in queues])
        self.assertIsNone(count)
        queues, count = self.client.queues(with_count=True)
        self.assertEqual(1, count)
        # queues(detailed=True) carries metadata with the reserved keys (transcript).
        queues, _ = self.client.queues(detailed=True)
        mine = [q for q in queues if q.name == self.name]
        self.assertEqual(3600, mine[0].metadata_dict["_default_message_ttl"])

    def test_set_metadata_as_clients_do(self):
        # The JSON patch the client builds removes every key it does not name, the
        # reserved ones included: Zaqar applies it (queues.py _do_remove).
        meta = self.queue.metadata(new_meta={"description": "hi", "n": 1})
        self.assertEqual("hi", meta["description"])
        meta = self.queue.metadata(new_meta={"n": 2, "_default_message_ttl": 120})
        self.assertEqual(2, meta["n"])
        self.assertNotIn("description", meta)
        self.assertEqual(120, meta["_default_message_ttl"])
        reloaded = self.queue.metadata(force_reload=True)
        self.assertEqual(2, reloaded["n"])
        self.assertEqual(False, reloaded["_enable_encrypt_messages"])
        self.assertIsNone(reloaded["_max_claim_count"])
        # Replacing with nothing clears what the queue set; defaults show again.
        cleared = self.queue.metadata(new_meta={})
        self.assertNotIn("n", cleared)
        self.assertEqual(3600, cleared["_default_message_ttl"])

    def test_post_list_get_and_get_many(self):
        ids = self.post("one", {"two": 2}, [3])
        listed = list(self.queue.messages(echo=True))
        self.assertEqual(ids, [m.id for m in listed])
        self.assertEqual({"two": 2}, self.queue.message(ids[1]).body)
        # messages(id1, id2) sends ?ids=a&ids=b: both come back.
        many = list(self.queue.messages(ids[0], ids[2]))
        self.assertEqual(sorted([ids[0], ids[2]]), sorted(m.id for m in many))
        self.assertEqual([], list(self.queue.messages()))  # echo is off by default

    def test_delete_messages_deletes_every_id(self):
        ids = self.post(1, 2, 3, 4)
        self.queue.delete_messages(ids[0], ids[1], ids[2])
        left = [m.id for m in self.queue.messages(echo=True)]
        self.assertEqual([ids[3]], left)

    def test_pop(self):
        ids = self.post("a", "b", "c")
        popped = list(self.queue.pop(2))
        self.assertEqual(ids[:2], [m.id for m in popped])
        self.assertEqual([ids[2]], [m.id for m in self.queue.messages(echo=True)])

    def test_claim_update_delete_and_delete_under_claim(self):
        ids = self.post("a", "b", "c")
        claim = self.queue.claim(ttl=60, grace=60, limit=2)
        claimed = list(claim)
        self.assertEqual(ids[:2], [m.id for m in claimed])
        # Each claimed message's href carries the claim (the client reads it from there).
        self.assertEqual(claim.id, claimed[0].claim_id)
        self.assertEqual(60, claim.ttl)
        claim.update(ttl=120, grace=60)
        again = self.queue.claim(id=claim.id)
        self.assertEqual(120, again.ttl)
        claimed[0].delete()  # with ?claim_id=, as the href gives it
        self.assertEqual([ids[1]], [m.id for m in self.queue.claim(id=claim.id)])
        claim.delete()
        self.assertEqual(2, self.queue.stats["messages"]["free"])
        # Nothing left to claim: the client sees an empty claim (204).
        for _ in range(2):
            list(self.queue.claim(ttl=60, grace=60, limit=5))
        self.assertEqual([], list(self.queue.claim(ttl=60, grace=60, limit=5)))

    def test_stats(self):
        self.post("a", "b")
        list(self.queue.claim(ttl=60, grace=60, limit=1))
        stats = self.queue.stats["messages"]
        self.assertEqual((1, 1, 2), (stats["claimed"], stats["free"], stats["total"]))
        self.assertIn("oldest", stats)
        self.assertIn("newest", stats)

    def test_subscriptions(self):
        sub = self.client.subscription(self.name, subscriber="http://127.0.0.1:9/hook",
                                       ttl=3600, options={"k": "v"})
        subs = list(self.queue.subscriptions())
        self.assertEqual([sub.id], [s.id for s in subs])
        sub.update({"ttl": 7200})
        got = self.client.subscription(self.name, id=sub.id)  # fetched on creation
        self.assertEqual(7200, got.ttl)
        self.assertEqual({"k": "v"}, got.options)
        sub.delete()
        self.assertEqual([], list(self.queue.subscriptions()))

    def test_purge(self):
        self.post("a", "b")
        self.client.subscription(self.name, subscriber="mailto:ops@example.com", ttl=3600)
        self.queue.purge(resource_types=["messages"])
        self.assertEqual(0, self.queue.stats["messages"]["total"])
        self.assertEqual(1, len(list(self.queue.subscriptions())))
        self.queue.purge()  # no body: both
        self.assertEqual([], list(self.queue.subscriptions()))

    def test_ping(self):
        self.assertTrue(self.client.ping())


class LowLevel(unittest.TestCase):
    """zaqarclient.queues.v2.core, the calls the high-level objects are built on."""

    def setUp(self):
        self.client = new_client()
        self.req, self.trans = self.client._request_and_transport()
        self.name = "core-" + uuid.uuid4().hex[:12]

    def fresh(self):
        return self.client._request_and_transport()[0]

    def test_queue_and_message_calls(self):
        core.queue_create(self.trans, self.fresh(), self.name, metadata={"a": 1})
        self.addCleanup(core.queue_delete, self.trans, self.fresh(), self.name)
        self.assertTrue(core.queue_exists(self.trans, self.fresh(), self.name))
        self.assertEqual(1, core.queue_get(self.trans, self.fresh(), self.name)["a"])
        listed = core.queue_list(self.trans, self.fresh(), limit=20)
        self.assertIn(self.name, [q["name"] for q in listed["queues"]])
        posted = core.message_post(self.trans, self.fresh(), self.name,
                                   {"messages": [{"body": i, "ttl": 300} for i in range(3)]})
        ids = [h.rsplit("/", 1)[1] for h in posted["resources"]]
        got = core.message_get(self.trans, self.fresh(), self.name, ids[0])
        self.assertEqual(0, got["body"])
        many = core.message_get_many(self.trans, self.fresh(), self.name, ids[:2])
        self.assertEqual(2, len(many["messages"]))
        page = core.message_list(self.trans, self.fresh(), self.name, echo=True, limit=2)
        self.assertEqual(2, len(page["messages"]))
        self.assertEqual("next", page["links"][0]["rel"])
        core.message_delete(self.trans, self.fresh(), self.name, ids[0])
        core.message_delete_many(self.trans, self.fresh(), self.name, ids[1:2])
        popped = core.message_pop(self.trans, self.fresh(), self.name, count=5)
        self.assertEqual([ids[2]], [m["id"] for m in popped["messages"]])
        stats = core.queue_get_stats(self.trans, self.fresh(), self.name)
        self.assertEqual(0, stats["messages"]["total"])
        core.queue_purge(self.trans, self.fresh(), self.name,
                         resource_types=["messages", "subscriptions"])

    def claimed_one(self):
        """A new queue with one message, claimed: the claim's answer."""
        core.queue_create(self.trans, self.fresh(), self.name)
        self.addCleanup(core.queue_delete, self.trans, self.fresh(), self.name)
        core.message_post(self.trans, self.fresh(), self.name,
                          {"messages": [{"body": "x", "ttl": 300}]})
        return core.claim_create(self.trans, self.fresh(), self.name,
                                 ttl=60, grace=60, limit=1)

    def test_claim_calls(self):
        claimed = self.claimed_one()
        claim_id = claimed["messages"][0]["href"].split("claim_id=")[1]
        got = core.claim_get(self.trans, self.fresh(), self.name, claim_id)
        self.assertEqual(60, got["ttl"])
        core.claim_update(self.trans, self.fresh(), self.name, claim_id, ttl=90, grace=60)
        self.assertEqual(90, core.claim_get(self.trans, self.fresh(), self.name, claim_id)["ttl"])
        core.claim_delete(self.trans, self.fresh(), self.name, claim_id)
        self.assertRaises(errors.ResourceNotFound, core.claim_get,
                          self.trans, self.fresh(), self.name, claim_id)

    def test_wrong_input_raises_the_clients_errors(self):
        # A claimed message deleted without its claim: 403 (transcript).
        claimed = self.claimed_one()
        mid = claimed["messages"][0]["id"]
        self.assertRaises(errors.ForbiddenError, core.message_delete,
                          self.trans, self.fresh(), self.name, mid)
        # A reserved key with a bad value: 400 (validation.py).
        self.assertRaises(errors.MalformedRequest, core.queue_create, self.trans,
                          self.fresh(), self.name, metadata={"_max_claim_count": "many"})

    def test_ping_homedoc_and_admin_calls(self):
        self.assertTrue(core.ping(self.trans, self.fresh()))
        home = core.homedoc(self.trans, self.fresh())
        self.assertIn("resources", home)
        # Health and pools are for admins (X-Roles, trusted in noauth mode).
        req = self.fresh()
        req.headers["X-Roles"] = "admin"
        health = core.health(self.trans, req)
        if "storage_reachable" in health:
            # Pooling off: the message store's own health, and no flavors resource.
            self.assertTrue(health["storage_reachable"])
            return
        self.assertTrue(health["catalog_reachable"])
        # With pooling, flavors can be read without the admin role (Zaqar's policy).
        flavors = core.flavor_list(self.trans, self.fresh())
        self.assertIn("flavors", flavors)


if __name__ == "__main__":
    unittest.main()
