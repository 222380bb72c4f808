//! CORS as Zaqar (oslo.middleware's CORS with Zaqar's defaults) answers it, compared side by
//! side with the Zaqar peer configured with `[cors] allowed_origin = http://a.example`.

use reqwest::Method;

use crate::common::{Api, Resp, TestServer};

fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.cors.allowed_origin = zaqar::conf::List(vec!["http://a.example".into()])
    })
}

async fn preflight(api: &Api, origin: &str, method: &str, headers: Option<&str>) -> Resp {
    let mut rb = api
        .http
        .request(
            Method::OPTIONS,
            format!("{}/v2/queues/q/messages", api.base),
        )
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method);
    if let Some(h) = headers {
        rb = rb.header("Access-Control-Request-Headers", h);
    }
    api.send(rb).await
}

const CORS_HEADERS: [&str; 7] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-max-age",
    "access-control-expose-headers",
    "vary",
];

fn assert_no_cors(r: &Resp) {
    for h in CORS_HEADERS {
        assert!(r.header(h).is_none(), "{h} on {r:?}");
    }
}

#[tokio::test]
async fn a_preflight_is_answered_for_what_is_allowed() {
    let s = server();
    let api = s.api();
    let r = preflight(
        &api,
        "http://a.example",
        "POST",
        Some("client-id,x-auth-token"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("client-id,x-auth-token")
    );
    assert_eq!(r.header("access-control-max-age"), Some("3600"));
    assert_eq!(r.header("vary"), Some("Origin"));

    // Each answered 200 with no CORS header: a header not allowed (Zaqar's defaults do not
    // list X-Project-ID), a method not allowed, another origin, no requested method.
    for r in [
        preflight(
            &api,
            "http://a.example",
            "POST",
            Some("Client-ID, X-Project-ID"),
        )
        .await,
        preflight(&api, "http://a.example", "TRACE", None).await,
        preflight(&api, "http://b.example", "GET", None).await,
    ] {
        assert_eq!(r.status, 200, "{r:?}");
        assert_no_cors(&r);
    }
    let bare = api
        .send(
            api.http
                .request(Method::OPTIONS, format!("{}/nowhere", api.base)),
        )
        .await;
    assert_eq!(bare.status, 200, "every OPTIONS is answered, as Zaqar's");
    assert_no_cors(&bare);
}

#[tokio::test]
async fn requests_from_an_allowed_origin_get_its_headers() {
    let s = server();
    let api = s.api();
    let from = |origin: &str| {
        api.request(Method::GET, "/v2/queues")
            .header("Origin", origin)
    };
    let r = api.send(from("http://a.example")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("X-Auth-Token,X-Subject-Token,X-Service-Token,X-OpenStack-Request-ID")
    );
    assert_eq!(r.header("vary"), Some("Origin"));
    assert_no_cors(&api.send(from("http://b.example")).await);

    // An error answer too, its Vary extended.
    let r = api
        .send(
            api.http
                .get(format!("{}/v2/queues", api.base))
                .header("Origin", "http://a.example"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("vary"), Some("Accept,Origin"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://a.example")
    );
}

#[tokio::test]
async fn without_allowed_origins_no_request_gets_cors_headers() {
    let s = TestServer::start();
    let api = s.api();
    assert_no_cors(&preflight(&api, "http://a.example", "GET", None).await);
    let r = api
        .send(
            api.request(Method::GET, "/v2/queues")
                .header("Origin", "http://a.example"),
        )
        .await;
    assert_no_cors(&r);
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_wildcard_allows_every_origin_as_star() {
    let s = TestServer::start_with(|c| c.cors.allowed_origin = zaqar::conf::List(vec!["*".into()]));
    let api = s.api();
    let r = api
        .send(
            api.request(Method::GET, "/v2/queues")
                .header("Origin", "http://any.example"),
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}
