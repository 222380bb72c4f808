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

use common::{Api, TestServer};

fn keystone() -> Option<String> {
    let url = std::env::var("ZAQAR_TEST_KEYSTONE").ok();
    if url.is_none() {
        eprintln!("not run: set ZAQAR_TEST_KEYSTONE to a Keystone /v3 URL (tests/run.sh does)");
    }
    url
}

/// A TCP relay to Keystone that counts token validations and can be cut.
struct Relay {
    url: String,
    validations: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
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
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (v, d, o) = (validations.clone(), down.clone(), open.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if d.load(Ordering::SeqCst) {
                    drop(client);
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
            down,
            open,
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
    }
}

/// A user's token, straight from Keystone.
async fn token(keystone: &str, user: &str, project: &str) -> String {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": format!("{user}-pw")}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}},
    }});
    let r = reqwest::Client::new()
        .post(format!("{keystone}/auth/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{user} logs in");
    r.headers()["X-Subject-Token"].to_str().unwrap().to_owned()
}

fn server(relay: &Relay) -> TestServer {
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
    let v: Value = reqwest::Client::new()
        .get(format!("{ks}/projects?name={name}"))
        .header("X-Auth-Token", admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
