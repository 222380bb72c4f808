//! Messages over HTTP: post, list with echo and paging, get, delete, pop, include_claimed, batch atomicity.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn post_list_echo_and_paging() {
    let s = TestServer::start();
    let api = s.api();
    let r = api
        .post(
            "/v2/queues/demo/messages",
            json!({"messages": [{"ttl": 300, "body": {"event": "one"}}, {"body": "two"}, {"ttl": 600, "delay": 0, "body": [3, "three"]}]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let hrefs: Vec<&str> = r.json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(hrefs.len(), 3);
    let ids: Vec<&str> = hrefs
        .iter()
        .map(|h| h.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        r.header("location").unwrap(),
        format!("/v2/queues/demo/messages?ids={}", ids.join(","))
    );

    // echo defaults to false: the poster does not see its own messages.
    assert_eq!(
        api.get("/v2/queues/demo/messages").await.json,
        json!({"messages": [], "links": []})
    );
    let r = api.get("/v2/queues/demo/messages?echo=true").await;
    let got = r.ids();
    assert_eq!(got, ids, "FIFO order");
    assert_eq!(r.json["messages"][0]["body"], json!({"event": "one"}));
    assert_eq!(r.json["messages"][0]["ttl"], 300);
    assert_eq!(r.json["messages"][1]["ttl"], 3600, "default TTL");
    assert_eq!(r.json["messages"][2]["body"], json!([3, "three"]));
    assert_eq!(r.json["messages"][0]["href"], hrefs[0]);

    // Another client sees them without echo.
    let other = api.other_client();
    assert_eq!(
        other.get("/v2/queues/demo/messages").await.json["messages"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Paging by links.next.
    let mut seen = Vec::new();
    let mut next = "/v2/queues/demo/messages?echo=true&limit=1".to_owned();
    loop {
        let r = api.get(&next).await;
        let page = r.json["messages"].as_array().unwrap().clone();
        if page.is_empty() {
            assert_eq!(r.json["links"], json!([]));
            break;
        }
        assert_eq!(page.len(), 1);
        seen.push(page[0]["id"].as_str().unwrap().to_owned());
        next = r.json["links"][0]["href"].as_str().unwrap().to_owned();
        assert!(
            next.contains("limit=1") && next.contains("echo=true"),
            "{next}"
        );
    }
    assert_eq!(seen, ids);

    // A marker that is no message id starts from the beginning.
    let r = api
        .get("/v2/queues/demo/messages?marker=garbage&echo=true")
        .await;
    assert_eq!(r.json["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn posting_creates_the_queue_and_never_created_lists_empty() {
    let s = TestServer::start();
    let api = s.api();
    assert_eq!(
        api.get("/v2/queues/lazy/messages").await.json,
        json!({"messages": [], "links": []})
    );
    api.post_messages("lazy", json!([{"body": 1}])).await;
    assert_eq!(
        api.get("/v2/queues").await.json["queues"][0]["name"],
        "lazy"
    );
}

#[tokio::test]
async fn get_by_id_and_ids() {
    let s = TestServer::start();
    let api = s.api();
    let ids = api
        .post_messages("q", json!([{"body": "a"}, {"body": "b"}, {"body": "c"}]))
        .await;
    let r = api.get(&format!("/v2/queues/q/messages/{}", ids[1])).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["id"], ids[1].as_str());
    assert_eq!(r.json["body"], "b");
    assert_eq!(r.json["age"], 0);

    let r = api
        .get(&format!("/v2/queues/q/messages?ids={},{}", ids[0], ids[2]))
        .await;
    let got = r.ids();
    assert_eq!(got, vec![ids[0].clone(), ids[2].clone()]);

    let r = api
        .get("/v2/queues/q/messages/000000000000000000000000")
        .await;
    r.assert_error(404, "Not found");
    assert!(r.json["description"]
        .as_str()
        .unwrap()
        .contains("000000000000000000000000"));
    assert_eq!(api.get("/v2/queues/q/messages?ids=nope").await.status, 404);
    let too_many = vec!["x"; 21].join(",");
    api.get(&format!("/v2/queues/q/messages?ids={too_many}"))
        .await
        .assert_error(400, "Invalid API request");
}

#[tokio::test]
async fn delete_one_many_and_pop() {
    let s = TestServer::start();
    let api = s.api();
    let ids = api
        .post_messages(
            "q",
            json!([{"body": 0}, {"body": 1}, {"body": 2}, {"body": 3}, {"body": 4}]),
        )
        .await;
    assert_eq!(
        api.delete(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .status,
        204
    );
    assert_eq!(
        api.delete(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .status,
        204,
        "idempotent"
    );
    assert_eq!(
        api.get(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .status,
        404
    );

    assert_eq!(
        api.delete(&format!("/v2/queues/q/messages?ids={}", ids[1]))
            .await
            .status,
        204
    );
    assert_eq!(
        api.get(&format!("/v2/queues/q/messages/{}", ids[1]))
            .await
            .status,
        404
    );

    let r = api.delete("/v2/queues/q/messages?pop=2").await;
    assert_eq!(r.status, 200);
    let popped = r.ids();
    assert_eq!(
        popped,
        vec![ids[2].clone(), ids[3].clone()],
        "pop takes the head"
    );
    assert_eq!(r.json["messages"][0]["body"], 2);
    assert_eq!(api.stats("q").await["total"], 1);

    // Pop skips claimed messages.
    api.claim("q", "", json!({})).await.unwrap();
    assert_eq!(
        api.delete("/v2/queues/q/messages?pop=1").await.json["messages"],
        json!([])
    );

    api.delete("/v2/queues/q/messages?pop=1&ids=x")
        .await
        .assert_error(400, "Invalid API request");
    api.delete("/v2/queues/q/messages")
        .await
        .assert_error(400, "Invalid API request");
    api.delete("/v2/queues/q/messages?pop=0")
        .await
        .assert_error(400, "Invalid API request");
    api.delete("/v2/queues/q/messages?pop=21")
        .await
        .assert_error(400, "Invalid API request");
}

#[tokio::test]
async fn include_claimed() {
    let s = TestServer::start();
    let api = s.api();
    let ids = api
        .post_messages("q", json!([{"body": 0}, {"body": 1}]))
        .await;
    api.claim("q", "?limit=1", json!({})).await.unwrap();
    assert_eq!(
        api.get("/v2/queues/q/messages?echo=true").await.ids(),
        vec![ids[1].clone()]
    );
    assert_eq!(
        api.get("/v2/queues/q/messages?echo=true&include_claimed=true")
            .await
            .ids(),
        ids
    );
}

#[tokio::test]
async fn a_batch_post_is_atomic() {
    let s = TestServer::start();
    let api = s.api();
    // The third message is invalid: nothing of the batch is stored.
    let r = api
        .post(
            "/v2/queues/q/messages",
            json!({"messages": [{"body": 1}, {"body": 2}, {"ttl": 1, "body": 3}]}),
        )
        .await;
    r.assert_error(400, "Invalid API request");
    assert_eq!(api.stats("q").await["total"], 0);
    // 21 messages in one post are fine (only the byte size is limited).
    let many: Vec<_> = (0..21).map(|i| json!({"body": i})).collect();
    assert_eq!(api.post_messages("q", json!(many)).await.len(), 21);
    assert_eq!(api.stats("q").await["total"], 21);
}
