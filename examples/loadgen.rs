//! Load generator for any Zaqar v2 endpoint: producers post, consumers claim and delete,
//! observers list, all at once, for a fixed time; then it prints requests/s and latency
//! percentiles per kind of request.
//!
//! ```text
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8888 --duration 10 \
//!     --producers 8 --consumers 4 --observers 4
//! ```
//!
//! Built on the client library (`zaqar::client`). Every task has its own Client-ID and HTTP
//! connection; all share one project and queue.
//! A request that fails (transport error or a status other than 2xx) counts as an error and
//! is left out of the latency figures. The run ends by itself after `--duration` seconds.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use zaqar::client::{Client, ClientError, ListOptions, NewMessage};

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
    /// A Keystone token to send as X-Auth-Token (a server in keystone mode).
    #[arg(long, value_name = "TOKEN")]
    auth_token: Option<String>,
    /// Messages posted (10 a post, untimed) before the load starts, for consumers to find.
    #[arg(long, default_value_t = 0)]
    prefill: usize,
}

/// Messages in the queue that no live claim holds (the backlog consumers have left).
async fn depth(w: &Worker, queue: &str) -> u64 {
    match w.next().queue_stats(queue).await {
        Ok(messages) => messages["free"].as_u64().unwrap_or(0),
        Err(e) => {
            eprintln!("loadgen: stats of {queue}: {e}");
            0
        }
    }
}

/// Posts `n` messages, 10 a post, from 8 clients at once.
async fn prefill(args: &Args, n: usize) {
    let posts = n.div_ceil(10);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let args = args.clone();
            tokio::spawn(async move {
                let w = Worker::new(&args);
                let batch = messages(&args, 10);
                for _ in (t..posts).step_by(8) {
                    if let Err(e) = w.next().post(&args.queue, &batch).await {
                        eprintln!("loadgen: prefill: {e}");
                        std::process::exit(1);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("prefill task");
    }
}

/// Latencies (microseconds) and errors of one kind of request.
#[derive(Default)]
struct Samples {
    micros: Vec<u64>,
    errors: u64,
}

type Stats = BTreeMap<&'static str, Samples>;

/// One load task's client: its own Client-ID and HTTP connection.
struct Worker {
    client: Client,
    profile: Option<String>,
}

impl Worker {
    fn new(args: &Args) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .expect("HTTP client");
        let mut client = Client::new(&args.url, &args.project).with_http(http);
        if let Some(token) = &args.auth_token {
            client = client.with_token(token.clone());
        }
        Worker {
            client,
            profile: args.profile.clone(),
        }
    }

    /// The client for the next request: with `--profile`, each request its own trace.
    fn next(&self) -> Cow<'_, Client> {
        match &self.profile {
            None => Cow::Borrowed(&self.client),
            Some(key) => Cow::Owned(self.client.clone().with_profile(key).unwrap_or_else(|e| {
                eprintln!("loadgen: {e}");
                std::process::exit(2);
            })),
        }
    }
}

/// Runs one request, recording its latency under `kind`, or an error.
async fn timed<T>(
    stats: &mut Stats,
    kind: &'static str,
    request: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Option<T> {
    let begun = Instant::now();
    let result = request.await;
    let entry = stats.entry(kind).or_default();
    match result {
        Ok(answer) => {
            entry.micros.push(begun.elapsed().as_micros() as u64);
            Some(answer)
        }
        Err(_) => {
            entry.errors += 1;
            None
        }
    }
}

/// `count` messages of `body_bytes` each, living an hour.
fn messages(args: &Args, count: usize) -> Vec<NewMessage> {
    let body = Value::String("x".repeat(args.body_bytes));
    (0..count)
        .map(|_| NewMessage {
            ttl: Some(3600),
            ..NewMessage::new(body.clone())
        })
        .collect()
}

async fn producer(args: Args, deadline: Instant) -> Stats {
    let w = Worker::new(&args);
    let mut stats = Stats::new();
    let batch = messages(&args, args.batch);
    while Instant::now() < deadline {
        timed(&mut stats, "post", w.next().post(&args.queue, &batch)).await;
    }
    stats
}

async fn consumer(args: Args, deadline: Instant) -> Stats {
    let w = Worker::new(&args);
    let mut stats = Stats::new();
    let limit = Some(args.claim as u32);
    while Instant::now() < deadline {
        let claimed = timed(
            &mut stats,
            "claim",
            w.next().claim(&args.queue, 60, 60, limit),
        )
        .await;
        let Some(Some(claim)) = claimed else {
            continue;
        };
        for m in &claim.messages {
            let c = w.next();
            let delete = c.delete_message(&args.queue, &m.id, Some(&claim.id));
            timed(&mut stats, "delete", delete).await;
        }
    }
    stats
}

async fn observer(args: Args, deadline: Instant) -> Stats {
    let w = Worker::new(&args);
    let mut stats = Stats::new();
    let opts = ListOptions {
        echo: true,
        limit: Some(10),
        ..ListOptions::default()
    };
    while Instant::now() < deadline {
        timed(
            &mut stats,
            "list",
            w.next().list_messages(&args.queue, &opts),
        )
        .await;
    }
    stats
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
    let setup = Worker::new(&args);
    if let Err(e) = setup.next().create_queue(&args.queue, None).await {
        eprintln!(
            "loadgen: cannot create queue {} at {}: {e}",
            args.queue, args.url
        );
        std::process::exit(1);
    }
    if args.prefill > 0 {
        prefill(&args, args.prefill).await;
    }
    let depth_before = depth(&setup, &args.queue).await;
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
    let depth_after = depth(&setup, &args.queue).await;
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
            json!({"url": args.url, "seconds": elapsed, "kinds": kinds,
                   "depth_before": depth_before, "depth_after": depth_after})
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
    println!("depth {depth_before} {depth_after}");
}
