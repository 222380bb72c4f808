//! Subscription records over HTTP: lifecycle, validation, expiry.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn subscription_lifecycle() {
    let s = TestServer::start();
    let api = s.api();
    let base = "/v2/queues/demo/subscriptions";
    let r = api
        .post(
            base,
            json!({"subscriber": "http://127.0.0.1:9/hook", "ttl": 3600, "options": {"k": "v"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json["subscription_id"].as_str().unwrap().to_owned();
    // The same subscriber again keeps its subscription.
    let r = api
        .post(
            base,
            json!({"subscriber": "http://127.0.0.1:9/hook", "ttl": 3600}),
        )
        .await;
    assert_eq!(r.json["subscription_id"], id.as_str());

    let r = api.get(base).await;
    // Its age is read from the wall clock (a slow backend may take a second to answer):
    // moved forward by the server's clock, it grows by as much.
    let mut listed = r.json["subscriptions"][0].clone();
    let age = listed["age"].as_i64().expect("an integer age");
    listed["age"] = json!(0);
    assert_eq!(
        listed,
        json!({
            "id": id, "source": "demo", "subscriber": "http://127.0.0.1:9/hook",
            "ttl": 3600, "age": 0, "options": {"k": "v"}, "confirmed": false
        })
    );
    s.clock.advance(std::time::Duration::from_secs(120));
    let later = api.get(base).await.json["subscriptions"][0]["age"]
        .as_i64()
        .unwrap();
    assert!(later >= age + 120, "age {age} then {later}");
    let one = format!("{base}/{id}");
    assert_eq!(
        api.call(Method::PATCH, &one, Some(json!({"ttl": 7200})))
            .await
            .status,
        204
    );
    assert_eq!(api.get(&one).await.json["ttl"], 7200);
    assert_eq!(
        api.put(&format!("{one}/confirm"), Some(json!({"confirmed": true})))
            .await
            .status,
        204
    );
    assert_eq!(api.get(&one).await.json["confirmed"], true);
    assert_eq!(api.delete(&one).await.status, 204);
    api.get(&one).await.assert_error(404, "Not found");

    api.post(base, json!({"subscriber": "ftp://x", "ttl": 3600}))
        .await
        .assert_error(400, "Invalid API request");
    api.post(base, json!({"ttl": 3600}))
        .await
        .assert_error(400, "Invalid API request");
    api.post(base, json!({"subscriber": "http://x", "ttl": 1}))
        .await
        .assert_error(400, "Invalid API request");
}

#[tokio::test]
async fn subscriptions_expire() {
    let s = TestServer::start();
    let api = s.api();
    let r = api
        .post(
            "/v2/queues/q/subscriptions",
            json!({"subscriber": "mailto:a@b.c", "ttl": 60}),
        )
        .await;
    let id = r.json["subscription_id"].as_str().unwrap().to_owned();
    s.clock.advance(std::time::Duration::from_secs(61));
    assert_eq!(
        api.get(&format!("/v2/queues/q/subscriptions/{id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        api.get("/v2/queues/q/subscriptions").await.json["subscriptions"],
        json!([])
    );
}

/// Each answer is Zaqar 23's (status, title and text), checked side by side with it.
#[tokio::test]
async fn subscription_bodies_are_checked_as_zaqar_checks_them() {
    let s = TestServer::start();
    let api = s.api();
    let base = "/v2/queues/demo/subscriptions";
    let r = api
        .post(base, json!({"subscriber": "http://127.0.0.1:9/a"}))
        .await;
    let one = format!("{base}/{}", r.json["subscription_id"].as_str().unwrap());
    let refused = |r: crate::common::Resp, title: &str, description: &str| {
        r.assert_error(400, title);
        assert_eq!(r.json["description"], description, "{r:?}");
    };
    let invalid = "Invalid API request";
    refused(
        api.post(base, json!({})).await,
        invalid,
        "Missing parameter subscriber in body.",
    );
    refused(
        api.post(base, json!({"subscriber": "ftp://x"})).await,
        invalid,
        "The subscriber type of subscription must be supported in the list \
         ['http', 'https', 'mailto', 'trust+http', 'trust+https'].",
    );
    for ttl in [json!("abc"), json!(100.5)] {
        refused(
            api.post(
                base,
                json!({"subscriber": "http://127.0.0.1:9/b", "ttl": ttl}),
            )
            .await,
            invalid,
            "TTL must be an integer.",
        );
    }
    refused(
        api.post(
            base,
            json!({"subscriber": "http://127.0.0.1:9/b", "ttl": 99_999_999_999_999_i64}),
        )
        .await,
        invalid,
        "The TTL seconds for a subscription plus current time must be less than \
         9999-12-31 23:59:59.999999.",
    );
    refused(
        api.post(
            base,
            json!({"subscriber": "http://127.0.0.1:9/b", "options": 5}),
        )
        .await,
        invalid,
        "Options must be a dict.",
    );
    for body in [json!({}), json!([])] {
        refused(
            api.call(Method::PATCH, &one, Some(body)).await,
            invalid,
            "No subscription to create.",
        );
    }
    // Nothing Zaqar's storage would set: refused, not answered 204 as if done.
    let id = one.rsplit('/').next().unwrap();
    refused(
        api.call(Method::PATCH, &one, Some(json!({"colour": 1})))
            .await,
        "Unable to update subscription",
        &format!("Subscription {id} could not be updated."),
    );
    for body in [
        json!({}),
        json!({"confirmed": "yes"}),
        json!({"confirmed": 1}),
    ] {
        refused(
            api.put(&format!("{one}/confirm"), Some(body)).await,
            invalid,
            "The 'confirmed' should be boolean.",
        );
    }
    let r = api.get(&format!("{base}/nope")).await;
    r.assert_error(404, "Not found");
    assert_eq!(r.json["description"], "Subscription nope does not exist");

    // A TTL of centuries is kept (Zaqar's bound is the year 9999), on every backend.
    let r = api
        .post(
            base,
            json!({"subscriber": "http://127.0.0.1:9/long", "ttl": 9_999_999_999_i64}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let long = format!("{base}/{}", r.json["subscription_id"].as_str().unwrap());
    assert_eq!(api.get(&long).await.json["ttl"], 9_999_999_999_i64);
}

/// Subscribers are unique per queue: a PATCH onto another live subscription's subscriber
/// is a conflict (the store used to answer 503, or on Redis keep both); an expired one
/// gives way.
#[tokio::test]
async fn a_patch_cannot_duplicate_a_subscriber() {
    let s = TestServer::start();
    let api = s.api();
    let base = "/v2/queues/demo/subscriptions";
    let create = |subscriber: &'static str, ttl: i64| {
        let api = &api;
        async move {
            let r = api
                .post(base, json!({"subscriber": subscriber, "ttl": ttl}))
                .await;
            assert_eq!(r.status, 201, "{r:?}");
            format!("{base}/{}", r.json["subscription_id"].as_str().unwrap())
        }
    };
    let a = create("http://127.0.0.1:9/a", 3600).await;
    let b = create("http://127.0.0.1:9/b", 3600).await;
    let r = api
        .call(
            Method::PATCH,
            &a,
            Some(json!({"subscriber": "http://127.0.0.1:9/b"})),
        )
        .await;
    r.assert_error(409, "Resource conflict");
    assert_eq!(
        r.json["description"],
        "Such subscription already exists. Subscriptions are unique by project + queue + subscriber URI."
    );
    assert_eq!(api.get(&a).await.json["subscriber"], "http://127.0.0.1:9/a");
    assert_eq!(api.get(&b).await.json["subscriber"], "http://127.0.0.1:9/b");
    // Its own subscriber again is no conflict.
    let r = api
        .call(
            Method::PATCH,
            &a,
            Some(json!({"subscriber": "http://127.0.0.1:9/a"})),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");

    let c = create("http://127.0.0.1:9/c", 60).await;
    api.call(Method::PATCH, &a, Some(json!({"ttl": 7200})))
        .await;
    api.call(Method::PATCH, &b, Some(json!({"ttl": 7200})))
        .await;
    s.clock.advance(std::time::Duration::from_secs(61));
    let r = api
        .call(
            Method::PATCH,
            &a,
            Some(json!({"subscriber": "http://127.0.0.1:9/c"})),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(api.get(&a).await.json["subscriber"], "http://127.0.0.1:9/c");
    api.get(&c).await.assert_error(404, "Not found");
    let listed = api.get(base).await.json["subscriptions"].clone();
    let mut subscribers: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subscriber"].as_str().unwrap())
        .collect();
    subscribers.sort();
    assert_eq!(
        subscribers,
        ["http://127.0.0.1:9/b", "http://127.0.0.1:9/c"]
    );
}
