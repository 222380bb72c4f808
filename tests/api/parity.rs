//! What real Zaqar clients send, answered as Zaqar 23 answers it (issue 11): list
//! parameters with every value, strict booleans, Zaqar's JSON-patch semantics and reserved
//! metadata checks, purge bodies, claim hrefs and claim-id deletes, queue filters.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Api, TestServer};

async fn three(api: &Api, queue: &str) -> Vec<String> {
    api.post_messages(
        queue,
        json!([{"body": 1, "ttl": 300}, {"body": 2, "ttl": 300}, {"body": 3, "ttl": 300}]),
    )
    .await
}

#[tokio::test]
async fn list_parameters_keep_every_value() {
    let s = TestServer::start();
    let api = s.api();
    let ids = three(&api, "q").await;
    // python-zaqarclient sends ?ids=a&ids=b; Zaqar also reads ?ids=a,b.
    for query in [
        format!("ids={}&ids={}", ids[0], ids[1]),
        format!("ids={},{}", ids[0], ids[1]),
    ] {
        let r = api.get(&format!("/v2/queues/q/messages?{query}")).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.ids(), ids[..2].to_vec(), "{query}");
    }
    let r = api
        .delete(&format!(
            "/v2/queues/q/messages?ids={}&ids={}&ids=not-there",
            ids[0], ids[1]
        ))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let left = api.get("/v2/queues/q/messages?echo=true").await;
    assert_eq!(
        left.ids(),
        vec![ids[2].clone()],
        "both named messages are gone"
    );

    // A percent-encoded comma is part of the value, not a separator.
    let r = api
        .get(&format!("/v2/queues/q/messages?ids={}%2Cx", ids[2]))
        .await;
    r.assert_error(404, "Not found");
    assert_eq!(
        r.json["description"],
        format!(
            "No messages with IDs: ['{},x'] found in the queue q for project {}.",
            ids[2], api.project
        )
    );
    let many = vec!["x"; 21].join(",");
    api.get(&format!("/v2/queues/q/messages?ids={many}"))
        .await
        .assert_error(400, "Invalid API request");
    let r = api
        .delete(&format!("/v2/queues/q/messages?ids={many}"))
        .await;
    r.assert_error(400, "Invalid API request");
    assert_eq!(
        r.json["description"],
        "ids parameter should have at least 1 and not greater than 20 values."
    );
}

#[tokio::test]
async fn booleans_are_true_or_false_only() {
    let s = TestServer::start();
    let api = s.api();
    three(&api, "q").await;
    for (query, ok) in [
        ("echo=true", true),
        ("echo=True", true),
        ("echo=yes", true),
        ("echo=0", true),
        ("echo=off", true),
        ("echo=", true),
        ("echo=maybe", false),
        ("echo=TRUE", false),
        ("include_claimed=None", false),
        ("include_delayed=2", false),
    ] {
        let r = api.get(&format!("/v2/queues/q/messages?{query}")).await;
        if ok {
            assert_eq!(r.status, 200, "{query}: {r:?}");
        } else {
            r.assert_error(400, "Invalid parameter");
            let name = query.split('=').next().unwrap();
            assert_eq!(
                r.json["description"],
                format!(
                    "The \"{name}\" parameter is invalid. The value of the parameter must be \"true\" or \"false\"."
                )
            );
        }
    }
    api.get("/v2/queues?detailed=None")
        .await
        .assert_error(400, "Invalid parameter");
    api.get("/v2/queues?with_count=maybe")
        .await
        .assert_error(400, "Invalid parameter");
}

/// What `queue.metadata(new_meta=...)` (python-zaqarclient) and `openstack messaging queue
/// set metadata` send: add or replace the keys given, remove every other key of the GET,
/// reserved ones included.
#[tokio::test]
async fn clients_set_metadata_with_json_patch() {
    let s = TestServer::start();
    let api = s.api();
    assert_eq!(
        api.put("/v2/queues/q", Some(json!({"old": 1})))
            .await
            .status,
        201
    );
    let current = api.get("/v2/queues/q").await.json;
    let mut ops = vec![json!({"op": "add", "path": "/metadata/description", "value": "hi"})];
    for key in current.as_object().unwrap().keys() {
        ops.push(json!({"op": "remove", "path": format!("/metadata/{key}")}));
    }
    let r = api.patch("/v2/queues/q", Value::Array(ops)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["description"], "hi");
    assert!(r.json.get("old").is_none());
    // The reserved keys show their defaults again.
    assert_eq!(r.json["_default_message_ttl"], 3600);
    assert_eq!(r.json["_max_claim_count"], Value::Null);

    // Replacing a reserved key the queue does not set is allowed; any other missing key is
    // a conflict, for replace and remove alike.
    let r = api
        .patch(
            "/v2/queues/q",
            json!([{"op": "replace", "path": "/metadata/_default_message_delay", "value": 5}]),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["_default_message_delay"], 5);
    for op in ["replace", "remove"] {
        let r = api
            .patch(
                "/v2/queues/q",
                json!([{"op": op, "path": "/metadata/nothing", "value": 1}]),
            )
            .await;
        r.assert_error(409, "Resource conflict");
        assert_eq!(
            r.json["description"],
            format!("Can't {op} non-existent object nothing.")
        );
    }
    for (ops, description) in [
        (
            json!([{"path": "/metadata/a", "value": 1}]),
            "Unable to find `op` in JSON Schema change. It must be one of the following: add, remove, replace.",
        ),
        (
            json!([{"op": "move", "path": "/metadata/a"}]),
            "Invalid operation: `move`. It must be one of the following: add, remove, replace.",
        ),
        (
            json!([{"op": "add", "path": "metadata/a", "value": 1}]),
            "Pointer `metadata/a` does not start with \"/\".",
        ),
        (
            json!([{"op": "add", "path": "/metadata//a", "value": 1}]),
            "Pointer `/metadata//a` contains adjacent \"/\".",
        ),
        (
            json!([{"op": "add", "path": "/metadata/a/", "value": 1}]),
            "Pointer `/metadata/a/` end with \"/\".",
        ),
        (
            json!([{"op": "add", "path": "/metadata/a~2", "value": 1}]),
            "Pointer `/metadata/a~2` contains \"~\" not part of a recognized escape sequence.",
        ),
        (
            json!([{"op": "add", "path": "/metadata/a/b", "value": 1}]),
            "Invalid JSON pointer for this resource: '/metadata/a/b, e.g /metadata/key'",
        ),
        (
            json!([{"op": "add", "path": "/metadata/a"}]),
            "Operation \"add\" requires a member named \"value\".",
        ),
        (
            json!([{"op": "add", "path": "/other/a", "value": 1}]),
            "The root of path must be metadata, e.g /metadata/key.",
        ),
        (json!([1]), "Operations must be JSON objects."),
        (json!({"op": "add"}), "Document type not supported."),
    ] {
        let r = api.patch("/v2/queues/q", ops.clone()).await;
        r.assert_error(400, "Invalid request body");
        assert_eq!(r.json["description"], description, "{ops}");
    }
    // `~1` is a slash, `~0` a tilde, in a key.
    let r = api
        .patch(
            "/v2/queues/q",
            json!([{"op": "add", "path": "/metadata/a~1b~0c", "value": 1}]),
        )
        .await;
    assert_eq!(r.json["a/b~c"], 1, "{r:?}");
    api.send(api.request(Method::PATCH, "/v2/queues/q").header(
        "Content-Type",
        "application/openstack-messaging-v2.0-json-patch",
    ))
    .await
    .assert_error(400, "Invalid request body");
}

#[tokio::test]
async fn reserved_metadata_is_checked_as_zaqar_checks_it() {
    let s = TestServer::start();
    let api = s.api();
    for (metadata, description) in [
        (json!({"_max_claim_count": "many"}), "_max_claim_count must be integer."),
        (json!({"_max_claim_count": 0}), "_max_claim_count must be at least 1."),
        (
            json!({"_enable_encrypt_messages": "yes"}),
            "_enable_encrypt_messages must be boolean.",
        ),
        (
            json!({"_default_message_ttl": 30}),
            "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 seconds long.",
        ),
        (
            json!({"_default_message_ttl": true}),
            "_default_message_ttl can not exceed 1209600 seconds, and must be at least 60 seconds long.",
        ),
        (
            json!({"_max_messages_post_size": 0}),
            "_max_messages_post_size can not exceed 262144,  and must be at least greater than 0.",
        ),
        (
            json!({"_default_message_delay": 901}),
            "The TTL can not exceed 900 seconds, and must be at least 0 seconds long.",
        ),
        (
            json!({"_dead_letter_queue_messages_ttl": 1}),
            "The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds long.",
        ),
        (
            json!({"_dead_letter_queue_messages_ttl": 1.5}),
            "_dead_letter_queue_messages_ttl must be integer.",
        ),
        (
            json!({"_dead_letter_queue": "q"}),
            "_dead_letter_queue must be the name of another queue of the project.",
        ),
        (
            json!({"_dead_letter_queue": "bad name"}),
            "_dead_letter_queue must be the name of another queue of the project.",
        ),
        (json!({"_flavor": 1}), "_flavor must be a string."),
        (json!({"_retry_policy": [1]}), "retry_policy must be a dict."),
        (
            json!({"_retry_policy": {"retry_backoff_function": "cubic"}}),
            "invalid retry_backoff_function.",
        ),
        (
            json!({"_retry_policy": {"minimum_delay": 10, "maximum_delay": 15}}),
            "invalid minimum_delay and maximum_delay.",
        ),
        (
            json!({"_retry_policy": {"minimum_delay": "x"}}),
            "Retry policy: minimum_delay must be a integer.",
        ),
    ] {
        let r = api.put("/v2/queues/q", Some(metadata.clone())).await;
        r.assert_error(400, "Invalid API request");
        assert_eq!(r.json["description"], description, "{metadata}");
    }
    // Encryption needs a key on the server: this one has none.
    let r = api
        .put(
            "/v2/queues/q",
            Some(json!({"_enable_encrypt_messages": true})),
        )
        .await;
    r.assert_error(400, "Invalid API request");
    assert!(
        r.json["description"]
            .as_str()
            .unwrap()
            .contains("no encryption key"),
        "{r:?}"
    );
    // Python's false values skip the type check.
    let r = api
        .put(
            "/v2/queues/q",
            Some(json!({"_enable_encrypt_messages": 0, "_max_claim_count": null})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    // And a false value shows the default in GET, as Zaqar's `if not value` does.
    let r = api.get("/v2/queues/q").await;
    assert_eq!(r.json["_enable_encrypt_messages"], false, "{r:?}");
    // Non-object metadata.
    api.put("/v2/queues/q2", Some(json!([1])))
        .await
        .assert_error(400, "Invalid request body");
}

#[tokio::test]
async fn purge_bodies() {
    let s = TestServer::start();
    let api = s.api();
    three(&api, "q").await;
    let r = api.post("/v2/queues/q/purge", json!({})).await;
    r.assert_error(400, "Invalid API request");
    assert_eq!(
        r.json["description"],
        "Post body must contain key \"resource_types\"."
    );
    for types in [json!("messages"), json!(null), json!(["queues"])] {
        api.post("/v2/queues/q/purge", json!({ "resource_types": types }))
            .await
            .assert_error(400, "Invalid API request");
    }
    let r = api
        .post("/v2/queues/q/purge", json!({"resource_types": []}))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        api.get("/v2/queues/q/stats").await.json["messages"]["total"],
        3,
        "an empty list purges nothing"
    );
    let r = api
        .post(
            "/v2/queues/q/purge",
            json!({"resource_types": ["messages"]}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        api.get("/v2/queues/q/stats").await.json["messages"]["total"],
        0
    );
}

#[tokio::test]
async fn claimed_messages_carry_their_claim_in_the_href() {
    let s = TestServer::start();
    let api = s.api();
    let ids = three(&api, "q").await;
    let (claim, claimed) = api
        .claim("q", "?limit=1", json!({"ttl": 60, "grace": 60}))
        .await
        .unwrap();
    assert_eq!(claimed, vec![ids[0].clone()]);
    let with_claim = format!("/v2/queues/q/messages/{}?claim_id={claim}", ids[0]);
    let r = api.get(&format!("/v2/queues/q/messages/{}", ids[0])).await;
    assert_eq!(r.json["href"], with_claim, "{r:?}");
    let r = api
        .get(&format!("/v2/queues/q/messages?ids={},{}", ids[0], ids[1]))
        .await;
    assert_eq!(r.json["messages"][0]["href"], with_claim, "{r:?}");
    assert_eq!(
        r.json["messages"][1]["href"],
        format!("/v2/queues/q/messages/{}", ids[1])
    );
    let r = api
        .get("/v2/queues/q/messages?include_claimed=true&echo=true")
        .await;
    assert_eq!(r.json["messages"][0]["href"], with_claim, "{r:?}");

    // A claim id on an unclaimed message: Zaqar's MessageNotClaimed.
    let r = api
        .delete(&format!(
            "/v2/queues/q/messages/{}?claim_id={claim}",
            ids[1]
        ))
        .await;
    r.assert_error(400, "Unable to delete");
    assert_eq!(
        r.json["description"],
        "A claim was specified, but the message is not currently claimed."
    );
    // Not a claim id at all: the claim does not exist.
    let r = api
        .delete(&format!("/v2/queues/q/messages/{}?claim_id=bad", ids[1]))
        .await;
    r.assert_error(400, "Unable to delete");
    assert_eq!(
        r.json["description"],
        "The specified claim does not exist or has expired."
    );
    // The href as given deletes the claimed message.
    assert_eq!(api.delete(&with_claim).await.status, 204);
}

#[tokio::test]
async fn queue_listing_filters_and_counts() {
    let s = TestServer::start();
    let api = s.api();
    for (name, metadata) in [
        ("alpha", json!({"team": "red", "n": 1})),
        ("beta", json!({"team": "blue", "n": 2})),
        ("alphabet", json!({"team": "blue", "n": 1})),
    ] {
        assert_eq!(
            api.put(&format!("/v2/queues/{name}"), Some(metadata))
                .await
                .status,
            201
        );
    }
    let names = |r: &crate::common::Resp| -> Vec<String> {
        r.json["queues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = api.get("/v2/queues?name=alpha").await;
    assert_eq!(names(&r), ["alpha", "alphabet"], "{r:?}");
    let r = api.get("/v2/queues?team=blue").await;
    assert_eq!(names(&r), ["alphabet", "beta"], "{r:?}");
    // A value that reads as an integer matches an integer.
    let r = api.get("/v2/queues?n=1&team=blue").await;
    assert_eq!(names(&r), ["alphabet"], "{r:?}");
    let r = api.get("/v2/queues?team=blue&limit=1").await;
    assert_eq!(names(&r), ["alphabet"]);
    let next = r.json["links"][0]["href"].as_str().unwrap().to_owned();
    assert_eq!(names(&api.get(&next).await), ["beta"], "{next}");
    let r = api.get("/v2/queues?with_count=true&limit=1").await;
    assert_eq!(r.json["count"], 3, "{r:?}");
    let empty = s.api();
    let r = empty.get("/v2/queues?with_count=true").await;
    assert!(
        r.json.get("count").is_none(),
        "Zaqar leaves a count of 0 out: {r:?}"
    );
}

/// Zaqar's `enable_checksum`, `message_delete_with_claim_id` and `client_id_uuid_safe`.
#[tokio::test]
async fn transport_options_do_what_zaqar_does() {
    let s = TestServer::start_with(|c| {
        c.server.enable_checksum = true;
        c.limits.message_delete_with_claim_id = true;
        c.limits.client_id_uuid_safe = "off".into();
    });
    let api = s.api();
    let ids = api
        .post_messages(
            "q",
            json!([{"body": {"event": "one"}}, {"body": "two"}, {"body": 3}]),
        )
        .await;
    // The checksum is MD5 of Python's json.dumps of the body (hashlib, by hand).
    let r = api.get(&format!("/v2/queues/q/messages/{}", ids[0])).await;
    assert_eq!(
        r.json["checksum"],
        md5_of_python_dumps(r#"{"event": "one"}"#),
        "{r:?}"
    );
    let r = api.get("/v2/queues/q/messages?echo=true").await;
    assert_eq!(
        r.json["messages"][1]["checksum"],
        md5_of_python_dumps(r#""two""#)
    );

    // Deleting by ids needs claim ids, and only what those claims hold goes.
    api.delete(&format!("/v2/queues/q/messages?ids={}", ids[0]))
        .await
        .assert_error(400, "Invalid API request");
    let (claim, claimed) = api
        .claim("q", "?limit=2", json!({"ttl": 60, "grace": 60}))
        .await
        .unwrap();
    assert_eq!(claimed, ids[..2].to_vec());
    let r = api
        .delete(&format!(
            "/v2/queues/q/messages?ids={},{}&claim_ids={claim}",
            ids[0], ids[2]
        ))
        .await;
    r.assert_error(400, "Unable to delete");
    assert_eq!(
        api.get("/v2/queues/q/messages?echo=true&include_claimed=true")
            .await
            .ids()
            .len(),
        3,
        "nothing deleted"
    );
    let r = api
        .delete(&format!(
            "/v2/queues/q/messages?ids={}&ids={}&claim_ids={claim}",
            ids[0], ids[1]
        ))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        api.get("/v2/queues/q/messages?echo=true&include_claimed=true")
            .await
            .ids(),
        vec![ids[2].clone()]
    );

    // Any Client-ID of 10 to 36 characters.
    let named = crate::common::Api {
        client_id: "consumer-one".into(),
        ..api.clone()
    };
    assert_eq!(named.get("/v2/queues").await.status, 200);
    let short = crate::common::Api {
        client_id: "short".into(),
        ..api.clone()
    };
    let r = short.get("/v2/queues").await;
    r.assert_error(400, "Wrong UUID value");
    assert_eq!(
        r.json["description"],
        "Length of client id must be at least 10 and no greater than 36."
    );
    // Strict (the default) takes UUIDs only.
    let strict = TestServer::start();
    let named = crate::common::Api {
        base: strict.url.clone(),
        ..named
    };
    named
        .get("/v2/queues")
        .await
        .assert_error(400, "Wrong UUID value");
}

/// `MD5:` of Python's `json.dumps` output, given here as Python writes it.
fn md5_of_python_dumps(python: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print('MD5:' + hashlib.md5(sys.argv[1].encode()).hexdigest())",
            python,
        ])
        .output()
        .expect("python3");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Subscriptions are unique by project, queue and subscriber: a second create of an
/// unconfirmed one answers its id, of a confirmed one 409 (Zaqar's `on_post`).
#[tokio::test]
async fn a_confirmed_subscription_is_not_created_twice() {
    let s = TestServer::start();
    let api = s.api();
    let sub = json!({"subscriber": "http://127.0.0.1:9/hook", "ttl": 3600});
    let first = api.post("/v2/queues/q/subscriptions", sub.clone()).await;
    assert_eq!(first.status, 201, "{first:?}");
    let again = api.post("/v2/queues/q/subscriptions", sub.clone()).await;
    assert_eq!(again.status, 201, "{again:?}");
    assert_eq!(again.json["subscription_id"], first.json["subscription_id"]);
    let id = first.json["subscription_id"].as_str().unwrap();
    let r = api
        .call(
            Method::PUT,
            &format!("/v2/queues/q/subscriptions/{id}/confirm"),
            Some(json!({"confirmed": true})),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = api.post("/v2/queues/q/subscriptions", sub).await;
    r.assert_error(409, "Resource conflict");
}

#[tokio::test]
async fn subscription_retry_policies_are_checked() {
    let s = TestServer::start();
    let api = s.api();
    let r = api
        .post(
            "/v2/queues/q/subscriptions",
            json!({"subscriber": "http://127.0.0.1:9/h", "options": {"_retry_policy": {"retry_backoff_function": "cubic"}}}),
        )
        .await;
    r.assert_error(400, "Invalid API request");
    assert_eq!(r.json["description"], "invalid retry_backoff_function.");
    let r = api
        .post(
            "/v2/queues/q/subscriptions",
            json!({"subscriber": "http://127.0.0.1:9/h", "options": {"_retry_policy": {"retry_backoff_function": "linear"}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
}
