//! The control store on SQL: tables `pools`, `flavors` and `catalogue` (schema migration 2).
//!
//! Placing a queue and deleting its pool exclude each other: SQLite serialises writers and
//! both are single statements; on PostgreSQL placement takes a share lock on the pool's row
//! (`FOR SHARE` in the insert) and deletion takes the row lock before counting the pool's
//! queues, so one of them always sees the other.

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult};

use super::{parse_object, q, to_json, SqlStore};
use crate::control::{ControlStore, Flavor, Pool, PoolDeletion, DEFAULT_POOL};
use crate::error::{Result, StorageError};
use crate::model::QueueId;

fn pool(row: &QueryResult) -> Result<Pool> {
    let weight: i64 = row.try_get_by_index(2)?;
    Ok(Pool {
        name: row.try_get_by_index(0)?,
        uri: row.try_get_by_index(1)?,
        weight: u32::try_from(weight).unwrap_or(0),
        flavor: row.try_get_by_index(3)?,
        options: parse_object(&row.try_get_by_index::<String>(4)?)?,
    })
}

fn flavor(row: &QueryResult) -> Result<Flavor> {
    Ok(Flavor {
        name: row.try_get_by_index(0)?,
        capabilities: parse_object(&row.try_get_by_index::<String>(1)?)?,
    })
}

const POOL_COLUMNS: &str = "name, uri, weight, flavor, options";

#[async_trait]
impl ControlStore for SqlStore {
    async fn ping(&self) -> Result<()> {
        self.query_one("SELECT 1 FROM pools LIMIT 1", vec![])
            .await
            .map(|_| ())
    }

    async fn put_pool(&self, p: &Pool) -> Result<()> {
        self.exec(
            "INSERT INTO pools (name, uri, weight, flavor, options) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO UPDATE SET uri = excluded.uri, weight = excluded.weight,
             flavor = excluded.flavor, options = excluded.options",
            vec![
                p.name.as_str().into(),
                p.uri.as_str().into(),
                i64::from(p.weight).into(),
                p.flavor.clone().into(),
                to_json(&p.options).into(),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn get_pool(&self, name: &str) -> Result<Option<Pool>> {
        let sql = format!("SELECT {POOL_COLUMNS} FROM pools WHERE name = $1");
        self.query_one(&sql, vec![name.into()])
            .await?
            .as_ref()
            .map(pool)
            .transpose()
    }

    async fn list_pools(&self, marker: Option<&str>, limit: u32) -> Result<Vec<Pool>> {
        let sql =
            format!("SELECT {POOL_COLUMNS} FROM pools WHERE name > $1 ORDER BY name LIMIT {limit}");
        let rows = self.query(&sql, vec![marker.unwrap_or("").into()]).await?;
        rows.iter().map(pool).collect()
    }

    async fn delete_pool(&self, name: &str) -> Result<PoolDeletion> {
        if self.backend == DbBackend::Postgres {
            let txn = self.begin().await?;
            let sql = "SELECT name FROM pools WHERE name = $1 FOR UPDATE";
            let locked = self
                .statement(sql, txn.query_one_raw(self.stmt(sql, vec![name.into()])))
                .await?;
            if locked.is_none() {
                return Ok(PoolDeletion::Missing);
            }
            // A new statement, a new snapshot: it sees placements committed while we waited.
            let sql = "SELECT COUNT(*) FROM catalogue WHERE pool = $1";
            let count = self
                .statement(sql, txn.query_one_raw(self.stmt(sql, vec![name.into()])))
                .await?
                .map(|r| r.try_get_by_index::<i64>(0))
                .transpose()?
                .unwrap_or(0);
            if count > 0 {
                return Ok(PoolDeletion::InUse(count as u64));
            }
            let sql = "DELETE FROM pools WHERE name = $1";
            self.statement(sql, txn.execute_raw(self.stmt(sql, vec![name.into()])))
                .await?;
            self.commit(txn).await?;
            return Ok(PoolDeletion::Deleted);
        }
        let deleted = self
            .exec(
                "DELETE FROM pools WHERE name = $1
                 AND NOT EXISTS (SELECT 1 FROM catalogue WHERE pool = $1)",
                vec![name.into()],
            )
            .await?;
        if deleted == 1 {
            return Ok(PoolDeletion::Deleted);
        }
        if self.get_pool(name).await?.is_none() {
            return Ok(PoolDeletion::Missing);
        }
        let row = self
            .query_one(
                "SELECT COUNT(*) FROM catalogue WHERE pool = $1",
                vec![name.into()],
            )
            .await?;
        let count = row
            .map(|r| r.try_get_by_index::<i64>(0))
            .transpose()?
            .unwrap_or(0);
        Ok(PoolDeletion::InUse(count.max(1) as u64))
    }

    async fn put_flavor(&self, f: &Flavor) -> Result<()> {
        self.exec(
            "INSERT INTO flavors (name, capabilities) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET capabilities = excluded.capabilities",
            vec![f.name.as_str().into(), to_json(&f.capabilities).into()],
        )
        .await
        .map(|_| ())
    }

    async fn get_flavor(&self, name: &str) -> Result<Option<Flavor>> {
        self.query_one(
            "SELECT name, capabilities FROM flavors WHERE name = $1",
            vec![name.into()],
        )
        .await?
        .as_ref()
        .map(flavor)
        .transpose()
    }

    async fn list_flavors(&self, marker: Option<&str>, limit: u32) -> Result<Vec<Flavor>> {
        let sql = format!(
            "SELECT name, capabilities FROM flavors WHERE name > $1 ORDER BY name LIMIT {limit}"
        );
        let rows = self.query(&sql, vec![marker.unwrap_or("").into()]).await?;
        rows.iter().map(flavor).collect()
    }

    async fn delete_flavor(&self, name: &str) -> Result<bool> {
        let n = self
            .exec("DELETE FROM flavors WHERE name = $1", vec![name.into()])
            .await?;
        Ok(n > 0)
    }

    async fn lookup(&self, queue: &QueueId) -> Result<Option<String>> {
        let (p, n) = q(queue);
        let row = self
            .query_one(
                "SELECT pool FROM catalogue WHERE project = $1 AND queue = $2",
                vec![p, n],
            )
            .await?;
        Ok(row.map(|r| r.try_get_by_index(0)).transpose()?)
    }

    async fn place(&self, queue: &QueueId, pool: &str) -> Result<String> {
        let share = match self.backend {
            DbBackend::Postgres => " FOR SHARE",
            _ => "",
        };
        let (p, n) = q(queue);
        let sql = format!(
            "INSERT INTO catalogue (project, queue, pool) SELECT $1, $2, $3
             WHERE $3 = $4 OR EXISTS (SELECT 1 FROM pools WHERE name = $3{share})
             ON CONFLICT (project, queue) DO NOTHING"
        );
        self.exec(&sql, vec![p, n, pool.into(), DEFAULT_POOL.into()])
            .await?;
        self.lookup(queue)
            .await?
            .ok_or_else(|| StorageError::PoolDoesNotExist { name: pool.into() })
    }

    async fn unplace(&self, queue: &QueueId) -> Result<()> {
        let (p, n) = q(queue);
        self.exec(
            "DELETE FROM catalogue WHERE project = $1 AND queue = $2",
            vec![p, n],
        )
        .await
        .map(|_| ())
    }
}
