//! Bad input to the admin API (pools, flavors): each refused with a 4xx and a Zaqar error
//! body, and nothing registered. The server keeps its catalog in a file of its own: with
//! `ZAQAR_TEST_MESSAGE_STORE` the default catalog is the shared database, and a pool
//! registered there would be listed (so opened) by every other test's server, down to the
//! moment this test's temporary directory, the pool's file in it, is deleted.

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Api, Resp, TestServer};

async fn admin(api: &Api, method: Method, path: &str, body: Option<&str>) -> Resp {
    let mut rb = api.request(method, path).header("X-Roles", "admin");
    if let Some(b) = body {
        rb = rb
            .header("Content-Type", "application/json")
            .body(b.to_owned());
    }
    api.send(rb).await
}

/// A Zaqar error body with this status and title, and a description that contains `says`.
fn refused(r: &Resp, status: u16, title: &str, says: &str) {
    r.assert_error(status, title);
    let description = r.json["description"].as_str().unwrap_or_default();
    assert!(
        !description.is_empty() && description.contains(says),
        "{r:?}"
    );
}

#[tokio::test]
async fn bad_pool_and_flavor_definitions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(|c| {
        c.server.admin_mode = true;
        c.pooling.enabled = true;
        c.storage.management_store = format!("sqlite://{}/catalog.db", dir.path().display());
    });
    let api = s.api();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (p1, f1) = (format!("/v2/pools/p{tag}"), format!("/v2/flavors/f{tag}"));
    let uri = format!("sqlite://{}/p.db", dir.path().display());
    let put = |body: Value| body.to_string();

    let r = admin(&api, Method::PUT, &p1, Some(&put(json!({"uri": uri})))).await;
    refused(&r, 400, "Invalid request body", "weight");
    let r = admin(
        &api,
        Method::PUT,
        &p1,
        Some(&put(json!({"uri": uri, "weight": "x"}))),
    )
    .await;
    refused(&r, 400, "Invalid request body", "invalid type");
    let r = admin(
        &api,
        Method::PUT,
        &p1,
        Some(&put(json!({"uri": uri, "weight": 0, "colour": 1}))),
    )
    .await;
    refused(&r, 400, "Invalid request body", "colour");
    let r = admin(&api, Method::PUT, &p1, Some("{not json")).await;
    refused(&r, 400, "Invalid request body", "JSON could not be parsed.");
    let r = admin(
        &api,
        Method::PUT,
        &p1,
        Some(&put(json!({"uri": "mysql://db/x", "weight": 0}))),
    )
    .await;
    refused(&r, 400, "Invalid request body", "unsupported pool uri");
    let r = admin(
        &api,
        Method::PUT,
        "/v2/pools/default",
        Some(&put(json!({"uri": uri, "weight": 0}))),
    )
    .await;
    refused(&r, 400, "Invalid request body", "reserved");
    let r = admin(
        &api,
        Method::PUT,
        "/v2/pools/bad%20name",
        Some(&put(json!({"uri": uri, "weight": 0}))),
    )
    .await;
    refused(&r, 400, "Invalid queue identification", "format");
    let r = admin(
        &api,
        Method::PUT,
        &p1,
        Some(&put(json!({"uri": uri, "weight": 0, "flavor": "nope"}))),
    )
    .await;
    refused(&r, 404, "Not found", "Flavor nope does not exist");
    // Nothing was registered.
    admin(&api, Method::GET, &p1, None)
        .await
        .assert_error(404, "Not found");

    let r = admin(
        &api,
        Method::PUT,
        &p1,
        Some(&put(json!({"uri": uri, "weight": 0}))),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let other = format!("sqlite://{}/q.db", dir.path().display());
    let r = admin(
        &api,
        Method::PUT,
        &p1,
        Some(&put(json!({"uri": other, "weight": 0}))),
    )
    .await;
    refused(&r, 409, "Conflict", "cannot change");
    for body in ["{}", r#"{"colour": 1}"#] {
        let r = admin(&api, Method::PATCH, &p1, Some(body)).await;
        refused(
            &r,
            400,
            "Invalid request body",
            "One of `uri`, `weight`, `flavor`, or `options` needs to be specified",
        );
    }
    let r = admin(
        &api,
        Method::PATCH,
        "/v2/pools/nope",
        Some(&put(json!({"weight": 2}))),
    )
    .await;
    refused(&r, 404, "Not found", "Pool nope does not exist");

    let r = admin(
        &api,
        Method::PUT,
        &f1,
        Some(&put(json!({"capabilities": {}}))),
    )
    .await;
    refused(&r, 400, "Invalid request body", "pool_list");
    let r = admin(
        &api,
        Method::PUT,
        &f1,
        Some(&put(json!({"pool_list": ["nope"]}))),
    )
    .await;
    refused(
        &r,
        400,
        "Unable to create",
        &format!("Flavor f{tag} could not be created, error:Pool nope does not exist"),
    );
    let r = admin(&api, Method::PUT, &f1, Some(&put(json!({"pool_list": []})))).await;
    refused(&r, 400, "Unable to create", "Bad Request");
    // A PATCH must name the pool list (capabilities come from the pools, as in Zaqar).
    for body in ["{}", r#"{"capabilities": {"x": 1}}"#] {
        let r = admin(&api, Method::PATCH, &f1, Some(body)).await;
        refused(
            &r,
            400,
            "Invalid request body",
            "`pool_list` needs to be specified",
        );
    }
    admin(&api, Method::GET, &f1, None)
        .await
        .assert_error(404, "Not found");
    for listing in ["/v2/pools?limit=0", "/v2/flavors?limit=21"] {
        let r = admin(&api, Method::GET, listing, None).await;
        refused(
            &r,
            400,
            "Invalid API request",
            "Limit must be at least 1 and no greater than 20.",
        );
    }

    // Without the admin role, every admin resource is refused, but flavors can be read
    // (Zaqar's policy leaves flavors:get_all and flavors:get unprotected).
    for (method, path) in [
        (Method::GET, "/v2/pools"),
        (Method::GET, p1.as_str()),
        (Method::DELETE, p1.as_str()),
        (Method::PUT, f1.as_str()),
        (Method::PATCH, f1.as_str()),
        (Method::DELETE, f1.as_str()),
    ] {
        api.call(method, path, Some(json!({"pool_list": []})))
            .await
            .assert_error(403, "Not authorized");
    }
    let r = api.get("/v2/flavors").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json["flavors"].is_array(), "{r:?}");
    api.get(&f1).await.assert_error(404, "Not found");
    let r = admin(&api, Method::DELETE, &p1, None).await;
    assert_eq!(r.status, 204, "{r:?}");
}
