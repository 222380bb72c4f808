//! `[auth] strategy = "keystone"` against a real Keystone: `ZAQAR_TEST_KEYSTONE` is its /v3
//! URL, with the users `start_keystone` (tests/lib.sh) creates; tests/run.sh sets it.
//!
//! The server reaches Keystone through a TCP relay of the test's own, which counts the token
//! validations it carries and can be cut, so that the cache and an unreachable Keystone are
//! seen from outside.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use common::{keystone_token as token, Api, TestServer};

fn keystone() -> Option<String> {
    let url = std::env::var("ZAQAR_TEST_KEYSTONE").ok();
    if url.is_none() {
        eprintln!("not run: set ZAQAR_TEST_KEYSTONE to a Keystone /v3 URL (tests/run.sh does)");
    }
    url
}

/// A TCP relay to Keystone that counts token validations and connections, and can be cut
/// (connections refused at once) or frozen (connections accepted, never answered).
struct Relay {
    url: String,
    validations: Arc<AtomicU64>,
    accepted: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    frozen: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(upstream: &str) -> Relay {
        let target = upstream
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v3", listener.local_addr().unwrap());
        let validations = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let frozen = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (v, a, d, f, o) = (
            validations.clone(),
            accepted.clone(),
            down.clone(),
            frozen.clone(),
            open.clone(),
        );
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                a.fetch_add(1, Ordering::SeqCst);
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                if f.load(Ordering::SeqCst) {
                    held.push(client);
                    continue;
                }
                let (target, v) = (target.clone(), v.clone());
                let task = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async move {
                        let mut buf = vec![0u8; 16384];
                        while let Ok(n) = cr.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            let seen = String::from_utf8_lossy(&buf[..n]);
                            let gets = seen.matches("GET /v3/auth/tokens").count();
                            v.fetch_add(gets as u64, Ordering::SeqCst);
                            if sw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    };
                    let down = async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    };
                    tokio::join!(up, down);
                });
                o.lock().unwrap().push(task.abort_handle());
            }
        });
        Relay {
            url,
            validations,
            accepted,
            down,
            frozen,
            open,
        }
    }

    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Keystone stops answering: open connections are dropped, new ones held unanswered.
    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn validations(&self) -> u64 {
        self.validations.load(Ordering::SeqCst)
    }

    /// Keystone becomes unreachable: open connections are dropped, new ones closed at once.
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn mend(&self) {
        self.down.store(false, Ordering::SeqCst);
        self.frozen.store(false, Ordering::SeqCst);
    }
}

fn server(relay: &Relay) -> TestServer {
    server_with(relay, |_| {})
}

fn server_with(relay: &Relay, more: impl FnOnce(&mut zaqar::conf::Config)) -> TestServer {
    let url = relay.url.clone();
    TestServer::start_with(move |c| {
        c.auth.strategy = "keystone".into();
        let k = &mut c.keystone_authtoken;
        k.auth_url = url;
        k.www_authenticate_uri = "http://keystone.example/v3".into();
        k.username = "zaqar".into();
        k.password = zaqar::conf::Secret("zaqar-pw".into());
        k.project_name = "service".into();
        // No catalog endpoint matches: tokens are validated at auth_url, through the relay.
        k.region_name = "only-through-the-relay".into();
        k.http_request_max_retries = 0;
        c.server.admin_mode = true;
        c.pooling.enabled = true;
        c.signed_url.secret_key = zaqar::conf::Secret("signing-key".into());
        more(c);
    })
}

/// A client sending `token` (and, as a spoofer would, any headers it likes).
fn with_token(api: &Api, token: &str) -> Api {
    Api {
        http: reqwest::Client::builder()
            .default_headers(
                [(
                    reqwest::header::HeaderName::from_static("x-auth-token"),
                    token.parse().unwrap(),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .unwrap(),
        ..api.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_decides_the_project_and_the_roles() {
    let Some(ks) = keystone() else { return };
    let relay = Relay::start(&ks).await;
    let s = server(&relay);
    let anon = s.api();

    // No token, a token that is none, a revoked token: 401 naming Keystone.
    let r = anon.get("/v2/queues").await;
    r.assert_error(401, "Unauthorized");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Keystone uri=\"http://keystone.example/v3\"")
    );
    with_token(&anon, "not-a-token")
        .get("/v2/queues")
        .await
        .assert_error(401, "Unauthorized");
    let admin = token(&ks, "admin", "admin").await;
    let revoked = token(&ks, "alice", "demo").await;
    let r = reqwest::Client::new()
        .delete(format!("{ks}/auth/tokens"))
        .header("X-Auth-Token", &admin)
        .header("X-Subject-Token", &revoked)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    with_token(&anon, &revoked)
        .get("/v2/queues")
        .await
        .assert_error(401, "Unauthorized");
    // The versions document needs none.
    assert_eq!(anon.get("/").await.status, 300);

    // alice works in demo whatever project she names.
    let alice = with_token(
        &Api {
            project: "other".into(),
            ..anon.clone()
        },
        &token(&ks, "alice", "demo").await,
    );
    assert_eq!(alice.put("/v2/queues/alices", None).await.status, 201);
    alice
        .post_messages("alices", json!([{"body": "secret"}]))
        .await;
    let listed = alice.get("/v2/queues").await;
    assert_eq!(listed.json["queues"][0]["name"], "alices");

    // bob of project other, sending X-Project-ID of demo: nothing of demo.
    let demo_id = project_id(&ks, &admin, "demo").await;
    let bob = with_token(
        &Api {
            project: demo_id.clone(),
            ..anon.clone()
        },
        &token(&ks, "bob", "other").await,
    );
    assert_eq!(bob.get("/v2/queues").await.json["queues"], json!([]));
    let r = bob.get("/v2/queues/alices/messages?echo=true").await;
    assert!(r.ids().is_empty(), "{r:?}");
    assert_eq!(bob.delete("/v2/queues/alices").await.status, 204);
    assert_eq!(
        alice
            .get("/v2/queues/alices/messages?echo=true")
            .await
            .ids()
            .len(),
        1,
        "bob's delete reached his own project only"
    );

    // X-Roles: admin with a member's token is dropped: 403; an admin's token: 200.
    let spoofed = alice
        .send(
            alice
                .request(Method::GET, "/v2/pools")
                .header("X-Roles", "admin"),
        )
        .await;
    spoofed.assert_error(403, "Not authorized");
    let boss = with_token(&anon, &admin);
    assert_eq!(boss.get("/v2/pools").await.status, 200);

    // A signed URL needs no token: its signature stands for it.
    let url = alice
        .post("/v2/queues/alices/share", json!({"methods": ["GET"]}))
        .await
        .json;
    let holder = Api {
        project: url["project"].as_str().unwrap().to_owned(),
        ..anon.clone()
    };
    let signed = holder
        .request(Method::GET, "/v2/queues/alices/messages?echo=true")
        .header("URL-Signature", url["signature"].as_str().unwrap())
        .header("URL-Expires", url["expires"].as_str().unwrap())
        .header("URL-Methods", "GET")
        .header("URL-Paths", url["paths"][0].as_str().unwrap());
    let r = anon.send(signed).await;
    assert_eq!(r.ids().len(), 1, "{r:?}");
}

async fn project_id(ks: &str, admin: &str, name: &str) -> String {
    let (_, v) = keystone_get(ks, admin, &format!("/projects?name={name}")).await;
    v["projects"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validations_are_cached_and_an_unreachable_keystone_is_503() {
    let Some(ks) = keystone() else { return };
    let relay = Relay::start(&ks).await;
    let s = server(&relay);
    let alice = with_token(&s.api(), &token(&ks, "alice", "demo").await);
    assert_eq!(alice.get("/v2/queues").await.status, 200);
    let after_first = relay.validations();
    assert!(after_first >= 1, "the first request asked Keystone");
    for _ in 0..5 {
        assert_eq!(alice.get("/v2/queues").await.status, 200);
    }
    assert_eq!(relay.validations(), after_first, "the cache answered");

    // Keystone gone: a token the cache knows still works, a new one is 503, never a pass.
    let bob = with_token(&s.api(), &token(&ks, "bob", "other").await);
    relay.cut();
    assert_eq!(alice.get("/v2/queues").await.status, 200);
    let r = bob.get("/v2/queues").await;
    r.assert_error(503, "Service Unavailable");
    assert!(r.text.contains("Keystone"), "{r:?}");
    // Back: served again, without a restart.
    relay.mend();
    assert_eq!(bob.get("/v2/queues").await.status, 200);
}

/// What Keystone holds: `GET path` with the admin's token (status, body).
async fn keystone_get(ks: &str, admin: &str, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{ks}{path}"))
        .header("X-Auth-Token", admin)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A token of user `name`, made a member of demo here if it is not one yet.
async fn member_of_demo(ks: &str, admin: &str, name: &str) -> String {
    let http = reqwest::Client::new();
    let user =
        json!({"user": {"name": name, "domain_id": "default", "password": format!("{name}-pw")}});
    let r = http
        .post(format!("{ks}/users"))
        .header("X-Auth-Token", admin)
        .json(&user)
        .send()
        .await
        .unwrap();
    assert!([201, 409].contains(&r.status().as_u16()), "{r:?}");
    let (_, roles) = keystone_get(ks, admin, "/roles?name=member").await;
    let role = roles["roles"][0]["id"].as_str().unwrap().to_owned();
    let (project, user) = (
        project_id(ks, admin, "demo").await,
        user_id(ks, admin, name).await,
    );
    let r = http
        .put(format!("{ks}/projects/{project}/users/{user}/roles/{role}"))
        .header("X-Auth-Token", admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    token(ks, name, "demo").await
}

async fn user_id(ks: &str, admin: &str, name: &str) -> String {
    let (_, v) = keystone_get(ks, admin, &format!("/users?name={name}")).await;
    v["users"][0]["id"].as_str().unwrap().to_owned()
}

/// Seconds from now to a Keystone `expires_at`.
fn seconds_until(at: &Value) -> i64 {
    let at = time::OffsetDateTime::parse(
        at.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    (at - time::OffsetDateTime::now_utc()).whole_seconds()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_refused_even_after_the_cache_held_it() {
    let Some(ks) = keystone() else { return };
    let relay = Relay::start(&ks).await;
    let s = server(&relay);
    let admin = token(&ks, "admin", "admin").await;
    let alice_id = user_id(&ks, &admin, "alice").await;
    // A token from an application credential ends when the credential does: 4 s from now.
    let alices = token(&ks, "alice", "demo").await;
    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(4);
    let r = reqwest::Client::new()
        .post(format!("{ks}/users/{alice_id}/application_credentials"))
        .header("X-Auth-Token", &alices)
        .json(&json!({"application_credential": {
            "name": format!("short-lived-{}", expires.unix_timestamp_nanos()),
            "expires_at": expires
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let cred: Value = r.json().await.unwrap();
    let cred = &cred["application_credential"];
    let r = reqwest::Client::new()
        .post(format!("{ks}/auth/tokens"))
        .json(&json!({"auth": {"identity": {
            "methods": ["application_credential"],
            "application_credential": {"id": cred["id"], "secret": cred["secret"]},
        }}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let short = r.headers()["X-Subject-Token"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert!(seconds_until(&body["token"]["expires_at"]) <= 4, "{body}");

    // Valid now, and cached (token_cache_time is 300 s).
    let api = with_token(&s.api(), &short);
    assert_eq!(api.get("/v2/queues").await.status, 200);
    // Until Keystone itself says it is over...
    let over = async {
        loop {
            let r = reqwest::Client::new()
                .get(format!("{ks}/auth/tokens"))
                .header("X-Auth-Token", &admin)
                .header("X-Subject-Token", &short)
                .send()
                .await
                .unwrap();
            if r.status() == 404 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), over)
        .await
        .expect("Keystone lets the token expire");
    // ...then the server refuses it too: its cache kept it no longer than its expiry.
    api.get("/v2/queues")
        .await
        .assert_error(401, "Unauthorized");
}

/// A keystone-mode server whose `[trustee]` is the zaqar service user.
fn trusting_server(relay: &Relay) -> TestServer {
    let url = relay.url.clone();
    server_with(relay, move |c| {
        let t = &mut c.trustee;
        t.auth_url = url;
        t.username = "zaqar".into();
        t.user_domain_id = "default".into();
        t.password = zaqar::conf::Secret("zaqar-pw".into());
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trust_subscriber_gets_a_trust_that_goes_with_it() {
    let Some(ks) = keystone() else { return };
    let relay = Relay::start(&ks).await;
    let admin = token(&ks, "admin", "admin").await;
    let alice_id = user_id(&ks, &admin, "alice").await;
    let zaqar_id = user_id(&ks, &admin, "zaqar").await;
    let demo_id = project_id(&ks, &admin, "demo").await;
    let alices_trusts = || async {
        let (_, v) = keystone_get(
            &ks,
            &admin,
            &format!("/OS-TRUST/trusts?trustor_user_id={alice_id}"),
        )
        .await;
        let mut ids: Vec<String> = v["trusts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let before = alices_trusts().await;
    let alice_token = token(&ks, "alice", "demo").await;

    // Without a [trustee], trust subscribers are refused, and plain ones work.
    let plain_server = server(&relay);
    let alice = with_token(&plain_server.api(), &alice_token);
    let r = alice
        .post(
            "/v2/queues/subs/subscriptions",
            json!({"subscriber": "trust+http://example.com/hook"}),
        )
        .await;
    r.assert_error(400, "Invalid API request");
    assert!(r.text.contains("[trustee]"), "{r:?}");
    drop(plain_server);

    let s = trusting_server(&relay);
    let alice = with_token(&s.api(), &alice_token);
    let sub = json!({"subscriber": "trust+http://example.com/hook", "ttl": 600});
    let r = alice
        .post("/v2/queues/subs/subscriptions", sub.clone())
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json["subscription_id"].as_str().unwrap().to_owned();
    let path = format!("/v2/queues/subs/subscriptions/{id}");
    let shown = alice.get(&path).await.json;
    let trust = shown["options"]["trust_id"].as_str().unwrap().to_owned();
    let (status, t) = keystone_get(&ks, &admin, &format!("/OS-TRUST/trusts/{trust}")).await;
    assert_eq!(status, 200, "{t}");
    let t = &t["trust"];
    assert_eq!(t["trustor_user_id"], json!(alice_id));
    assert_eq!(t["trustee_user_id"], json!(zaqar_id));
    assert_eq!(t["project_id"], json!(demo_id));
    assert_eq!(t["impersonation"], json!(true));
    let roles: Vec<&str> = t["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"member"), "{roles:?}");
    let left = seconds_until(&t["expires_at"]);
    assert!(
        (540..=600).contains(&left),
        "expires with the subscription: {left}"
    );

    // Subscribing the same subscriber again answers the same subscription, and makes no
    // second trust.
    let r = alice
        .post("/v2/queues/subs/subscriptions", sub.clone())
        .await;
    assert_eq!(r.json["subscription_id"], json!(id));
    let mut expected = before.clone();
    expected.push(trust.clone());
    expected.sort();
    assert_eq!(alices_trusts().await, expected);

    // The server owns trust_id, and the subscriber stays a trust subscriber.
    let mut named = sub.clone();
    named["subscriber"] = json!("trust+http://example.com/other");
    named["options"] = json!({"trust_id": "someone-elses"});
    alice
        .post("/v2/queues/subs/subscriptions", named)
        .await
        .assert_error(400, "Invalid API request");
    let patch = |body: Value| alice.call(Method::PATCH, &path, Some(body));
    patch(json!({"options": {"trust_id": "someone-elses"}}))
        .await
        .assert_error(400, "Invalid API request");
    patch(json!({"subscriber": "http://example.com/plain"}))
        .await
        .assert_error(400, "Invalid API request");
    assert_eq!(patch(json!({"options": {"a": 1}})).await.status, 204);
    let shown = alice.get(&path).await.json;
    assert_eq!(shown["options"], json!({"a": 1, "trust_id": trust}));

    // bob of another project sees nothing of it.
    let bob = with_token(
        &Api {
            project: demo_id.clone(),
            ..s.api()
        },
        &token(&ks, "bob", "other").await,
    );
    assert_eq!(bob.get(&path).await.status, 404);
    let listed = bob.get("/v2/queues/subs/subscriptions").await.json;
    assert_eq!(listed["subscriptions"], json!([]), "{listed}");

    // A new TTL: a new trust expiring with it, the old one gone.
    assert_eq!(patch(json!({"ttl": 1200})).await.status, 204);
    let renewed = alice.get(&path).await.json["options"]["trust_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(renewed, trust);
    let path_of = |t: &str| format!("/OS-TRUST/trusts/{t}");
    assert_eq!(keystone_get(&ks, &admin, &path_of(&trust)).await.0, 404);
    let (_, t) = keystone_get(&ks, &admin, &path_of(&renewed)).await;
    assert!((1140..=1200).contains(&seconds_until(&t["trust"]["expires_at"])));

    // Deleted with the subscription, also by a user of the project who is not the trustor
    // (carol, a member of demo: the service user deletes the trust for her).
    let carol = with_token(&s.api(), &member_of_demo(&ks, &admin, "carol").await);
    assert_eq!(carol.delete(&path).await.status, 204);
    assert_eq!(keystone_get(&ks, &admin, &path_of(&renewed)).await.0, 404);

    // And with its queue.
    let r = alice
        .post("/v2/queues/subs/subscriptions", sub.clone())
        .await;
    let path = format!(
        "/v2/queues/subs/subscriptions/{}",
        r.json["subscription_id"].as_str().unwrap()
    );
    let third = alice.get(&path).await.json["options"]["trust_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(keystone_get(&ks, &admin, &path_of(&third)).await.0, 200);
    assert_eq!(alice.delete("/v2/queues/subs").await.status, 204);
    assert_eq!(keystone_get(&ks, &admin, &path_of(&third)).await.0, 404);
    assert_eq!(alices_trusts().await, before);

    // Keystone unreachable: 503, and no subscription without its trust.
    relay.cut();
    let r = alice
        .post("/v2/queues/subs/subscriptions", sub.clone())
        .await;
    r.assert_error(503, "Service Unavailable");
    relay.mend();
    let listed = alice.get("/v2/queues/subs/subscriptions").await.json;
    assert_eq!(listed["subscriptions"], json!([]), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keystone_that_does_not_answer_costs_one_timeout_not_one_per_request() {
    let Some(ks) = keystone() else { return };
    let relay = Relay::start(&ks).await;
    let s = server_with(&relay, |c| c.keystone_authtoken.http_request_timeout = 1);
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(token(&ks, "alice", "demo").await);
    }
    let first = with_token(&s.api(), &tokens[0]);
    assert_eq!(first.get("/v2/queues").await.status, 200);

    relay.freeze();
    // The first new token waits for the timeout: 503.
    with_token(&s.api(), &tokens[1])
        .get("/v2/queues")
        .await
        .assert_error(503, "Service Unavailable");
    // Six at once: one of them tries Keystone, the others fail without trying.
    let before = relay.accepted();
    let api = s.api();
    let answers = futures_util::future::join_all(
        tokens[2..]
            .iter()
            .map(|t| async { with_token(&api, t).get("/v2/queues").await.status }),
    )
    .await;
    assert_eq!(answers, [503; 6]);
    let tried = relay.accepted() - before;
    assert!(
        tried <= 1,
        "{tried} connections to a Keystone that does not answer"
    );
    // A cached token is served meanwhile.
    assert_eq!(first.get("/v2/queues").await.status, 200);

    relay.mend();
    assert_eq!(
        with_token(&s.api(), &tokens[2])
            .get("/v2/queues")
            .await
            .status,
        200,
        "back without a restart"
    );
}
