//! How to write to SQLite from many concurrent requests: the designs issue 14 weighs for
//! the embedded store's write path, measured side by side in one run on one machine.
//!
//! `P` tasks each insert one row and wait for it to be committed, again and again (a
//! producer posting one message at a time); rows per second for each design, with
//! `synchronous = NORMAL` and `FULL`:
//!
//! - `pool`: today's path, a sqlx pool; every insert its own autocommit statement.
//! - `lane-txn`: one sqlx connection; a writer task takes every insert waiting and runs
//!   them as statements of one transaction.
//! - `lane-multirow`: one sqlx connection; one multi-row INSERT per batch.
//! - `thread`: one rusqlite connection on a thread of its own; a batch is one transaction
//!   of cached prepared statements, no thread hop per statement.
//!
//! `cargo bench --bench sqlite_writes [-- SECONDS PRODUCERS]` (defaults 5 and 16).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::sqlx::{self, Connection, Executor};
use tokio::sync::{mpsc, oneshot};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, queue TEXT NOT NULL,
    body TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL)";
const INSERT: &str =
    "INSERT INTO messages (id, queue, body, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)";
/// Rows a writer takes at most into one batch.
const MAX_BATCH: usize = 256;

struct Row {
    id: String,
    body: String,
    now: i64,
}

fn row(n: u64) -> Row {
    Row {
        id: format!("{n:032x}"),
        body: format!("{{\"n\": {n}, \"pad\": \"{}\"}}", "x".repeat(200)),
        now: n as i64,
    }
}

type Job = (Row, oneshot::Sender<()>);

fn options(path: &std::path::Path, full: bool) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(if full {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        })
        .busy_timeout(Duration::from_secs(10))
}

/// Takes the first job waiting and every other one already queued, up to [`MAX_BATCH`].
async fn batch(rx: &mut mpsc::UnboundedReceiver<Job>) -> Option<Vec<Job>> {
    let first = rx.recv().await?;
    let mut jobs = vec![first];
    while jobs.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    Some(jobs)
}

/// A design: something that takes a row and answers once it is committed.
#[derive(Clone)]
enum Writer {
    Pool(sqlx::SqlitePool),
    Lane(mpsc::UnboundedSender<Job>),
}

impl Writer {
    async fn write(&self, r: Row) {
        match self {
            Writer::Pool(pool) => {
                sqlx::query(INSERT)
                    .bind(r.id)
                    .bind("q")
                    .bind(r.body)
                    .bind(r.now)
                    .bind(r.now + 1000)
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Writer::Lane(tx) => {
                let (done, wait) = oneshot::channel();
                tx.send((r, done)).unwrap();
                wait.await.unwrap();
            }
        }
    }
}

async fn open(design: &str, path: &std::path::Path, full: bool) -> Writer {
    let opts = options(path, full);
    let mut setup = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    setup.execute(SCHEMA).await.unwrap();
    drop(setup);
    match design {
        "pool" => Writer::Pool(
            SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await
                .unwrap(),
        ),
        "lane-txn" | "lane-multirow" => {
            let multirow = design == "lane-multirow";
            let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            tokio::spawn(async move {
                while let Some(jobs) = batch(&mut rx).await {
                    if multirow {
                        let rows: Vec<String> = (0..jobs.len())
                            .map(|i| {
                                let b = i * 5;
                                format!(
                                    "(?{}, ?{}, ?{}, ?{}, ?{})",
                                    b + 1,
                                    b + 2,
                                    b + 3,
                                    b + 4,
                                    b + 5
                                )
                            })
                            .collect();
                        let sql = format!(
                            "INSERT INTO messages (id, queue, body, created, expires) VALUES {}",
                            rows.join(", ")
                        );
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                        for (r, _) in &jobs {
                            q = q
                                .bind(r.id.as_str())
                                .bind("q")
                                .bind(r.body.as_str())
                                .bind(r.now)
                                .bind(r.now + 1000);
                        }
                        q.execute(&mut conn).await.unwrap();
                    } else {
                        let mut txn = conn.begin().await.unwrap();
                        for (r, _) in &jobs {
                            sqlx::query(INSERT)
                                .bind(r.id.as_str())
                                .bind("q")
                                .bind(r.body.as_str())
                                .bind(r.now)
                                .bind(r.now + 1000)
                                .execute(&mut *txn)
                                .await
                                .unwrap();
                        }
                        txn.commit().await.unwrap();
                    }
                    for (_, done) in jobs {
                        let _ = done.send(());
                    }
                }
            });
            Writer::Lane(tx)
        }
        "thread" => {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let path = path.to_owned();
            std::thread::spawn(move || {
                let mut conn = rusqlite::Connection::open(path).unwrap();
                conn.pragma_update(None, "journal_mode", "WAL").unwrap();
                conn.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })
                    .unwrap();
                while let Some(first) = rx.blocking_recv() {
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                    let txn = conn.transaction().unwrap();
                    {
                        let mut stmt = txn.prepare_cached(INSERT).unwrap();
                        for (r, _) in &jobs {
                            stmt.execute(rusqlite::params![r.id, "q", r.body, r.now, r.now + 1000])
                                .unwrap();
                        }
                    }
                    txn.commit().unwrap();
                    for (_, done) in jobs {
                        let _ = done.send(());
                    }
                }
            });
            Writer::Lane(tx)
        }
        other => panic!("no design {other}"),
    }
}

async fn measure(design: &str, full: bool, seconds: u64, producers: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let writer = open(design, &dir.path().join("bench.db"), full).await;
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..producers)
        .map(|_| {
            let (writer, counter) = (writer.clone(), counter.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    writer.write(row(n)).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    counter.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seconds = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let producers = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("{producers} producers, {seconds} s each, rows committed per second");
    println!("| design | synchronous = NORMAL | synchronous = FULL |");
    println!("|---|---:|---:|");
    for design in ["pool", "lane-txn", "lane-multirow", "thread"] {
        let normal = rt.block_on(measure(design, false, seconds, producers));
        let full = rt.block_on(measure(design, true, seconds, producers));
        println!("| {design} | {normal:.0} | {full:.0} |");
    }
}
