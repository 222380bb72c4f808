//! Several servers, one database, as users scale out: two `zaqar-server` processes on the same
//! store (the one in `ZAQAR_TEST_MESSAGE_STORE`, else one SQLite file), consumers claiming
//! through one server and deleting through the other. No message may reach two live claims.

mod common;

use serde_json::json;

use common::process::{signal, start};
use common::{claim_and_delete_all, Api, Deliveries};

const MESSAGES: usize = 600;
const CLAIMERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::env::var("ZAQAR_TEST_MESSAGE_STORE")
        .unwrap_or_else(|_| format!("sqlite://{}/shared.db", dir.path().display()));
    let conf = dir.path().join("zaqar.toml");
    std::fs::write(&conf, format!("[storage]\nmessage_store = \"{store}\"\n")).unwrap();
    let conf = conf.to_str().unwrap();
    let mut servers = [
        start(dir.path(), &["--config", conf, "--bind", "127.0.0.1:0"]),
        start(dir.path(), &["--config", conf, "--bind", "127.0.0.1:0"]),
    ];
    let project = format!("scale-{}", uuid::Uuid::new_v4().simple());
    let api = |url: &str| Api {
        http: common::client(),
        base: url.to_owned(),
        project: project.clone(),
        client_id: uuid::Uuid::new_v4().to_string(),
    };
    let (a, b) = (api(&servers[0].url), api(&servers[1].url));

    // Producers on both servers: per-queue order holds across them.
    let mut posted = Vec::new();
    for batch in 0..MESSAGES / 20 {
        let producer = if batch % 2 == 0 { &a } else { &b };
        let msgs: Vec<_> = (0..20).map(|i| json!({"body": batch * 20 + i})).collect();
        posted.extend(producer.post_messages("work", json!(msgs)).await);
    }
    let listed = a
        .get("/v2/queues/work/messages?echo=true&limit=20")
        .await
        .ids();
    assert_eq!(listed, posted[..20].to_vec(), "FIFO across servers");

    let deliveries = Deliveries::default();
    let mut tasks = Vec::new();
    for n in 0..CLAIMERS {
        // Claim through one server, delete through the other.
        let (claim_via, delete_via) = if n % 2 == 0 {
            (a.other_client(), b.clone())
        } else {
            (b.other_client(), a.clone())
        };
        tasks.push(tokio::spawn(claim_and_delete_all(
            claim_via,
            delete_via,
            "work",
            deliveries.clone(),
        )));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, MESSAGES);
    assert_eq!(deliveries.lock().unwrap().len(), MESSAGES);
    for api in [&a, &b] {
        assert_eq!(
            api.stats("work").await,
            json!({"claimed": 0, "free": 0, "total": 0})
        );
    }
    for server in &mut servers {
        signal(&server.child, "-TERM");
        assert!(server.child.wait().unwrap().success());
    }
}
