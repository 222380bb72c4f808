//! Hostile input and its regressions (issue 10's probe): bodies too deep to render, batches
//! past a backend's bound-variable limit, ids no backend can store, markers whose message is
//! gone, and error bodies for every refusal. Each runs on whichever backend the suite runs
//! on (`ZAQAR_TEST_MESSAGE_STORE`).

use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use zaqar_actors::model::{NewMessage, QueueId};
use zaqar_actors::storage::open::open;

use crate::common::{store_options, Resp, TestServer};

/// `[[[...1...]]]`, `depth` arrays deep.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// The messages of an answer, bodies kept as text: a body deeper than serde_json's
/// recursion limit cannot become a `serde_json::Value`, but it can be read raw.
#[derive(Deserialize)]
struct RawMessages {
    messages: Vec<RawMessage>,
}

#[derive(Deserialize)]
struct RawMessage {
    id: String,
    body: Box<RawValue>,
}

fn raw_messages(r: &Resp) -> Vec<(String, String)> {
    let page: RawMessages = serde_json::from_str(&r.text).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    page.messages
        .into_iter()
        .map(|m| (m.id, m.body.get().to_owned()))
        .collect()
}

fn assert_error_body(r: &Resp, status: u16) {
    assert_eq!(r.status.as_u16(), status, "{r:?}");
    assert!(r.json["title"].is_string(), "{r:?}");
    assert!(r.json["description"].is_string(), "{r:?}");
}

#[tokio::test]
async fn bodies_nested_too_deep_are_refused_and_nothing_is_stored() {
    let s = TestServer::start();
    let api = s.api();
    let body = format!(
        r#"{{"messages": [{{"body": 1}}, {{"body": {}}}, {{"body": 3}}]}}"#,
        nested(129)
    );
    let r = api
        .send(
            api.request(Method::POST, "/v2/queues/deep/messages")
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;
    r.assert_error(400, "Invalid request body");
    assert!(
        r.json["description"]
            .as_str()
            .unwrap()
            .contains("64 levels"),
        "{r:?}"
    );
    // Atomic: the innocent messages of the batch were not stored either.
    let r = api.get("/v2/queues/deep/messages?echo=true").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.ids().is_empty(), "{r:?}");

    // The deepest body accepted is stored and served whole by every route.
    let ids = api
        .post_messages(
            "deep",
            json!([{"body": 1}, {"body": serde_json::from_str::<serde_json::Value>(&nested(64)).unwrap()}, {"body": 3}]),
        )
        .await;
    assert_eq!(ids.len(), 3);
    let r = api.get("/v2/queues/deep/messages?echo=true").await;
    assert_eq!(r.ids(), ids);
    let r = api.delete("/v2/queues/deep/messages?pop=10").await;
    assert_eq!(r.status, 200, "{r:?}");
    let popped = raw_messages(&r);
    assert_eq!(popped.len(), 3);
    assert_eq!(popped[1].1.replace(' ', ""), nested(64));

    // Queue metadata and subscription options obey the same bound.
    let deep = serde_json::from_str::<serde_json::Value>(&nested(65)).unwrap();
    api.put("/v2/queues/deep", Some(json!({"x": deep})))
        .await
        .assert_error(400, "Invalid request body");
    api.post(
        "/v2/queues/deep/subscriptions",
        json!({"subscriber": "http://example.com/hook", "options": {"x": deep}}),
    )
    .await
    .assert_error(400, "Invalid request body");
}

/// Bodies stored before the depth check existed (or written by another tool) are served
/// too: no route re-parses a stored body, so none can fail or panic on one, and a pop or
/// claim hands out every message it removed or claimed.
#[tokio::test]
async fn stored_bodies_of_any_depth_are_rendered_by_every_route() {
    let s = TestServer::start();
    let api = s.api();
    let store = open(&s.store_uri, &store_options())
        .await
        .expect("open the store")
        .data;
    let queue = QueueId::new(api.project.as_str(), "stored");
    let deep = nested(200);
    let message = |body: &str| NewMessage {
        ttl: None,
        delay: None,
        body: RawValue::from_string(body.to_owned()).unwrap(),
    };
    let batch = vec![message("1"), message(&deep), message("3")];
    let ids = store
        .post_messages(
            &queue,
            &api.other_client().client_id,
            batch.into(),
            10,
            true,
        )
        .await
        .unwrap();

    let r = api.get("/v2/queues/stored/messages").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(raw_messages(&r)[1].1, deep);
    let r = api
        .get(&format!("/v2/queues/stored/messages?ids={}", ids.join(",")))
        .await;
    assert_eq!(raw_messages(&r).len(), 3, "{r:?}");
    let r = api
        .get(&format!("/v2/queues/stored/messages/{}", ids[1]))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text.contains(&deep), "{r:?}");
    // The deep message is the oldest and the newest in turn.
    let r = api.get("/v2/queues/stored/stats").await;
    assert_eq!(r.status, 200, "{r:?}");

    let r = api
        .post("/v2/queues/stored/claims?limit=2", json!({"ttl": 60}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let claimed = raw_messages(&r);
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[1].1, deep);
    let claim = r.header("location").unwrap().to_owned();
    let r = api.get(&claim).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(raw_messages(&r).len(), 2);
    api.delete(&claim).await;

    let r = api.delete("/v2/queues/stored/messages?pop=10").await;
    assert_eq!(r.status, 200, "{r:?}");
    let popped: Vec<String> = raw_messages(&r).into_iter().map(|(id, _)| id).collect();
    assert_eq!(popped, ids, "every popped message is handed out");
    let r = api
        .get("/v2/queues/stored/messages?include_claimed=true")
        .await;
    assert!(raw_messages(&r).is_empty());
}

#[tokio::test]
async fn a_batch_of_any_count_within_the_byte_limit_is_stored_and_answered_readably() {
    // The MongoDB-compatible test server can take more than the default 10 s for 8,000
    // inserts while other tests load it; this test is about what is stored, not how fast.
    let s = TestServer::start_with(|c| c.storage.command_timeout = 60);
    let api = s.api();
    // 8,000 messages in 96 KB: past SQLite's 32,766 bound values (and PostgreSQL's 65,535)
    // in one statement, well within 256 KiB.
    let batch: Vec<_> = (0..8000).map(|i| json!({"body": i})).collect();
    let r = api
        .post("/v2/queues/big/messages", json!({ "messages": batch }))
        .await;
    assert_eq!(r.status, 201, "{}", &r.text[..r.text.len().min(500)]);
    assert_eq!(r.json["resources"].as_array().unwrap().len(), 8000);
    let location = r.header("location").unwrap();
    assert_eq!(location, "/v2/queues/big/messages", "a short Location");
    let stats = api.stats("big").await;
    assert_eq!(stats["total"], 8000);
    // FIFO across the statements of the batch.
    let r = api.get("/v2/queues/big/messages?echo=true&limit=3").await;
    let first: Vec<_> = r.json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].clone())
        .collect();
    assert_eq!(first, [json!(0), json!(1), json!(2)]);

    // A small batch keeps Zaqar's Location, which lists the ids.
    let ids = api.post_messages("big", json!([{"body": 1}])).await;
    let r = api
        .post(
            "/v2/queues/big/messages",
            json!({"messages": [{"body": 1}]}),
        )
        .await;
    assert!(r.header("location").unwrap().contains("?ids="), "{r:?}");
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn max_messages_per_post_caps_the_count_when_set() {
    let s = TestServer::start_with(|c| c.limits.max_messages_per_post = 10);
    let api = s.api();
    let batch: Vec<_> = (0..11).map(|i| json!({"body": i})).collect();
    let r = api
        .post("/v2/queues/capped/messages", json!({ "messages": batch }))
        .await;
    r.assert_error(400, "Invalid API request");
    assert_eq!(
        r.json["description"],
        "No more than 10 messages may be posted at once."
    );
    let batch: Vec<_> = (0..10).map(|i| json!({"body": i})).collect();
    assert_eq!(api.post_messages("capped", json!(batch)).await.len(), 10);
}

/// NUL cannot be stored in PostgreSQL's text: lookups by such an id answer as for any id
/// that is not there, never 503.
#[tokio::test]
async fn ids_holding_nul_answer_as_ids_that_do_not_exist() {
    let s = TestServer::start();
    let api = s.api();
    api.post_messages("nul", json!([{"body": 1}])).await;
    let q = "/v2/queues/nul";
    assert_error_body(&api.get(&format!("{q}/messages/a%00b")).await, 404);
    assert_eq!(api.delete(&format!("{q}/messages/a%00b")).await.status, 204);
    assert_error_body(&api.get(&format!("{q}/messages?ids=a%00b")).await, 404);
    assert_eq!(
        api.delete(&format!("{q}/messages?ids=a%00b")).await.status,
        204
    );
    let r = api
        .get(&format!("{q}/messages?echo=true&marker=a%00b"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.ids().len(), 1, "an unknown marker starts from the head");
    assert_error_body(&api.get(&format!("{q}/claims/a%00b")).await, 404);
    assert_error_body(
        &api.call(
            Method::PATCH,
            &format!("{q}/claims/a%00b"),
            Some(json!({"ttl": 60})),
        )
        .await,
        404,
    );
    assert_eq!(api.delete(&format!("{q}/claims/a%00b")).await.status, 204);
    let r = api
        .delete(&format!(
            "{q}/messages/{}?claim_id=a%00b",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert!(r.status.is_success() || r.status.is_client_error(), "{r:?}");
    assert_error_body(&api.get(&format!("{q}/subscriptions/a%00b")).await, 404);
    assert_eq!(
        api.delete(&format!("{q}/subscriptions/a%00b")).await.status,
        204
    );
    assert_eq!(
        api.get("/v2/queues?marker=a%00b").await.status,
        200,
        "queue listing"
    );
    api.post(
        &format!("{q}/subscriptions"),
        json!({"subscriber": "http://example.com/\u{0}hook"}),
    )
    .await
    .assert_error(400, "Invalid API request");
}

/// The `next` marker keeps its place when the message it names is deleted (it used to start
/// the listing from the head again).
#[tokio::test]
async fn paging_keeps_its_place_when_the_marker_message_is_deleted() {
    let s = TestServer::start();
    let api = s.api();
    let ids = api
        .post_messages(
            "paged",
            json!([{"body": 0}, {"body": 1}, {"body": 2}, {"body": 3}]),
        )
        .await;
    let r = api.get("/v2/queues/paged/messages?echo=true&limit=2").await;
    assert_eq!(r.ids(), ids[..2]);
    let next = r.json["links"][0]["href"].as_str().unwrap().to_owned();
    assert_eq!(
        api.delete(&format!("/v2/queues/paged/messages/{}", ids[1]))
            .await
            .status,
        204
    );
    let r = api.get(&next).await;
    assert_eq!(r.ids(), ids[2..], "{r:?}");
    // A marker that is a message id (as Zaqar's Redis driver hands out) still works.
    let r = api
        .get(&format!(
            "/v2/queues/paged/messages?echo=true&marker={}",
            ids[2]
        ))
        .await;
    assert_eq!(r.ids(), ids[3..], "{r:?}");
}

/// Every refusal has a JSON `{"title", "description"}` body, the router's own included.
#[tokio::test]
async fn every_error_answer_has_a_title_and_a_description() {
    let s = TestServer::start();
    let api = s.api();
    assert_error_body(&api.get("/v2/nope").await, 404);
    let r = api.post("/v2/queues/q/stats", json!({})).await;
    assert_error_body(&r, 405);
    assert!(r.header("allow").is_some());
    let r = api
        .send(
            api.request(Method::GET, "/v2/queues")
                .header("Accept", "text/plain"),
        )
        .await;
    assert_error_body(&r, 406);
    assert_eq!(r.header("content-type"), Some("application/json"));
}

/// A body trickled in (Content-Length 1000, then one byte) is cut at
/// `client_body_timeout`: 408 with a JSON body, and the connection is closed.
#[tokio::test]
async fn a_trickled_body_is_cut_at_the_body_timeout() {
    use std::io::{Read, Write};
    // The last check is that the server still serves; on the MongoDB-compatible test server,
    // loaded by the batch tests beside this one, a listing can take more than 10 s.
    let s = TestServer::start_with(|c| {
        c.server.client_body_timeout = 1;
        c.storage.command_timeout = 60;
    });
    let api = s.api();
    let addr = s.url.trim_start_matches("http://").to_owned();
    let project = api.project.clone();
    let client = api.client_id.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        write!(
            conn,
            "POST /v2/queues/slow/messages HTTP/1.1\r\nHost: x\r\nClient-ID: {client}\r\n\
             X-Project-ID: {project}\r\nContent-Type: application/json\r\n\
             Content-Length: 1000\r\n\r\n{{"
        )
        .unwrap();
        // Reads until the server closes the connection: it must, after its 408.
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"title\":\"Request timeout\""), "{answer}");
    // The server still serves everyone else.
    assert_eq!(api.get("/v2/queues").await.status, 200);
}

/// Project ids may hold any character Zaqar allows, `:` included: no project id reaches
/// another project's queues or messages (on Redis, layout 1's keys let project
/// `6:victim:ids` list and delete project `victim`'s message ids as queue names).
#[tokio::test]
async fn project_ids_that_look_like_keys_reach_nothing_of_another_project() {
    let s = TestServer::start();
    let mut victim = s.api();
    victim.project = format!("v{}", uuid::Uuid::new_v4().simple());
    let ids = victim
        .post_messages(
            "queues",
            json!([{"body": 1}, {"body": 2}, {"body": 3}, {"body": 4}, {"body": 5}]),
        )
        .await;
    let mut attacker = s.api();
    for project in [
        format!("{}:{}:ids", victim.project.len(), victim.project),
        format!("{}:{}:q:queues", victim.project.len(), victim.project),
        format!("{}:{}", victim.project.len(), victim.project),
    ] {
        attacker.project = project;
        let r = attacker.get("/v2/queues").await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            r.json["queues"],
            json!([]),
            "{} sees {r:?}",
            attacker.project
        );
        for id in &ids {
            attacker.delete(&format!("/v2/queues/{id}")).await;
        }
        attacker.delete("/v2/queues/queues").await;
        attacker
            .delete(&format!("/v2/queues/queues/messages?ids={}", ids.join(",")))
            .await;
    }
    let r = victim.get("/v2/queues/queues/messages?echo=true").await;
    assert_eq!(r.ids(), ids, "the victim's messages are all there");
    assert_eq!(victim.stats("queues").await["total"], 5);
}

/// Sends raw bytes and reads the answer until the server closes the connection.
async fn raw_exchange(url: &str, request: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        conn.write_all(&request).unwrap();
        let mut answer = Vec::new();
        // The server may close while we still write (431): read what it answered.
        let _ = conn.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .unwrap()
}

fn json_body_of(answer: &str) -> serde_json::Value {
    let (_, body) = answer.split_once("\r\n\r\n").unwrap_or(("", ""));
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not a JSON body: {answer}"))
}

/// The answers actix-http writes by itself (broken syntax, oversized headers, headers too
/// slow) carry the Zaqar error body too.
#[tokio::test]
async fn protocol_errors_have_json_bodies() {
    let s = TestServer::start_with(|c| c.server.client_request_timeout = 1);
    let answer = raw_exchange(&s.url, b"THIS IS NOT HTTP\r\n\r\n".to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("content-type: application/json"),
        "{answer}"
    );
    assert_eq!(json_body_of(&answer)["title"], "Malformed request");

    let mut huge = b"GET /v2/queues HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 300_000));
    huge.extend(b"\r\n\r\n");
    let answer = raw_exchange(&s.url, huge).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(
        json_body_of(&answer)["title"],
        "Request header fields too large"
    );

    // Headers that stop half way: cut at client_request_timeout.
    let answer = raw_exchange(&s.url, b"GET /v2/queues HTTP/1.1\r\nHost: x\r\n".to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body = json_body_of(&answer);
    assert_eq!(body["title"], "Request timeout");
    assert!(body["description"].is_string());
}
