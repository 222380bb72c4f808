//! Encryption at rest (`_enable_encrypt_messages`, `[encryption] keys`): no body of an
//! encrypted queue reaches the backend in clear, whatever the backend; clients read
//! plaintext back; keys rotate; a tampered body is a 503, never garbage.

use serde_json::json;

use crate::common::{raw_dump, TestServer};

const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const K2: &str = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

fn with_keys(keys: &'static [&'static str], store: Option<String>) -> TestServer {
    TestServer::start_with(move |c| {
        c.encryption.keys = zaqar::conf::HmacKeys::parse(&keys.join(","));
        if let Some(store) = store {
            c.storage.message_store = store;
        }
    })
}

#[tokio::test]
async fn encrypted_queues_keep_no_body_in_clear_and_read_back_plaintext() {
    let s = with_keys(&[K1], None);
    let api = s.api();
    let secret = format!("SECRET-{}", uuid::Uuid::new_v4().simple());
    let r = api
        .put(
            "/v2/queues/vault",
            Some(json!({"_enable_encrypt_messages": true})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let body = json!({"card": secret, "n": [1, 2]});
    let ids = api
        .post_messages(
            "vault",
            json!([{"body": body, "ttl": 300}, {"body": secret, "ttl": 300}]),
        )
        .await;

    // Every read path answers the plaintext.
    let r = api
        .get(&format!("/v2/queues/vault/messages/{}", ids[0]))
        .await;
    assert_eq!(r.json["body"], body, "{r:?}");
    let r = api.get("/v2/queues/vault/messages?echo=true").await;
    assert_eq!(r.json["messages"][1]["body"], json!(secret));
    let r = api.get("/v2/queues/vault/stats").await;
    assert_eq!(r.json["messages"]["oldest"]["body"], body, "{r:?}");
    let (claim, _) = api
        .claim("vault", "?limit=1", json!({"ttl": 60, "grace": 60}))
        .await
        .unwrap();
    let r = api.get(&format!("/v2/queues/vault/claims/{claim}")).await;
    assert_eq!(r.json["messages"][0]["body"], body, "{r:?}");
    let r = api.delete("/v2/queues/vault/messages?pop=1").await;
    assert_eq!(r.json["messages"][0]["body"], json!(secret), "{r:?}");

    // The backend's own data holds ciphertext only.
    api.post_messages("vault", json!([{"body": secret}])).await;
    let raw = raw_dump(&s.store_uri).await;
    assert!(!raw.contains(&secret), "plaintext in the backend");
    assert!(
        raw.contains("zaqar:enc:k1:"),
        "no sealed body found in the dump"
    );

    // Ciphertext changed in the database (SQL backends: one UPDATE): 503, not garbage.
    if !s.store_uri.starts_with("redis") && !s.store_uri.starts_with("mongodb") {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let db = Database::connect(s.store_uri.as_str()).await.unwrap();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "UPDATE messages SET body = replace(body, 'zaqar:enc:k1:', 'zaqar:enc:k1:AB') \
                 WHERE id = '{}'",
                ids[0]
            ),
        ))
        .await
        .unwrap();
        let r = api
            .get(&format!("/v2/queues/vault/messages/{}", ids[0]))
            .await;
        r.assert_error(503, "Service temporarily unavailable");
    }

    // A queue that does not encrypt keeps clear text; a client body that looks sealed is
    // read back exactly as posted.
    let forged = "zaqar:enc:k1:AAAA";
    let ids = api
        .post_messages("plain", json!([{"body": forged}, {"body": "zaqar:raw:x"}]))
        .await;
    let r = api
        .get(&format!(
            "/v2/queues/plain/messages?ids={},{}",
            ids[0], ids[1]
        ))
        .await;
    assert_eq!(r.json["messages"][0]["body"], forged, "{r:?}");
    assert_eq!(r.json["messages"][1]["body"], "zaqar:raw:x", "{r:?}");
}

#[tokio::test]
async fn keys_rotate_and_old_messages_stay_readable() {
    let first = with_keys(&[K1], None);
    let api = first.api();
    let r = api
        .put(
            "/v2/queues/vault",
            Some(json!({"_enable_encrypt_messages": true})),
        )
        .await;
    assert_eq!(r.status, 201);
    let old = api.post_messages("vault", json!([{"body": "old"}])).await;
    let rotated = with_keys(&[K1, K2], Some(first.store_uri.clone()));
    let api2 = crate::common::TestServer::client_of(&rotated.url);
    let api2 = crate::common::Api {
        project: api.project.clone(),
        ..api2
    };
    let new = api2.post_messages("vault", json!([{"body": "new"}])).await;
    let r = api2
        .get(&format!(
            "/v2/queues/vault/messages?ids={},{}",
            old[0], new[0]
        ))
        .await;
    assert_eq!(r.json["messages"][0]["body"], "old", "{r:?}");
    assert_eq!(r.json["messages"][1]["body"], "new", "{r:?}");
    let raw = raw_dump(&rotated.store_uri).await;
    assert!(
        raw.contains("zaqar:enc:k2:"),
        "new writes use the newest key"
    );
    // A server without the old key cannot open the old message: 503, not garbage.
    let k2_only = with_keys(&[K2], Some(first.store_uri.clone()));
    let api3 = crate::common::Api {
        base: k2_only.url.clone(),
        ..api2.clone()
    };
    let r = api3
        .get(&format!("/v2/queues/vault/messages/{}", old[0]))
        .await;
    r.assert_error(503, "Service temporarily unavailable");
    let r = api3
        .get(&format!("/v2/queues/vault/messages/{}", new[0]))
        .await;
    assert_eq!(r.json["body"], "new", "{r:?}");
}
