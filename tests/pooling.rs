//! Pooling: pools of different backends in one server, placement by weight and by flavor,
//! one catalog shared by server processes and kept across restarts, pool deletion rules,
//! and a pool that goes down while the others keep serving.
//!
//! Needs the real backends: `ZAQAR_TEST_REDIS_URI` and `ZAQAR_TEST_MONGO_URI` (and
//! `ZAQAR_TEST_REDIS_SERVER` to start a Redis it can stop); tests/run.sh sets them.
//! `ZAQAR_TEST_MANAGEMENT_STORE` puts the catalog in that store (run.sh runs this file once
//! per backend); unset, it is a SQLite file of each test. Tests sharing one management
//! store see each other's pools, so run.sh runs them one at a time
//! (`--test-threads=1`), each with pools of its own names, removed at the end.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};
use zaqar_actors::control::ControlStore;
use zaqar_actors::model::{ListFilter, QueueId};
use zaqar_actors::storage::open::{open, OpenOptions};
use zaqar_actors::DataStore;

use common::{process, Api, Resp, TestServer};

struct Backends {
    redis: String,
    mongo: String,
}

fn backends() -> Option<Backends> {
    match (
        std::env::var("ZAQAR_TEST_REDIS_URI"),
        std::env::var("ZAQAR_TEST_MONGO_URI"),
    ) {
        (Ok(redis), Ok(mongo)) => Some(Backends { redis, mongo }),
        _ => {
            eprintln!(
                "not run: set ZAQAR_TEST_REDIS_URI and ZAQAR_TEST_MONGO_URI (tests/run.sh does)"
            );
            None
        }
    }
}

/// Where the catalog lives: the store run.sh names, else a SQLite file in `dir`.
fn management(dir: &Path) -> String {
    std::env::var("ZAQAR_TEST_MANAGEMENT_STORE")
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("sqlite://{}/catalog.db", dir.display()))
}

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

fn opts() -> OpenOptions {
    common::store_options()
}

/// The catalog, read directly (not through the server under test).
async fn catalog(uri: &str) -> Arc<dyn ControlStore> {
    open(uri, &opts()).await.unwrap().control.unwrap()
}

/// A pool's store, read directly.
async fn store(uri: &str) -> Arc<dyn DataStore> {
    open(uri, &opts()).await.unwrap().data
}

/// How many messages of the queue a store holds.
async fn held(store: &Arc<dyn DataStore>, queue: &QueueId) -> usize {
    let all = ListFilter {
        echo: true,
        include_claimed: true,
        include_delayed: true,
        client_id: String::new(),
    };
    store
        .list_messages(queue, all, None, 20)
        .await
        .unwrap()
        .len()
}

fn pooled_server(management: &str) -> TestServer {
    TestServer::start_with(|c| {
        c.pooling.enabled = true;
        c.pooling.placement_seed = 42;
        c.server.admin_mode = true;
        c.storage.management_store = management.to_owned();
    })
}

async fn admin(api: &Api, method: Method, path: &str, body: Option<Value>) -> Resp {
    let mut rb = api.request(method, path).header("X-Roles", "admin");
    if let Some(b) = body {
        rb = rb
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    api.send(rb).await
}

async fn register(api: &Api, name: &str, uri: &str, weight: u32) {
    let r = admin(
        api,
        Method::PUT,
        &format!("/v2/pools/{name}"),
        Some(json!({"weight": weight, "uri": uri})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
}

async fn set_weight(api: &Api, name: &str, weight: u32) {
    let r = admin(
        api,
        Method::PATCH,
        &format!("/v2/pools/{name}"),
        Some(json!({ "weight": weight })),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["weight"], weight);
}

async fn remove_pool(api: &Api, name: &str) {
    let r = admin(api, Method::DELETE, &format!("/v2/pools/{name}"), None).await;
    assert_eq!(r.status, 204, "{r:?}");
}

/// Every queue name of the project, page by page through `links`.
async fn all_queue_names(api: &Api) -> Vec<String> {
    let mut names = Vec::new();
    let mut path = "/v2/queues?limit=20".to_owned();
    loop {
        let r = api.get(&path).await;
        assert_eq!(r.status, 200, "{r:?}");
        let page = r.json["queues"].as_array().unwrap();
        if page.is_empty() {
            return names;
        }
        names.extend(page.iter().map(|q| q["name"].as_str().unwrap().to_owned()));
        path = r.json["links"][0]["href"].as_str().unwrap().to_owned();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_backends_share_out_queues_by_weight_and_flavor() {
    let Some(b) = backends() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mgmt = management(dir.path());
    let s = pooled_server(&mgmt);
    let api = s.api();
    let t = tag();
    let (sq, rd, mg) = (format!("sq-{t}"), format!("rd-{t}"), format!("mg-{t}"));
    let sq_uri = format!("sqlite://{}/pool-sq.db", dir.path().display());
    register(&api, &sq, &sq_uri, 7).await;
    register(&api, &rd, &b.redis, 2).await;
    register(&api, &mg, &b.mongo, 1).await;
    let r = admin(
        &api,
        Method::GET,
        &format!("/v2/pools/{rd}?detailed=true"),
        None,
    )
    .await;
    assert_eq!(
        r.json,
        json!({"name": rd, "uri": b.redis, "weight": 2, "flavor": null, "options": {},
               "href": format!("/v2/pools/{rd}")})
    );
    api.get("/v2/pools")
        .await
        .assert_error(403, "Not authorized");

    // Placement follows the weights (7:2:1). The seed is fixed, so this is deterministic;
    // the bounds are three standard deviations, and an unweighted choice (about 67 each)
    // falls outside them.
    let names: Vec<String> = (0..200).map(|i| format!("q{i:03}")).collect();
    for name in &names {
        let r = api.put(&format!("/v2/queues/{name}"), None).await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    let catalog = catalog(&mgmt).await;
    let mut placed: HashMap<String, String> = HashMap::new();
    for name in &names {
        let queue = QueueId::new(api.project.clone(), name.clone());
        let pool = catalog.lookup(&queue).await.unwrap().expect("placed");
        placed.insert(name.clone(), pool);
    }
    let count = |pool: &str| placed.values().filter(|p| *p == pool).count();
    assert!((121..=159).contains(&count(&sq)), "{sq}: {}", count(&sq));
    assert!((23..=57).contains(&count(&rd)), "{rd}: {}", count(&rd));
    assert!((7..=33).contains(&count(&mg)), "{mg}: {}", count(&mg));

    // A queue's messages are all in its pool and in no other.
    let stores = [
        (sq.clone(), store(&sq_uri).await),
        (rd.clone(), store(&b.redis).await),
        (mg.clone(), store(&b.mongo).await),
    ];
    for name in names.iter().step_by(10) {
        api.post_messages(name, json!([{"body": 1}, {"body": 2}, {"body": 3}]))
            .await;
        let queue = QueueId::new(api.project.clone(), name.clone());
        for (pool, store) in &stores {
            let expected = if *pool == placed[name] { 3 } else { 0 };
            assert_eq!(held(store, &queue).await, expected, "{name} in {pool}");
        }
    }

    // Listing merges the pools, in name order, each queue once, across pages.
    assert_eq!(all_queue_names(&api).await, names);

    // A flavor pins queues to its pools.
    let fast = format!("fast-{t}");
    let r = admin(
        &api,
        Method::PUT,
        &format!("/v2/flavors/{fast}"),
        Some(json!({"pool_list": [rd], "capabilities": {}})),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = admin(&api, Method::GET, &format!("/v2/flavors/{fast}"), None).await;
    assert_eq!(r.json["pool_list"], json!([rd]), "{r:?}");
    assert_eq!(
        r.json["capabilities"],
        json!(["FIFO", "CLAIMS", "AOD", "HIGH_THROUGHPUT"])
    );
    // Membership is the pools' `flavor` field, as in Zaqar; a PATCH names every pool.
    let r = admin(&api, Method::GET, &format!("/v2/pools/{rd}"), None).await;
    assert_eq!(r.json["flavor"], fast.as_str(), "{r:?}");
    let r = admin(
        &api,
        Method::PATCH,
        &format!("/v2/flavors/{fast}"),
        Some(json!({"pool_list": [rd, "nope"]})),
    )
    .await;
    r.assert_error(400, "updatefail");
    assert_eq!(
        r.json["description"],
        format!("Flavor {fast} cant be updated, error:Pool nope does not exist")
    );
    let r = admin(
        &api,
        Method::PATCH,
        &format!("/v2/flavors/{fast}"),
        Some(json!({"pool_list": [rd]})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["pool_list"], json!([rd]), "{r:?}");
    for i in 0..10 {
        let name = format!("f{i}");
        let r = api
            .put(
                &format!("/v2/queues/{name}"),
                Some(json!({"_flavor": fast})),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        let queue = QueueId::new(api.project.clone(), name.clone());
        assert_eq!(
            catalog.lookup(&queue).await.unwrap().as_deref(),
            Some(rd.as_str())
        );
        placed.insert(name, rd.clone());
    }
    let r = api
        .put(
            "/v2/queues/nf",
            Some(json!({"_flavor": format!("none-{t}")})),
        )
        .await;
    r.assert_error(400, "Invalid API request");

    // A pool that holds queues cannot be deleted; once they are gone, it can.
    admin(&api, Method::DELETE, &format!("/v2/pools/{rd}"), None)
        .await
        .assert_error(409, "Conflict");
    for (name, _) in placed.iter().filter(|(_, pool)| **pool == rd) {
        assert_eq!(api.delete(&format!("/v2/queues/{name}")).await.status, 204);
    }
    remove_pool(&api, &rd).await;
    admin(&api, Method::GET, &format!("/v2/pools/{rd}"), None)
        .await
        .assert_error(404, "Not found");
    let r = admin(&api, Method::GET, &format!("/v2/flavors/{fast}"), None).await;
    assert_eq!(r.json["pool_list"], json!([]), "{r:?}");

    // A pool that cannot be reached is refused, changes nothing, and breaks nothing.
    let bad = format!("bad-{t}");
    let r = admin(
        &api,
        Method::PUT,
        &format!("/v2/pools/{bad}"),
        Some(json!({"weight": 1, "uri": "redis://:s3cret@127.0.0.1:1/"})),
    )
    .await;
    r.assert_error(400, "Invalid request body");
    assert!(
        r.text
            .contains("cannot connect to redis://:***@127.0.0.1:1/"),
        "{r:?}"
    );
    assert!(!r.text.contains("s3cret"));
    admin(&api, Method::GET, &format!("/v2/pools/{bad}"), None)
        .await
        .assert_error(404, "Not found");
    assert_eq!(api.put("/v2/queues/after-bad", None).await.status, 201);

    let r = admin(&api, Method::GET, "/v2/health", None).await;
    assert_eq!(r.json["catalog_reachable"], true, "{r:?}");
    assert_eq!(r.json["pools"][&sq]["storage_reachable"], true, "{r:?}");
    assert_eq!(r.json["pools"][&mg]["storage_reachable"], true, "{r:?}");

    for name in all_queue_names(&api).await {
        assert_eq!(api.delete(&format!("/v2/queues/{name}")).await.status, 204);
    }
    let r = admin(&api, Method::DELETE, &format!("/v2/flavors/{fast}"), None).await;
    assert_eq!(r.status, 204);
    remove_pool(&api, &sq).await;
    remove_pool(&api, &mg).await;
}

fn server_process(dir: &Path, mgmt: &str) -> process::Server {
    let conf = dir.join("zaqar.toml");
    std::fs::write(
        &conf,
        format!(
            "[server]\nadmin_mode = true\nworkers = 2\n\
             [storage]\nmessage_store = \"sqlite://{}/default.db\"\nmanagement_store = \"{mgmt}\"\ngc_interval = 0\n\
             [pooling]\nenabled = true\n",
            dir.display()
        ),
    )
    .unwrap();
    process::start(
        dir,
        &["--config", conf.to_str().unwrap(), "--bind", "127.0.0.1:0"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_share_one_catalog_and_keep_it_across_restarts() {
    let Some(b) = backends() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mgmt = management(dir.path());
    let a = server_process(dir.path(), &mgmt);
    let b_server = server_process(dir.path(), &mgmt);
    let t = tag();
    let (p1, p2) = (format!("one-{t}"), format!("two-{t}"));
    let p1_uri = format!("sqlite://{}/pool-1.db", dir.path().display());
    let project = format!("proj-{t}");
    let client = |url: &str| Api {
        http: common::client(),
        base: url.to_owned(),
        project: project.clone(),
        client_id: uuid::Uuid::new_v4().to_string(),
    };
    let (api_a, api_b) = (client(&a.url), client(&b_server.url));
    register(&api_a, &p1, &p1_uri, 1).await;
    register(&api_a, &p2, &b.redis, 0).await;

    // Placed by A, found by B.
    assert_eq!(api_a.put("/v2/queues/shared", None).await.status, 201);
    api_b
        .post_messages("shared", json!([{"body": "x"}, {"body": "y"}]))
        .await;
    let r = api_a.get("/v2/queues/shared/messages?echo=true").await;
    assert_eq!(r.json["messages"].as_array().unwrap().len(), 2, "{r:?}");
    let queue = QueueId::new(project.clone(), "shared");
    let catalog = catalog(&mgmt).await;
    assert_eq!(
        catalog.lookup(&queue).await.unwrap().as_deref(),
        Some(p1.as_str())
    );

    // B deletes the queue and re-creates it in the other pool. A still has the old pool in
    // its cache; its post must follow the catalog, not bring the queue back in the old pool.
    assert_eq!(api_b.delete("/v2/queues/shared").await.status, 204);
    set_weight(&api_b, &p1, 0).await;
    set_weight(&api_b, &p2, 1).await;
    assert_eq!(api_b.put("/v2/queues/shared", None).await.status, 201);
    api_a.post_messages("shared", json!([{"body": "z"}])).await;
    assert_eq!(
        catalog.lookup(&queue).await.unwrap().as_deref(),
        Some(p2.as_str())
    );
    let old = store(&p1_uri).await;
    assert_eq!(old.queue_metadata(&queue).await.unwrap(), None);
    assert_eq!(held(&old, &queue).await, 0);
    assert_eq!(held(&store(&b.redis).await, &queue).await, 1);
    let r = api_b.get("/v2/queues/shared/messages?echo=true").await;
    assert_eq!(r.json["messages"][0]["body"], "z", "{r:?}");

    // A restarted server finds the queue where it was placed.
    drop(a);
    let a = server_process(dir.path(), &mgmt);
    let api_a = client(&a.url);
    let r = api_a.get("/v2/queues/shared/messages?echo=true").await;
    assert_eq!(r.json["messages"][0]["body"], "z", "{r:?}");

    assert_eq!(api_a.delete("/v2/queues/shared").await.status, 204);
    remove_pool(&api_a, &p1).await;
    remove_pool(&api_a, &p2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_down_fails_only_its_own_queues() {
    let Some((dir, port, mut redis)) = own_redis() else {
        return;
    };
    let mgmt = management(dir.path());
    let s = TestServer::start_with(|c| {
        c.pooling.enabled = true;
        c.server.admin_mode = true;
        c.storage.management_store = mgmt.clone();
        c.storage.acquire_timeout = 1;
    });
    let api = s.api();
    let t = tag();
    let (pool, flavor) = (format!("down-{t}"), format!("fd-{t}"));
    register(&api, &pool, &format!("redis://127.0.0.1:{port}/0"), 1).await;
    let r = admin(
        &api,
        Method::PUT,
        &format!("/v2/flavors/{flavor}"),
        Some(json!({ "pool_list": [pool] })),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    // `x` lives in the Redis pool (its flavor's), `y` in the default pool (no pool without
    // a flavor is registered).
    let r = api
        .put("/v2/queues/x", Some(json!({ "_flavor": flavor })))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    api.post_messages("x", json!([{"body": 1}])).await;
    api.post_messages("y", json!([{"body": 1}])).await;

    redis.kill().unwrap();
    redis.wait().unwrap();
    api.post("/v2/queues/x/messages", json!({"messages": [{"body": 2}]}))
        .await
        .assert_error(503, "Service temporarily unavailable");
    api.get("/v2/queues/x/stats")
        .await
        .assert_error(503, "Service temporarily unavailable");
    api.post_messages("y", json!([{"body": 2}])).await;
    let r = api.get("/v2/queues/y/messages?echo=true").await;
    assert_eq!(r.json["messages"].as_array().unwrap().len(), 2, "{r:?}");
    let r = admin(&api, Method::GET, "/v2/health", None).await;
    assert_eq!(r.json["pools"][&pool]["storage_reachable"], false, "{r:?}");
    assert_eq!(
        r.json["pools"]["default"]["storage_reachable"], true,
        "{r:?}"
    );

    let binary = common::redis_binary().unwrap();
    let mut redis = common::start_redis(&binary, port, dir.path());
    let mut recovered = false;
    for _ in 0..20 {
        let r = api
            .post("/v2/queues/x/messages", json!({"messages": [{"body": 3}]}))
            .await;
        if r.status == 201 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "the pool did not come back with its backend");

    for q in ["x", "y"] {
        assert_eq!(api.delete(&format!("/v2/queues/{q}")).await.status, 204);
    }
    assert_eq!(
        admin(&api, Method::DELETE, &format!("/v2/flavors/{flavor}"), None)
            .await
            .status,
        204
    );
    remove_pool(&api, &pool).await;
    redis.kill().unwrap();
    redis.wait().unwrap();
}

/// Placing queues in a pool while that pool is being deleted: whatever the interleaving,
/// a deleted pool is left with no queue in the catalog, and a placement into it either
/// happened before (and then the deletion was refused) or failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn placement_and_pool_deletion_exclude_each_other() {
    use zaqar_actors::control::{Pool, PoolDeletion};
    use zaqar_actors::StorageError;
    let dir = tempfile::tempdir().unwrap();
    let mgmt = management(dir.path());
    let wide = OpenOptions {
        pool_size: 8,
        ..opts()
    };
    let catalog = open(&mgmt, &wide).await.unwrap().control.unwrap();
    let t = tag();
    let project = format!("race-{t}");
    for round in 0..10 {
        let name = format!("race-{t}-{round}");
        let pool = Pool {
            name: name.clone(),
            uri: "sqlite://unused".into(),
            weight: 1,
            flavor: None,
            options: Default::default(),
        };
        catalog.put_pool(&pool).await.unwrap();
        let placers: Vec<_> = (0..8)
            .map(|i| {
                let (catalog, name) = (catalog.clone(), name.clone());
                let queue = QueueId::new(project.clone(), format!("q{round}-{i}"));
                tokio::spawn(async move {
                    match catalog.place(&queue, &name).await {
                        Ok(placed) => {
                            assert_eq!(placed, name);
                            Some(queue)
                        }
                        Err(StorageError::PoolDoesNotExist { .. }) => None,
                        Err(e) => panic!("{e}"),
                    }
                })
            })
            .collect();
        let deleter = {
            let (catalog, name) = (catalog.clone(), name.clone());
            tokio::spawn(async move { catalog.delete_pool(&name).await.unwrap() })
        };
        let mut placed = Vec::new();
        for p in placers {
            placed.extend(p.await.unwrap());
        }
        let deletion = deleter.await.unwrap();
        match deletion {
            PoolDeletion::Deleted => {
                assert!(
                    placed.is_empty(),
                    "round {round}: placed into a deleted pool"
                );
                assert_eq!(catalog.get_pool(&name).await.unwrap(), None);
            }
            PoolDeletion::InUse(_) => assert!(!placed.is_empty(), "round {round}"),
            PoolDeletion::Missing => panic!("round {round}: the pool vanished"),
        }
        for queue in &placed {
            assert_eq!(
                catalog.lookup(queue).await.unwrap().as_deref(),
                Some(name.as_str())
            );
            catalog.unplace(queue).await.unwrap();
        }
        if deletion != PoolDeletion::Deleted {
            assert_eq!(
                catalog.delete_pool(&name).await.unwrap(),
                PoolDeletion::Deleted
            );
        }
    }
}

/// The dead-letter queue in another pool, and the server killed between the two steps of a
/// move (posted to the dead-letter queue, not yet deleted from its queue): nothing is lost,
/// and the message is moved again once the claim that held it expires, so the dead-letter
/// queue holds it twice, the duplicate README promises at worst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_cross_pools_and_a_crash_mid_move_duplicates_but_loses_nothing() {
    let Some((dir, port, mut redis)) = own_redis() else {
        return;
    };
    let redis_uri = format!("redis://127.0.0.1:{port}/0");
    let sqlite_uri = format!("sqlite://{}/pool-work.db", dir.path().display());
    let mgmt = format!("sqlite://{}/catalog.db", dir.path().display());
    let conf = dir.path().join("zaqar.toml");
    // Claims of one second, so that the held message comes back without a long wait.
    std::fs::write(
        &conf,
        format!(
            "[server]\nadmin_mode = true\nworkers = 1\n\
             [storage]\nmessage_store = \"sqlite://{}/default.db\"\nmanagement_store = \"{mgmt}\"\ngc_interval = 0\n\
             [pooling]\nenabled = true\n[limits]\nmin_claim_ttl = 1\nmin_claim_grace = 1\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let args = ["--config", conf.to_str().unwrap(), "--bind", "127.0.0.1:0"];
    let server = process::start(dir.path(), &args);
    let api = TestServer::client_of(&server.url);
    for (pool, uri) in [("work", &sqlite_uri), ("dead", &redis_uri)] {
        register(&api, pool, uri, 1).await;
        let r = admin(
            &api,
            Method::PUT,
            &format!("/v2/flavors/f-{pool}"),
            Some(json!({ "pool_list": [pool] })),
        )
        .await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    let policy = json!({"_flavor": "f-work", "_max_claim_count": 1, "_dead_letter_queue": "dlq"});
    assert_eq!(api.put("/v2/queues/jobs", Some(policy)).await.status, 201);
    assert_eq!(
        api.put("/v2/queues/dlq", Some(json!({"_flavor": "f-dead"})))
            .await
            .status,
        201
    );
    let (jobs, dlq) = (
        QueueId::new(api.project.clone(), "jobs"),
        QueueId::new(api.project.clone(), "dlq"),
    );
    let (work_store, dead_store) = (store(&sqlite_uri).await, store(&redis_uri).await);
    let claim = json!({"ttl": 1, "grace": 1});

    // Across pools: the second claim moves the message from SQLite to Redis.
    api.post_messages("jobs", json!([{"body": "first"}])).await;
    assert!(api.claim("jobs", "", claim.clone()).await.is_some());
    wait_for(|| async { held(&work_store, &jobs).await == 1 && free(&api, "jobs").await }).await;
    assert!(api.claim("jobs", "", claim.clone()).await.is_none());
    assert_eq!(held(&work_store, &jobs).await, 0);
    assert_eq!(held(&dead_store, &dlq).await, 1);

    // The server killed mid-move: the dead-letter pool is frozen, so the move is under
    // way (the message held by its claim in the work pool) and cannot finish.
    let mut server = server;
    api.post_messages("jobs", json!([{"body": "second"}])).await;
    assert!(api.claim("jobs", "", claim.clone()).await.is_some());
    wait_for(|| async { free(&api, "jobs").await }).await;
    common::process::signal(&redis, "-STOP");
    let stuck = spawn_claim(&api, &claim);
    wait_for(|| async { !free(&api, "jobs").await }).await;
    common::process::signal(&server.child, "-KILL");
    let _ = server.child.wait();
    let _ = stuck.await;
    common::process::signal(&redis, "-CONT");
    assert_eq!(held(&work_store, &jobs).await, 1, "still in its queue");
    // A new server: once that claim expires, a claim moves the message.
    drop(server);
    let server = process::start(dir.path(), &args);
    let api = crate::common::Api {
        base: server.url.clone(),
        ..api
    };
    wait_for(|| async {
        let _ = api.claim("jobs", "", claim.clone()).await;
        held(&work_store, &jobs).await == 0
    })
    .await;
    let second = dead_bodies(&dead_store, &dlq).await;
    let copies = second.iter().filter(|b| *b == "\"second\"").count();
    assert!(
        (1..=2).contains(&copies),
        "lost or copied more than once: {second:?}"
    );

    // The other half-way state, deterministically: the post to the dead-letter queue
    // finishes only after the claim holding the message has expired, so the delete that
    // should follow it finds the message no longer held and leaves it. The next claim
    // moves it again: the dead-letter queue holds it twice, and nothing is lost.
    api.post_messages("jobs", json!([{"body": "third"}])).await;
    assert!(api.claim("jobs", "", claim.clone()).await.is_some());
    wait_for(|| async { free(&api, "jobs").await }).await;
    common::process::signal(&redis, "-STOP");
    let slow = spawn_claim(&api, &claim);
    wait_for(|| async { !free(&api, "jobs").await }).await;
    // Frozen until the claim of the move (one second) has expired.
    wait_for(|| async { free(&api, "jobs").await }).await;
    common::process::signal(&redis, "-CONT");
    let _ = slow.await;
    wait_for(|| async {
        let _ = api.claim("jobs", "", claim.clone()).await;
        held(&work_store, &jobs).await == 0
    })
    .await;
    let all = dead_bodies(&dead_store, &dlq).await;
    assert_eq!(
        all.iter().filter(|b| *b == "\"third\"").count(),
        2,
        "a duplicate, no loss: {all:?}"
    );
    assert_eq!(all[0], "\"first\"");
    let _ = redis.kill();
    let _ = redis.wait();
}

/// A claim sent in the background (it may hang while a pool is frozen).
fn spawn_claim(api: &Api, claim: &Value) -> tokio::task::JoinHandle<reqwest::Result<Resp>> {
    let api = api.clone();
    let body = claim.to_string();
    tokio::spawn(async move {
        api.try_send(
            api.request(Method::POST, "/v2/queues/jobs/claims")
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await
    })
}

/// The bodies in the dead-letter queue, in order, read from its store.
async fn dead_bodies(store: &Arc<dyn DataStore>, queue: &QueueId) -> Vec<String> {
    store
        .list_messages(queue, everything(), None, 20)
        .await
        .unwrap()
        .iter()
        .map(|m| m.body.get().to_owned())
        .collect()
}

/// A redis-server of the test's own (it stops and freezes it), in a fresh directory; `None`
/// (and a note) without `ZAQAR_TEST_REDIS_SERVER`.
fn own_redis() -> Option<(tempfile::TempDir, u16, std::process::Child)> {
    let binary = common::redis_binary()?;
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let redis = common::start_redis(&binary, port, dir.path());
    Some((dir, port, redis))
}

fn everything() -> ListFilter {
    ListFilter {
        echo: true,
        include_claimed: true,
        include_delayed: true,
        client_id: String::new(),
    }
}

/// Whether the queue has an unclaimed message.
async fn free(api: &Api, queue: &str) -> bool {
    let r = api.get(&format!("/v2/queues/{queue}/stats")).await;
    r.json["messages"]["free"].as_i64().unwrap_or(0) > 0
}

/// Polls `check` until it holds, for at most 30 s (claims here expire after a second).
async fn wait_for<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not reached in 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
