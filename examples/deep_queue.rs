//! Latency of the operations that a deep queue makes expensive where they walk the queue:
//! stats, claim (and release) and list, on a queue of `--depth` messages, and what they do
//! to another project's posts meanwhile.
//!
//! ```text
//! cargo run --release --example deep_queue -- --url http://127.0.0.1:8888 --depth 200000
//! ```
//!
//! It fills a queue of a project of its own (posts of 1,000 small messages), then measures
//! each operation `--rounds` times in a row, and another project's posts twice: alone, and
//! while a loop of stats, claims and listings runs on the deep queue. Prints one markdown
//! row per figure (milliseconds, p50 and p99, and how many requests failed: a server that
//! answers 503 or times out is measured too, not aborted).

use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use zaqar::client::{Client, ListOptions, NewMessage};

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8888")]
    url: String,
    /// Messages in the deep queue.
    #[arg(long, default_value_t = 200_000)]
    depth: usize,
    /// Times each operation is measured.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// A label for the rows (the backend).
    #[arg(long, default_value = "")]
    label: String,
}

/// p50 and p99 in milliseconds of the requests that succeeded, and how many failed.
type Figures = (f64, f64, usize);

fn percentiles(mut ms: Vec<f64>, failed: usize) -> Figures {
    if ms.is_empty() {
        return (f64::NAN, f64::NAN, failed);
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    (at(0.50), at(0.99), failed)
}

async fn timed<F, Fut>(rounds: usize, mut op: F) -> Figures
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut ms = Vec::with_capacity(rounds);
    let mut failed = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        if op().await {
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        } else {
            failed += 1;
        }
    }
    percentiles(ms, failed)
}

/// Another project's posts, one at a time, for `rounds` posts.
async fn neighbour_posts(url: &str, rounds: usize) -> Figures {
    let other = Client::new(url, format!("neighbour-{}", uuid::Uuid::new_v4().simple()));
    let msg = [NewMessage::new(json!({"n": 1}))];
    timed(rounds, || async { other.post("small", &msg).await.is_ok() }).await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let project = format!("deep-{}", uuid::Uuid::new_v4().simple());
    let deep = Client::new(&args.url, &project);
    let batch: Vec<NewMessage> = (0..1000).map(|i| NewMessage::new(json!(i))).collect();
    let filled = Instant::now();
    for _ in 0..args.depth.div_ceil(1000) {
        deep.post("deep", &batch).await.expect("fill");
    }
    eprintln!(
        "filled {} messages in {:.1} s",
        args.depth,
        filled.elapsed().as_secs_f64()
    );
    let label = &args.label;
    let row = |what: &str, (p50, p99, failed): Figures| {
        println!("| {label} | {what} | {p50:.2} | {p99:.2} | {failed} |");
    };
    row(
        "stats",
        timed(args.rounds, || async {
            deep.queue_stats("deep").await.is_ok()
        })
        .await,
    );
    row(
        "claim 10 + release",
        timed(args.rounds, || async {
            match deep.claim("deep", 60, 60, Some(10)).await {
                Ok(Some(c)) => deep.release_claim("deep", &c.id).await.is_ok(),
                Ok(None) => true,
                Err(_) => false,
            }
        })
        .await,
    );
    // A listing whose first page is deep inside the queue's claimed head: claim the first
    // 1,000 messages, so the listing must start past them.
    for _ in 0..50 {
        let _ = deep.claim("deep", 600, 60, Some(20)).await;
    }
    let opts = ListOptions {
        limit: Some(20),
        echo: true,
        ..Default::default()
    };
    row(
        "list 20 (behind 1,000 claimed)",
        timed(args.rounds, || async {
            deep.list_messages("deep", &opts).await.is_ok()
        })
        .await,
    );
    row(
        "another project's post, alone",
        neighbour_posts(&args.url, args.rounds).await,
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looping = {
        let (deep, stop, opts) = (deep.clone(), stop.clone(), opts.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = deep.queue_stats("deep").await;
                if let Ok(Some(c)) = deep.claim("deep", 60, 60, Some(10)).await {
                    let _ = deep.release_claim("deep", &c.id).await;
                }
                let _ = deep.list_messages("deep", &opts).await;
            }
        })
    };
    // Let the loop reach the server before measuring beside it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    row(
        "another project's post, beside the loop",
        neighbour_posts(&args.url, args.rounds).await,
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = looping.await;
}
