//! The SQL backend's plumbing: the schema made ready once, and every statement run through
//! one path (placeholders per database, a span when traced, a time bound, reachability, the
//! disk-full retry of a delete and the degraded state).

use super::*;

/// Whether a statement writes (and so, on SQLite, goes to the lane).
fn is_write(sql: &str) -> bool {
    let verb = sql.split_whitespace().next().unwrap_or("");
    ["INSERT", "UPDATE", "DELETE", "REPLACE"]
        .iter()
        .any(|w| verb.eq_ignore_ascii_case(w))
}

impl SqlStore {
    /// Migrates the schema once, before the first statement that reaches the database.
    pub(super) async fn ready(&self) -> Result<()> {
        self.migrated
            .get_or_try_init(|| {
                bounded(self.command_timeout, "schema migration", async {
                    Ok(schema::migrate(&self.db).await?)
                })
            })
            .await
            .map(|_| ())
    }

    pub(super) fn stmt(&self, sql: &str, mut values: Vec<Value>) -> Statement {
        let sql = match self.backend {
            DbBackend::Postgres => {
                values.iter_mut().for_each(without_nul);
                sql.to_owned()
            }
            _ => sql.replace('$', "?"),
        };
        Statement::from_sql_and_values(self.backend, sql, values)
    }

    pub(super) async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64> {
        if self.on_lane(sql) {
            return Ok(self.lane_run(sql, values, false).await?.affected());
        }
        let done = self.run(sql, values, |s| self.db.execute_raw(s)).await?;
        Ok(done.rows_affected())
    }

    /// Rows of a read (on the pool; writes that return rows use [`Self::write_rows`]).
    pub(super) async fn query(&self, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>> {
        debug_assert!(!self.on_lane(sql), "a write through query(): {sql}");
        self.run(sql, values, |s| self.db.query_all_raw(s)).await
    }

    pub(super) async fn query_one(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Option<QueryResult>> {
        debug_assert!(!self.on_lane(sql), "a write through query_one(): {sql}");
        self.run(sql, values, |s| self.db.query_one_raw(s)).await
    }

    /// The rows a writing statement returns (`... RETURNING`): on SQLite's lane, or the pool.
    pub(super) async fn write_rows(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<Vec<WrittenRow>> {
        if !self.on_lane(sql) {
            let rows = self.run(sql, values, |s| self.db.query_all_raw(s)).await?;
            return Ok(rows.into_iter().map(WrittenRow::Pool).collect());
        }
        match self.lane_run(sql, values, true).await? {
            lane::Found::Rows(rows) => Ok(rows.into_iter().map(WrittenRow::Lane).collect()),
            lane::Found::Affected(_) => Ok(Vec::new()),
        }
    }

    /// Whether `sql` goes to SQLite's write lane: every statement that writes.
    fn on_lane(&self, sql: &str) -> bool {
        self.lane.is_some() && is_write(sql)
    }

    /// One write statement on the lane, with what [`Self::statement`] gives a pool
    /// statement: the span, the time bound, the degraded state, a full disk's DELETE retry.
    async fn lane_run(&self, sql: &str, values: Vec<Value>, rows: bool) -> Result<lane::Found> {
        self.retrying_full_deletes(sql, values, |values| {
            self.lane_job(sql, vec![(sql, values)], rows)
        })
        .await
        .map(|mut found| found.remove(0))
    }

    /// Runs `stmts` as one job of the lane (all of them in the same transaction); `name` is
    /// what the span and the degraded state go by.
    async fn lane_job(
        &self,
        name: &str,
        stmts: Vec<(&str, Vec<Value>)>,
        rows: bool,
    ) -> Result<Vec<lane::Found>> {
        let lane = self
            .lane
            .as_ref()
            .ok_or_else(|| StorageError::unavailable("no write lane"))?;
        let stmts = stmts
            .into_iter()
            .map(|(sql, values)| lane::Stmt {
                sql: sql.replace('$', "?"),
                values,
                rows,
            })
            .collect();
        self.command(name, async {
            let (found, batch) = lane.run(stmts).await?;
            crate::envelope::record_batch(&batch);
            Ok(found)
        })
        .await
    }

    /// One request's part of a gathered PostgreSQL statement (`gather`), with what
    /// [`Self::statement`] gives a pool statement; `sql` (the request's own statement, as it
    /// would run alone) names its span.
    pub(super) async fn gathered<K: gather::Gathered>(
        &self,
        lane: &gather::Lane<K>,
        sql: &str,
        part: K::Job,
    ) -> Result<K::Done> {
        self.command(sql, async {
            let (done, batch) = lane.run(part).await?;
            crate::envelope::record_batch(&batch);
            Ok(done)
        })
        .await
    }

    /// Runs `stmts` in one transaction: a job of SQLite's lane, or a transaction on the pool;
    /// the rows each affected.
    pub(super) async fn transaction(&self, stmts: Vec<(&str, Vec<Value>)>) -> Result<Vec<u64>> {
        if self.lane.is_some() {
            let name = stmts.first().map(|(sql, _)| *sql).unwrap_or("");
            let found = self.lane_job(name, stmts, false).await?;
            return Ok(found.into_iter().map(lane::Found::affected).collect());
        }
        let txn = self.begin().await?;
        let mut affected = Vec::with_capacity(stmts.len());
        for (sql, values) in stmts {
            let run = txn.execute_raw(self.stmt(sql, values));
            affected.push(self.statement(sql, run).await?.rows_affected());
        }
        self.commit(txn).await?;
        Ok(affected)
    }

    /// Runs one statement through `call` (execute, query all, query one), on the pool.
    pub(super) async fn run<T, F>(
        &self,
        sql: &str,
        values: Vec<Value>,
        call: impl Fn(Statement) -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<T, sea_orm::DbErr>>,
    {
        self.retrying_full_deletes(sql, values, |values| {
            self.statement(sql, call(self.stmt(sql, values)))
        })
        .await
    }

    /// Runs `attempt` with `values`; a SQLite DELETE that finds the disk full runs once more
    /// after a checkpoint (on the pool or the lane alike).
    async fn retrying_full_deletes<T, F>(
        &self,
        sql: &str,
        values: Vec<Value>,
        attempt: impl Fn(Vec<Value>) -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<T>>,
    {
        let spare = self.spare_for_retry(sql, &values);
        match (attempt(values).await, spare) {
            (Err(e), Some(values)) if disk_full(&e) => {
                self.checkpoint().await;
                attempt(values).await
            }
            (done, _) => done,
        }
    }

    /// A copy of a SQLite DELETE's values, to run it again after a checkpoint when the disk
    /// is full: a delete is how space is freed, so it gets a second chance that other
    /// writes do not need.
    pub(super) fn spare_for_retry(&self, sql: &str, values: &[Value]) -> Option<Vec<Value>> {
        (self.backend == DbBackend::Sqlite && sql.trim_start().starts_with("DELETE"))
            .then(|| values.to_vec())
    }

    /// Moves the WAL into the database and truncates it, giving its disk space back; first
    /// releases the disk reserve, without which a full disk lets neither happen.
    pub(super) async fn checkpoint(&self) {
        if let Some(reserve) = &self.reserve {
            if reserve.release() {
                tracing::warn!("disk full: reserve released so that deletes can free space");
            }
        }
        let run = self
            .db
            .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)");
        if let Err(e) = bounded(self.command_timeout, "checkpoint", async { Ok(run.await?) }).await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }

    /// Notes a write's outcome: a full disk makes the store degraded until a write works.
    pub(super) fn note_write<T>(&self, sql: &str, done: &Result<T>) {
        let verb = sql.split_whitespace().next().unwrap_or("");
        if !["INSERT", "UPDATE", "DELETE"].contains(&verb) {
            return;
        }
        let mut failing = self
            .writes_failing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match done {
            Ok(_) => {
                *failing = None;
                if let Some(reserve) = &self.reserve {
                    reserve.restore();
                }
            }
            Err(e) if disk_full(e) => *failing = Some(e.to_string()),
            Err(_) => {}
        }
    }

    /// One statement: traced, and bounded by `command_timeout`.
    pub(super) async fn statement<T>(
        &self,
        sql: &str,
        run: impl std::future::Future<Output = Result<T, sea_orm::DbErr>>,
    ) -> Result<T> {
        self.command(sql, async { Ok(run.await?) }).await
    }

    /// Runs `run` (a statement on the pool, or a job of a lane) as every statement runs:
    /// after the reachability check and the schema, bounded by `command_timeout`, in a span
    /// named by `name` when traced; its outcome noted for the degraded state.
    async fn command<T>(
        &self,
        name: &str,
        run: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let done = self
            .reach
            .guard(async {
                self.ready().await?;
                bounded(
                    self.command_timeout,
                    "SQL statement",
                    self.traced(name, run),
                )
                .await
            })
            .await;
        self.note_write(name, &done);
        done
    }

    /// Opens a transaction, bounded like a statement.
    pub(super) async fn begin(&self) -> Result<sea_orm::DatabaseTransaction> {
        self.reach
            .guard(async {
                self.ready().await?;
                bounded(self.command_timeout, "BEGIN", async {
                    Ok(self.db.begin().await?)
                })
                .await
            })
            .await
    }

    pub(super) async fn commit(&self, txn: sea_orm::DatabaseTransaction) -> Result<()> {
        bounded(self.command_timeout, "COMMIT", async {
            Ok(txn.commit().await?)
        })
        .await
    }

    /// Runs one statement inside a span of its own when the request is traced and
    /// `trace_sql` is on: the statement text (placeholders, never values) and its verb.
    #[cfg_attr(not(feature = "profiler"), allow(unused_variables))]
    pub(super) async fn traced<T>(
        &self,
        sql: &str,
        run: impl std::future::Future<Output = T>,
    ) -> T {
        // Only a traced request pays for the statement's text.
        #[cfg(feature = "profiler")]
        if crate::envelope::with_current(|_| ()).is_some() {
            // One line, single-spaced; most statements already are.
            let statement: std::borrow::Cow<'_, str> = if sql
                .split(' ')
                .all(|word| !word.is_empty() && !word.contains(char::is_whitespace))
            {
                sql.into()
            } else {
                sql.split_whitespace().collect::<Vec<_>>().join(" ").into()
            };
            let verb = statement
                .split(' ')
                .next()
                .unwrap_or("SQL")
                .to_ascii_uppercase();
            let system = match self.backend {
                DbBackend::Postgres => POSTGRES_SPANS,
                _ => SQLITE_SPANS,
            };
            return db_call(system, &verb, Some(&statement), run).await;
        }
        run.await
    }
}
