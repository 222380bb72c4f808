//! Pre-signed URLs as Zaqar 23 makes and serves them (answers recorded side by side with
//! the Zaqar peer): `POST /v2/queues/{q}/share`, and requests carrying the signature
//! admitted for exactly the paths and methods signed, until they expire.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::common::{Api, Resp, TestServer};

const KEY: &str = "notreallysecret";

fn server() -> TestServer {
    TestServer::start_with(|c| c.signed_url.secret_key = zaqar::conf::Secret(KEY.into()))
}

/// The headers python-zaqarclient's `signed-url` backend sends for a signed URL.
fn signed(api: &Api, method: Method, path: &str, url: &Value) -> reqwest::RequestBuilder {
    let join = |k: &str| {
        url[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect::<Vec<_>>()
            .join(",")
    };
    api.request(method, path)
        .header("URL-Signature", url["signature"].as_str().unwrap())
        .header("URL-Expires", url["expires"].as_str().unwrap())
        .header("URL-Methods", join("methods"))
        .header("URL-Paths", join("paths"))
}

async fn share(api: &Api, queue: &str, body: Value) -> Resp {
    api.post(&format!("/v2/queues/{queue}/share"), body).await
}

#[tokio::test]
async fn share_answers_a_signed_url_as_zaqar_does() {
    let s = server();
    let api = s.api();
    let r = share(&api, "shq", json!({})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["paths"], json!(["/v2/queues/shq/messages"]));
    assert_eq!(r.json["methods"], json!(["GET"]));
    assert_eq!(r.json["project"], api.project.as_str());
    let keys: Vec<&String> = r.json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["paths", "methods", "project", "expires", "signature"]
    );

    let r = share(
        &api,
        "shq",
        json!({"paths": ["messages", "claims"], "methods": ["POST", "GET"], "expires": "2099-01-01T00:00:00+01:00"}),
    )
    .await;
    assert_eq!(
        r.json["paths"],
        json!(["/v2/queues/shq/claims", "/v2/queues/shq/messages"])
    );
    assert_eq!(r.json["methods"], json!(["GET", "POST"]));
    assert_eq!(r.json["expires"], "2098-12-31T23:00:00");

    for (body, text) in [
        (json!({"project_id": "x"}), "Unknown keys: {'project_id'}"),
        (json!({"paths": ["bogus"]}), "Invalid paths: {'bogus'}"),
        (json!({"paths": [1]}), "Invalid paths: {1}"),
        (
            json!({"expires": "12345"}),
            "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: 12345",
        ),
        (
            json!({"expires": 5.7}),
            "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: 5",
        ),
        (
            json!({"expires": "2000-01-01T00:00:00"}),
            "`expires` is lower than the current time",
        ),
        (json!({"expires": "soon"}), "Unable to parse date string 'soon'"),
        (json!({"methods": "GET"}), "`methods` should be a list"),
        // Zaqar answers these two 500 (it sorts a mixed list); ours say what is wrong.
        (
            json!({"methods": [1, "GET"]}),
            "`methods` should be a list of strings",
        ),
    ] {
        let r = share(&api, "shq", body.clone()).await;
        r.assert_error(400, "Invalid API request");
        assert_eq!(r.json["description"], text, "{body}");
    }
    let r = api
        .send(
            api.request(Method::POST, "/v2/queues/shq/share")
                .header("Content-Type", "application/json")
                .body("5"),
        )
        .await;
    r.assert_error(400, "Invalid request body");
    assert_eq!(r.json["description"], "Request body could not be parsed.");
    let r = share(&api, "shq", json!([])).await;
    r.assert_error(400, "Invalid request body");
    assert_eq!(r.json["description"], "Document type not supported.");
}

#[tokio::test]
async fn without_a_key_nothing_is_signed_or_admitted() {
    let s = TestServer::start();
    let api = s.api();
    let r = share(&api, "q", json!({})).await;
    r.assert_error(400, "Invalid API request");
    assert_eq!(r.json["description"], "The `key` can't be None");
    let forged = json!({"signature": "00", "expires": "2099-01-01T00:00:00",
                        "methods": ["GET"], "paths": ["/v2/queues/q/messages"]});
    let r = api
        .send(signed(&api, Method::GET, "/v2/queues/q/messages", &forged))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json, json!({"title": "404 Not Found"}));
}

#[tokio::test]
async fn a_signed_url_admits_exactly_what_it_signs_until_it_expires() {
    let s = server();
    let api = s.api();
    let url = share(
        &api,
        "shq",
        json!({"paths": ["messages"], "methods": ["GET", "POST"], "expires": "2099-01-01T00:00:00"}),
    )
    .await
    .json;

    let post = signed(&api, Method::POST, "/v2/queues/shq/messages", &url)
        .json(&json!({"messages": [{"body": 1}]}));
    let r = api.send(post).await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json["resources"][0]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let r = api
        .send(signed(
            &api,
            Method::GET,
            "/v2/queues/shq/messages?echo=true",
            &url,
        ))
        .await;
    assert_eq!(r.ids(), std::slice::from_ref(&id));
    // A pattern, as in Zaqar: the messages path admits one message's path too.
    let one = format!("/v2/queues/shq/messages/{id}");
    assert_eq!(
        api.send(signed(&api, Method::GET, &one, &url)).await.status,
        200
    );

    let refused = |rb: reqwest::RequestBuilder| {
        let api = api.clone();
        async move {
            let r = api.send(rb).await;
            assert_eq!(r.status, 404, "{r:?}");
            assert_eq!(r.json, json!({"title": "404 Not Found"}));
        }
    };
    // A method not signed, a path not signed, a signature changed, another project, an
    // expiry changed, and no expiry.
    refused(signed(&api, Method::DELETE, &one, &url)).await;
    refused(signed(&api, Method::GET, "/v2/queues/shq/claims/x", &url)).await;
    let mut tampered = url.clone();
    let sig = url["signature"].as_str().unwrap();
    let flipped = if sig.ends_with('0') { "1" } else { "0" };
    tampered["signature"] = json!(format!("{}{flipped}", &sig[..sig.len() - 1]));
    refused(signed(
        &api,
        Method::GET,
        "/v2/queues/shq/messages",
        &tampered,
    ))
    .await;
    let other = Api {
        project: "someone-else".into(),
        ..api.clone()
    };
    refused(signed(&other, Method::GET, "/v2/queues/shq/messages", &url)).await;
    let mut later = url.clone();
    later["expires"] = json!("2099-01-02T00:00:00");
    refused(signed(&api, Method::GET, "/v2/queues/shq/messages", &later)).await;
    refused(
        api.request(Method::GET, "/v2/queues/shq/messages")
            .header("URL-Signature", sig),
    )
    .await;
    refused(api.request(Method::GET, "/").header("URL-Signature", sig)).await;

    // Short-lived: admitted, then refused once the server's clock passes its expiry.
    let soon = share(&api, "shq", json!({"expires": expires_in(&s, 60)}))
        .await
        .json;
    let get = || {
        signed(
            &api,
            Method::GET,
            "/v2/queues/shq/messages?echo=true",
            &soon,
        )
    };
    assert_eq!(api.send(get()).await.status, 200);
    s.clock.advance(Duration::from_secs(61));
    refused(get()).await;
}

/// An ISO 8601 time `secs` ahead of the server's clock.
fn expires_in(s: &TestServer, secs: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(s.clock.now_ms() / 1000 + secs).unwrap();
    at.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]"
    ))
    .unwrap()
}
