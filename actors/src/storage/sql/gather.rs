//! PostgreSQL's writes gathered across requests (`storage::gather`): the posts, or the
//! deletes by id, of every request waiting while the previous statement ran, as one
//! multi-row statement. Only these are gathered, as they are most of the writes and each
//! request can read its own answer in the statement's.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};

use super::{tuples, POSTGRES_SPANS, POST_CHUNK, POST_COLUMNS};
use crate::envelope::DbSystem;
use crate::error::Result;
use crate::storage::bounded;
pub use crate::storage::gather::{Gathered, Lane};

/// The columns every message row of a post binds, in order.
pub const POST_FIELDS: &str =
    "id, project, queue, client_id, body, ttl, created, expires, visible_at";

/// Posts: the rows of every post in one `INSERT`; each is answered how many rows it had.
pub struct Posts;

impl Gathered for Posts {
    type Conn = DatabaseConnection;
    /// [`POST_COLUMNS`] values per row.
    type Job = Vec<Value>;
    type Done = u64;
    const NAME: &'static str = "PostgreSQL posts";
    const SPANS: DbSystem = POSTGRES_SPANS;
    const MAX_ROWS: usize = POST_CHUNK;

    fn rows(job: &Vec<Value>) -> usize {
        job.len() / POST_COLUMNS
    }

    fn run<'a>(
        db: &'a DatabaseConnection,
        jobs: &'a [&'a Vec<Value>],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<u64>>> {
        Box::pin(bounded(timeout, Self::NAME, async move {
            let sql = format!(
                "INSERT INTO messages ({POST_FIELDS}) VALUES {}",
                tuples(jobs.iter().map(|job| Self::rows(job)).sum(), POST_COLUMNS)
            );
            let values: Vec<Value> = jobs.iter().flat_map(|job| job.iter().cloned()).collect();
            // A plain INSERT puts in every row or fails: each post had all of its own.
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await?;
            Ok(jobs.iter().map(|job| Self::rows(job) as u64).collect())
        }))
    }
}

/// A delete by id: the message, its queue, the claim named (if any) and the time.
pub struct Delete {
    pub id: String,
    pub project: String,
    pub queue: String,
    pub claim: Option<String>,
    pub now: i64,
}

/// Deletes by id: every request's in one `DELETE ... USING (VALUES ...)`; each is answered
/// whether its message went (when not, the store finds out why, alone).
pub struct Deletes;

impl Gathered for Deletes {
    type Conn = DatabaseConnection;
    type Job = Delete;
    type Done = bool;
    const NAME: &'static str = "PostgreSQL deletes";
    const SPANS: DbSystem = POSTGRES_SPANS;
    const MAX_ROWS: usize = 1000;

    fn run<'a>(
        db: &'a DatabaseConnection,
        jobs: &'a [&'a Delete],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<bool>>> {
        Box::pin(bounded(timeout, Self::NAME, async move {
            // As a delete alone (messages.rs): an unclaimed message when no claim is named,
            // else one held by the live claim named.
            let sql = format!(
                "DELETE FROM messages m USING (VALUES {}) AS v(id, project, queue, claim, now)
                 WHERE m.id = v.id AND (m.project = v.project AND m.queue = v.queue) IS TRUE
                 AND CASE WHEN v.claim IS NULL THEN m.claim_expires <= v.now
                     ELSE m.claim_id = v.claim AND m.claim_expires > v.now END
                 RETURNING m.id",
                tuples(jobs.len(), 5)
            );
            let values: Vec<Value> = jobs
                .iter()
                .flat_map(|d| {
                    [
                        Value::from(d.id.as_str()),
                        d.project.as_str().into(),
                        d.queue.as_str().into(),
                        Value::String(d.claim.clone()),
                        d.now.into(),
                    ]
                })
                .collect();
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    values,
                ))
                .await?;
            let gone: HashSet<String> = rows
                .iter()
                .map(|row| row.try_get_by_index(0))
                .collect::<Result<_, sea_orm::DbErr>>()?;
            Ok(jobs.iter().map(|d| gone.contains(&d.id)).collect())
        }))
    }
}
