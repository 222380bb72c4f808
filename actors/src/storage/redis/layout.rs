//! The Redis key layout's version (`zq:layout`), and the upgrade of data written in
//! layout 1 (`zq:<queue>:<len(project)>:<project>`, queue lists `zq:queues:<project>`),
//! whose keys could collide across projects.
//!
//! The store checks the version before its first command. With no version key and no
//! layout-1 data, it records layout 2. With layout-1 data, it moves every queue (metadata,
//! messages with their claims, claim sets, subscriptions) and the catalog entries to the
//! layout-2 keys and builds the indexes, then records layout 2. A version newer than this
//! server's refuses service (503) rather than misreading it. The upgrade is not atomic:
//! run it with one server, before the others start (README, "Backends").

use std::collections::HashSet;

use super::{prefix, queues_key, unavailable, RedisStore, LAYOUT, LAYOUT_KEY};
use crate::error::Result;
use crate::model::QueueId;

/// The layout-1 prefix of a queue.
fn v1_prefix(project: &str, queue: &str) -> String {
    format!("zq:{queue}:{}:{project}", project.len())
}

/// The queue a layout-1 prefix names (catalog fields are prefixes).
fn parse_v1_prefix(field: &str) -> Option<QueueId> {
    let rest = field.strip_prefix("zq:")?;
    let (queue, rest) = rest.split_once(':')?;
    let (len, project) = rest.split_once(':')?;
    (len.parse::<usize>().ok()? == project.len()).then(|| QueueId::new(project, queue))
}

/// `text` as a literal in a SCAN pattern.
fn glob_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl RedisStore {
    /// Waits until the data is in the current layout (see the module doc).
    pub(super) async fn ready(&self) -> Result<()> {
        self.layout
            .get_or_try_init(|| self.upgrade_layout())
            .await
            .map(|_| ())
    }

    async fn upgrade_layout(&self) -> Result<()> {
        let mut get = redis::cmd("GET");
        get.arg(LAYOUT_KEY);
        let version: Option<i64> = self.raw_command(get, "GET").await?;
        match version {
            Some(v) if v == LAYOUT => return Ok(()),
            Some(v) if v > LAYOUT => {
                return Err(unavailable(format!(
                    "the data is in key layout {v}, newer than this server's {LAYOUT}"
                )))
            }
            _ => {}
        }
        // Layout 1's collisions: a key that looks like a project's queue list may be some
        // queue's own key (another type: skipped) or index (its members are no queues: a
        // queue is real when its metadata key exists). Lists go once every queue has moved.
        let mut lists = Vec::new();
        let mut queues = Vec::new();
        for list in self.keys_like("zq:queues:*").await? {
            let project = list["zq:queues:".len()..].to_owned();
            let mut range = redis::cmd("ZRANGE");
            range.arg(&list).arg(0).arg(-1);
            let Ok(names) = self.raw_command::<Vec<String>>(range, "ZRANGE").await else {
                continue;
            };
            lists.push(list);
            for name in names {
                let project = project.as_str();
                if self
                    .exists(&format!("{}:meta", v1_prefix(project, &name)))
                    .await?
                {
                    queues.push(QueueId::new(project, name));
                }
            }
        }
        let count = queues.len();
        for queue in queues {
            self.upgrade_queue(&queue).await?;
        }
        for list in lists {
            self.del(&list).await?;
        }
        self.upgrade_catalog().await?;
        let mut set = redis::cmd("SET");
        set.arg(LAYOUT_KEY).arg(LAYOUT);
        self.raw_command::<()>(set, "SET").await?;
        if count > 0 {
            tracing::warn!(queues = count, "Redis data upgraded from key layout 1 to 2");
        }
        Ok(())
    }

    async fn upgrade_queue(&self, queue: &QueueId) -> Result<()> {
        let old = v1_prefix(&queue.project, &queue.name);
        let new = prefix(queue);
        for suffix in [":meta", ":seq", ":subs"] {
            self.rename(&format!("{old}{suffix}"), &format!("{new}{suffix}"))
                .await?;
        }
        let mut range = redis::cmd("ZRANGE");
        range
            .arg(format!("{old}:ids"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES");
        let ids: Vec<(String, i64)> = self.raw_command(range, "ZRANGE").await?;
        let now = self.clock.now_ms();
        for (id, seq) in ids {
            let mut get = redis::cmd("HMGET");
            get.arg(format!("{old}:m:{id}"))
                .arg(&["e", "v", "ci", "ce"][..]);
            let f: (Option<i64>, Option<i64>, Option<String>, Option<i64>) =
                self.raw_command(get, "HMGET").await?;
            let (Some(e), v) = (f.0, f.1.unwrap_or(0)) else {
                continue; // expired since
            };
            self.rename(&format!("{old}:m:{id}"), &format!("{new}:m:{id}"))
                .await?;
            let held = f.2.is_some_and(|c| !c.is_empty()) && f.3.unwrap_or(0) > now;
            let mut index = redis::pipe();
            index
                .cmd("ZADD")
                .arg(format!("{new}:ids"))
                .arg(seq)
                .arg(&id)
                .ignore()
                .cmd("ZADD")
                .arg(format!("{new}:exp"))
                .arg(e)
                .arg(&id)
                .ignore();
            if held {
                index
                    .cmd("ZADD")
                    .arg(format!("{new}:held"))
                    .arg(f.3)
                    .arg(&id)
                    .ignore();
            } else if v > now {
                index
                    .cmd("ZADD")
                    .arg(format!("{new}:later"))
                    .arg(v)
                    .arg(&id)
                    .ignore();
            } else {
                index
                    .cmd("ZADD")
                    .arg(format!("{new}:free"))
                    .arg(seq)
                    .arg(&id)
                    .ignore();
            }
            self.raw_pipe(index).await?;
        }
        self.del(&format!("{old}:ids")).await?;
        for claim in self
            .keys_like(&format!("{}:c:*", glob_literal(&old)))
            .await?
        {
            let suffix = &claim[old.len()..];
            self.rename(&claim, &format!("{new}{suffix}")).await?;
        }
        let mut subs = redis::cmd("HVALS");
        subs.arg(format!("{new}:subs"));
        let subs: Vec<String> = self.raw_command(subs, "HVALS").await?;
        for id in subs {
            self.rename(&format!("{old}:s:{id}"), &format!("{new}:s:{id}"))
                .await?;
        }
        let mut add = redis::cmd("ZADD");
        add.arg(queues_key(&queue.project)).arg(0).arg(&queue.name);
        self.raw_command::<i64>(add, "ZADD").await.map(|_| ())
    }

    /// Catalog entries (pooling) are keyed by queue prefix: re-key the layout-1 ones.
    async fn upgrade_catalog(&self) -> Result<()> {
        let mut all = redis::cmd("HGETALL");
        all.arg(super::control::CATALOG);
        let entries: Vec<(String, String)> = self.raw_command(all, "HGETALL").await?;
        for (field, pool) in entries {
            let Some(queue) = parse_v1_prefix(&field) else {
                continue;
            };
            let mut move_ = redis::pipe();
            move_
                .atomic()
                .cmd("HSET")
                .arg(super::control::CATALOG)
                .arg(prefix(&queue))
                .arg(&pool)
                .ignore()
                .cmd("HDEL")
                .arg(super::control::CATALOG)
                .arg(&field)
                .ignore();
            self.raw_pipe(move_).await?;
        }
        Ok(())
    }

    async fn keys_like(&self, pattern: &str) -> Result<Vec<String>> {
        let mut found = HashSet::new();
        let mut cursor = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<String>) = self.raw_command(scan, "SCAN").await?;
            found.extend(keys);
            if next == 0 {
                return Ok(found.into_iter().collect());
            }
            cursor = next;
        }
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(key);
        Ok(self.raw_command::<i64>(cmd, "EXISTS").await? > 0)
    }

    async fn del(&self, key: &str) -> Result<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        self.raw_command::<i64>(cmd, "DEL").await.map(|_| ())
    }

    /// Renames `from` if it exists.
    async fn rename(&self, from: &str, to: &str) -> Result<()> {
        if self.exists(from).await? {
            let mut cmd = redis::cmd("RENAME");
            cmd.arg(from).arg(to);
            self.raw_command::<()>(cmd, "RENAME").await?;
        }
        Ok(())
    }

    async fn raw_pipe(&self, pipe: redis::Pipeline) -> Result<()> {
        let run = async {
            let mut conn = self.pool.get().await.map_err(unavailable)?;
            let answer = pipe.query_async::<()>(&mut conn.redis).await;
            conn.note(&answer);
            answer.map_err(unavailable)
        };
        crate::storage::bounded(self.timeout, "upgrade", run).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_1_prefixes_parse_back() {
        let q = parse_v1_prefix(&v1_prefix("6:victim:ids", "queues")).unwrap();
        assert_eq!(q, QueueId::new("6:victim:ids", "queues"));
        assert!(parse_v1_prefix("zq:q:3:ab").is_none());
        assert!(parse_v1_prefix("zq2:1:p:q:x").is_none());
    }

    #[test]
    fn layout_2_prefixes_cannot_collide() {
        let a = prefix(&QueueId::new("victim", "queues"));
        let b = prefix(&QueueId::new("6:victim:q:queues", "x"));
        assert_ne!(a, b);
        assert!(!b.starts_with(&a) && !a.starts_with(&b));
        assert_ne!(queues_key("6:victim:ids"), format!("{a}:ids"));
    }

    #[test]
    fn glob_literals_escape_pattern_characters() {
        assert_eq!(glob_literal("zq:a*b?[c]\\"), "zq:a\\*b\\?\\[c\\]\\\\");
    }
}
