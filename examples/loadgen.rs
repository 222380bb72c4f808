//! Load generator for any Zaqar v2 endpoint: producers post, consumers claim and delete,
//! observers list, all at once, for a fixed time; then it prints requests/s and latency
//! percentiles per kind of request.
//!
//! ```text
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8888 --duration 10 \
//!     --producers 8 --consumers 4 --observers 4
//! ```
//!
//! Every client has its own Client-ID and HTTP connection; all share one project and queue.
//! A request that fails (transport error or a status other than 2xx) counts as an error and
//! is left out of the latency figures. The run ends by itself after `--duration` seconds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser, Debug, Clone)]
#[command(about = "Drive producers, consumers and observers against a Zaqar v2 URL")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8888")]
    url: String,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Clients posting messages.
    #[arg(long, default_value_t = 8)]
    producers: usize,
    /// Clients claiming and deleting messages.
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// Clients listing messages.
    #[arg(long, default_value_t = 4)]
    observers: usize,
    /// Messages per post.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Messages per claim.
    #[arg(long, default_value_t = 10)]
    claim: usize,
    /// Bytes of each message body.
    #[arg(long, default_value_t = 256)]
    body_bytes: usize,
    #[arg(long, default_value = "loadgen")]
    queue: String,
    #[arg(long, default_value = "loadgen")]
    project: String,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Sign every request for profiling with this HMAC key (each request its own trace).
    #[arg(long, value_name = "KEY")]
    profile: Option<String>,
}

/// Latencies (microseconds) and errors of one kind of request.
#[derive(Default)]
struct Samples {
    micros: Vec<u64>,
    errors: u64,
}

type Stats = BTreeMap<&'static str, Samples>;

struct Client {
    http: reqwest::Client,
    base: String,
    client_id: String,
    project: String,
    profile: Option<String>,
}

impl Client {
    fn new(args: &Args) -> Self {
        Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client"),
            base: args.url.trim_end_matches('/').to_owned(),
            client_id: uuid::Uuid::new_v4().to_string(),
            project: args.project.clone(),
            profile: args.profile.clone(),
        }
    }

    /// Sends one request, records it under `kind`, and answers (status, headers, JSON body).
    async fn send(
        &self,
        stats: &mut Stats,
        kind: &'static str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Option<(u16, reqwest::header::HeaderMap, Value)> {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("Client-ID", &self.client_id)
            .header("X-Project-ID", &self.project);
        if let Some(b) = body {
            rb = rb
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        if let Some(key) = &self.profile {
            let base = uuid::Uuid::new_v4().to_string();
            let (info, tag) = sign(&base, &base, key);
            rb = rb.header("X-Trace-Info", info).header("X-Trace-HMAC", tag);
        }
        let started = Instant::now();
        let result = async {
            let r = rb.send().await.ok()?;
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            let bytes = r.bytes().await.ok()?;
            Some((
                status,
                headers,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ))
        }
        .await;
        let entry = stats.entry(kind).or_default();
        match result {
            Some((status, h, v)) if (200..300).contains(&status) => {
                entry.micros.push(started.elapsed().as_micros() as u64);
                Some((status, h, v))
            }
            _ => {
                entry.errors += 1;
                None
            }
        }
    }
}

async fn producer(args: Args, deadline: Instant) -> Stats {
    let c = Client::new(&args);
    let mut stats = Stats::new();
    let body = "x".repeat(args.body_bytes);
    let msgs: Vec<Value> = (0..args.batch)
        .map(|_| json!({"ttl": 3600, "body": body}))
        .collect();
    let payload = json!({ "messages": msgs });
    let path = format!("/v2/queues/{}/messages", args.queue);
    while Instant::now() < deadline {
        c.send(
            &mut stats,
            "post",
            reqwest::Method::POST,
            &path,
            Some(&payload),
        )
        .await;
    }
    stats
}

async fn consumer(args: Args, deadline: Instant) -> Stats {
    let c = Client::new(&args);
    let mut stats = Stats::new();
    let path = format!("/v2/queues/{}/claims?limit={}", args.queue, args.claim);
    let claim_body = json!({"ttl": 60, "grace": 60});
    while Instant::now() < deadline {
        let Some((status, _, v)) = c
            .send(
                &mut stats,
                "claim",
                reqwest::Method::POST,
                &path,
                Some(&claim_body),
            )
            .await
        else {
            continue;
        };
        if status == 204 {
            continue;
        }
        let hrefs: Vec<String> = v["messages"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m["href"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for href in hrefs {
            c.send(&mut stats, "delete", reqwest::Method::DELETE, &href, None)
                .await;
        }
    }
    stats
}

async fn observer(args: Args, deadline: Instant) -> Stats {
    let c = Client::new(&args);
    let mut stats = Stats::new();
    let path = format!("/v2/queues/{}/messages?echo=true&limit=10", args.queue);
    while Instant::now() < deadline {
        c.send(&mut stats, "list", reqwest::Method::GET, &path, None)
            .await;
    }
    stats
}

#[cfg(feature = "profiler")]
fn sign(base: &str, parent: &str, key: &str) -> (String, String) {
    zaqar::profiler::hmac::sign(base, parent, key)
}

#[cfg(not(feature = "profiler"))]
fn sign(_: &str, _: &str, _: &str) -> (String, String) {
    eprintln!("loadgen: --profile needs the profiler feature");
    std::process::exit(2);
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let setup = Client::new(&args);
    let mut ignored = Stats::new();
    if setup
        .send(
            &mut ignored,
            "setup",
            reqwest::Method::PUT,
            &format!("/v2/queues/{}", args.queue),
            None,
        )
        .await
        .is_none()
    {
        eprintln!(
            "loadgen: cannot create queue {} at {}",
            args.queue, args.url
        );
        std::process::exit(1);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration);
    let mut tasks = Vec::new();
    for _ in 0..args.producers {
        tasks.push(tokio::spawn(producer(args.clone(), deadline)));
    }
    for _ in 0..args.consumers {
        tasks.push(tokio::spawn(consumer(args.clone(), deadline)));
    }
    for _ in 0..args.observers {
        tasks.push(tokio::spawn(observer(args.clone(), deadline)));
    }
    let mut all = Stats::new();
    for t in tasks {
        for (kind, s) in t.await.expect("load task") {
            let e = all.entry(kind).or_default();
            e.micros.extend(s.micros);
            e.errors += s.errors;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut rows = Vec::new();
    let mut total = Samples::default();
    for (kind, s) in all.iter_mut() {
        s.micros.sort_unstable();
        total.micros.extend(&s.micros);
        total.errors += s.errors;
        rows.push((
            *kind,
            s.micros.len(),
            s.errors,
            percentile(&s.micros, 0.5),
            percentile(&s.micros, 0.99),
        ));
    }
    total.micros.sort_unstable();
    rows.push((
        "total",
        total.micros.len(),
        total.errors,
        percentile(&total.micros, 0.5),
        percentile(&total.micros, 0.99),
    ));
    if args.json {
        let kinds: serde_json::Map<String, Value> = rows
            .iter()
            .map(|(k, n, e, p50, p99)| {
                (k.to_string(), json!({"requests": n, "rps": *n as f64 / elapsed, "errors": e, "p50_ms": p50, "p99_ms": p99}))
            })
            .collect();
        println!(
            "{}",
            json!({"url": args.url, "seconds": elapsed, "kinds": kinds})
        );
        return;
    }
    println!(
        "{} for {elapsed:.1} s: {} producers (batch {}), {} consumers (claim {}), {} observers",
        args.url, args.producers, args.batch, args.consumers, args.claim, args.observers
    );
    println!(
        "{:<8} {:>9} {:>10} {:>8} {:>8} {:>7}",
        "kind", "requests", "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (kind, n, errors, p50, p99) in rows {
        println!(
            "{kind:<8} {n:>9} {:>10.0} {p50:>8.2} {p99:>8.2} {errors:>7}",
            n as f64 / elapsed
        );
    }
}
