//! Every bad-input row of the recorded Zaqar transcript: status and error title.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn headers() {
    let s = TestServer::start();
    let api = s.api();
    let http = reqwest::Client::new();
    let send = |rb: reqwest::RequestBuilder| api.send(rb);
    let url = format!("{}/v2/queues", s.url);

    let r = send(http.get(&url).header("X-Project-ID", "p")).await;
    r.assert_error(400, "Missing header value");
    assert_eq!(
        r.json["description"],
        "The \"Client-Id\" header is required."
    );
    send(
        http.get(&url)
            .header("X-Project-ID", "p")
            .header("Client-ID", "not-a-uuid"),
    )
    .await
    .assert_error(400, "Wrong UUID value");
    send(http.get(&url).header("Client-ID", &api.client_id))
        .await
        .assert_error(400, "Project-Id Missing");
    send(
        http.get(&url)
            .header("Client-ID", &api.client_id)
            .header("X-Project-ID", ""),
    )
    .await
    .assert_error(400, "Empty project header not allowed");
    send(
        http.get(format!("{}/v2/", s.url))
            .header("X-Project-ID", "p"),
    )
    .await
    .assert_error(400, "Missing header value");
    // A UUID without hyphens is still a UUID.
    let r = send(
        http.get(&url)
            .header("X-Project-ID", "p")
            .header("Client-ID", uuid::Uuid::new_v4().simple().to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test]
async fn queue_names() {
    let s = TestServer::start();
    let api = s.api();
    api.put("/v2/queues/bad%20name!", None)
        .await
        .assert_error(400, "Invalid queue identification");
    api.put(&format!("/v2/queues/{}", "q".repeat(65)), None)
        .await
        .assert_error(400, "Invalid queue identification");
    assert_eq!(
        api.put(&format!("/v2/queues/{}", "q".repeat(64)), None)
            .await
            .status,
        201
    );
    // Zaqar's pattern allows dots.
    assert_eq!(api.put("/v2/queues/with.dots", None).await.status, 201);
    api.get("/v2/queues/bad:name/messages")
        .await
        .assert_error(400, "Invalid queue identification");
}

#[tokio::test]
async fn bodies() {
    let s = TestServer::start();
    let api = s.api();
    let raw = |method: Method, path: &str, ctype: &str, body: &str| {
        api.send(
            api.request(method, path)
                .header("Content-Type", ctype)
                .body(body.to_owned()),
        )
    };
    raw(
        Method::PUT,
        "/v2/queues/demo",
        "application/json",
        "{not json",
    )
    .await
    .assert_error(400, "Invalid request body");
    raw(Method::PUT, "/v2/queues/demo", "application/json", "[1]")
        .await
        .assert_error(400, "Invalid request body");
    let m = "/v2/queues/demo/messages";
    raw(Method::POST, m, "application/json", "{not json")
        .await
        .assert_error(400, "Invalid request body");
    let cases = [
        (json!({"messages": []}), "Invalid API request", "No messages to enqueu."),
        (json!([{"body": 1}]), "Invalid API request", "No messages were found in the request body."),
        (json!({"messages": [{"ttl": 60}]}), "Invalid request body", "Missing \"body\" field."),
        (json!({"messages": [{"ttl": 10, "body": 1}]}), "Invalid API request",
            "The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds long."),
        (json!({"messages": [{"ttl": 1209601, "body": 1}]}), "Invalid API request",
            "The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds long."),
        (json!({"messages": [{"ttl": "abc", "body": 1}]}), "Invalid request body",
            "The value of the \"ttl\" field must be a int."),
        (json!({"messages": [{"ttl": null, "body": 1}]}), "Invalid request body",
            "The value of the \"ttl\" field must be a int."),
        // Python's True is 1, as Zaqar's type check sees it.
        (json!({"messages": [{"ttl": true, "body": 1}]}), "Invalid API request",
            "The TTL for a message may not exceed 1209600 seconds, and must be at least 60 seconds long."),
        (json!({"messages": [{"delay": 901, "body": 1}]}), "Invalid API request",
            "The Delay TTL for a message may not exceed 900 seconds,and must be at least 0 seconds long."),
        (json!({"messages": {}}), "Invalid request body", "Document type not supported."),
        (json!({"messages": null}), "Invalid request body", "Document type not supported."),
        (json!(5), "Invalid request body", "Request body could not be parsed."),
        // A message that is not an object (Zaqar 23 answers these 500: `doc['ttl']` of a
        // list or a string); an array is never read as its fields in order.
        (json!({"messages": [[60, 0, "x"]]}), "Invalid request body",
            "Each message must be a JSON object."),
        (json!({"messages": [{"body": 1}, "x"]}), "Invalid request body",
            "Each message must be a JSON object."),
    ];
    for (body, title, description) in cases {
        let r = api.post(m, body).await;
        r.assert_error(400, title);
        assert_eq!(r.json["description"], description);
    }
    // A null body is a body (Zaqar stores it).
    let r = api
        .post(
            "/v2/queues/nulls/messages",
            json!({"messages": [{"body": null}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let href = r.json["resources"][0].as_str().unwrap().to_owned();
    let r = api.get(&href).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["body"], json!(null), "{r:?}");
    let claims = "/v2/queues/demo/claims";
    let r = api.post(claims, json!([])).await;
    r.assert_error(400, "Invalid request body");
    assert_eq!(r.json["description"], "Document type not supported.");
    let r = api
        .call(Method::PATCH, &format!("{claims}/nope"), None)
        .await;
    r.assert_error(400, "Invalid request body");
    assert_eq!(r.json["description"], "Request body could not be parsed.");
    let big = json!({"messages": [{"body": "x".repeat(256 * 1024)}]});
    let r = api.post(m, big).await;
    r.assert_error(400, "Invalid API request");
    assert_eq!(
        r.json["description"],
        "Message collection size is too large. Max size 262144"
    );
    let r = raw(Method::POST, m, "application/x-www-form-urlencoded", "a=1").await;
    r.assert_error(400, "Invalid Content-Type");
    assert!(r.json["description"]
        .as_str()
        .unwrap()
        .contains("application/x-www-form-urlencoded"));
    assert_eq!(api.stats("demo").await["total"], 0, "nothing was stored");
}

#[tokio::test]
async fn paging_limits() {
    let s = TestServer::start();
    let api = s.api();
    // Zaqar words the queue listing's limit differently from the message listing's.
    for (path, says) in [
        (
            "/v2/queues/demo/messages?limit=0",
            "may not be greater than 20",
        ),
        (
            "/v2/queues/demo/messages?limit=21",
            "may not be greater than 20",
        ),
        ("/v2/queues?limit=21", "no greater than 20"),
        ("/v2/queues?limit=0", "no greater than 20"),
    ] {
        let r = api.get(path).await;
        r.assert_error(400, "Invalid API request");
        assert_eq!(
            r.json["description"],
            format!("Limit must be at least 1 and {says}.")
        );
    }
    api.get("/v2/queues?limit=abc")
        .await
        .assert_error(400, "Invalid parameter");
}

#[tokio::test]
async fn accept_method_and_path() {
    let s = TestServer::start();
    let api = s.api();
    let r = api
        .send(
            api.request(Method::GET, "/v2/queues")
                .header("Accept", "text/plain"),
        )
        .await;
    // Zaqar answers 406 with no body; every error of ours has a JSON body (issue 10, D11).
    r.assert_error(406, "Media type not acceptable");
    assert!(r.header("x-openstack-request-id").is_some());
    let r = api
        .send(
            api.request(Method::GET, "/v2/queues")
                .header("Accept", "application/json"),
        )
        .await;
    assert_eq!(r.status, 200);

    let r = api.post("/v2/queues/demo/stats", json!({})).await;
    r.assert_error(405, "405 Method Not Allowed");
    assert_eq!(r.header("allow"), Some("GET, OPTIONS"));
    let r = api
        .call(Method::PUT, "/v2/queues/demo/messages", None)
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST, DELETE"));

    api.get("/v2/nope").await.assert_error(404, "404 Not Found");
    api.get("/v3/queues")
        .await
        .assert_error(404, "404 Not Found");
}
