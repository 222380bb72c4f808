//! Domain errors of the storage layer.
//!
//! They name what went wrong in queue terms and carry what a message needs; they know
//! nothing of HTTP. The transport maps each variant to a status code in exactly one place.

use std::sync::Arc;

use thiserror::Error;

use crate::model::QueueId;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StorageError {
    #[error("Queue {queue} does not exist for project {project}")]
    QueueDoesNotExist { project: String, queue: String },

    #[error("Message {id} does not exist in queue {queue} for project {project}")]
    MessageDoesNotExist {
        id: String,
        queue: String,
        project: String,
    },

    #[error("Claim {id} does not exist in queue {queue} for project {project}")]
    ClaimDoesNotExist {
        id: String,
        queue: String,
        project: String,
    },

    /// Zaqar's text, which names neither queue nor project.
    #[error("Subscription {id} does not exist")]
    SubscriptionDoesNotExist {
        id: String,
        queue: String,
        project: String,
    },

    /// Another live subscription of the queue has this subscriber (subscriptions are unique
    /// by project, queue and subscriber).
    #[error("Such subscription already exists. Subscriptions are unique by project + queue + subscriber URI.")]
    SubscriptionAlreadyExists,

    /// Delete without a claim id of a message held by a live claim.
    #[error("Message {id} is claimed")]
    MessageIsClaimed { id: String },

    /// A claim id was given, but no live claim with that id exists.
    #[error("The specified claim does not exist or has expired")]
    ClaimNotValid,

    /// A live claim id was given, but the message is held by another claim.
    #[error("Message {id} is not claimed by {claim}")]
    MessageNotClaimedBy { id: String, claim: String },

    /// A claim id was given, but the message is held by no claim.
    #[error("Message {id} is not claimed")]
    MessageNotClaimed { id: String },

    /// The batch is larger than the queue's `_max_messages_post_size`.
    #[error("Message collection size is too large. Max size {max}")]
    PostTooLarge { max: u64 },

    #[error("Pool {name} does not exist")]
    PoolDoesNotExist { name: String },

    #[error("Flavor {name} does not exist")]
    FlavorDoesNotExist { name: String },

    /// A pool still holds queues and cannot be deleted.
    #[error("Pool {name} still holds {queues} queue(s); delete them first")]
    PoolInUse { name: String, queues: u64 },

    /// A registered pool's URI cannot change: its queues' messages are in that database.
    #[error("The uri of pool {name} cannot change; delete the pool and register it again")]
    PoolUriFixed { name: String },

    /// A pool being registered could not be reached. `uri` has its password masked.
    #[error("cannot connect to {uri}")]
    PoolUnreachable { uri: String },

    /// A pool definition that cannot be used (unknown scheme, reserved name).
    #[error("{0}")]
    InvalidPool(String),

    /// A queue asked for a flavor that does not exist or has no pool taking new queues.
    #[error("Flavor {flavor} does not exist or has no pool with a weight above 0")]
    NoPoolForFlavor { flavor: String },

    /// The backend answers but cannot write (its disk is full): reads still work, and
    /// deletes may free space. The text is for logs only.
    #[error("storage degraded: {0}")]
    Degraded(String),

    /// The backend could not serve the request (connection lost, timeout, mailbox closed).
    /// The cause is for logs only; it never reaches a client.
    #[error("storage unavailable: {}", .0.chain())]
    Unavailable(#[source] Cause),
}

/// Why a backend could not serve: the driver's own error, kept whole (with its chain of
/// sources) for the one log line it gets, or a text where there is no error value.
#[derive(Debug, Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    pub fn new(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Cause(Arc::from(e.into()))
    }

    /// This cause and every source under it, as one text. A source that its error's own
    /// text already ends with (many drivers print their source) is not written twice.
    pub fn chain(&self) -> String {
        let mut text = self.0.to_string();
        let mut next = self.0.source();
        while let Some(e) = next {
            let part = e.to_string();
            if !text.ends_with(&part) {
                text.push_str(": ");
                text.push_str(&part);
            }
            next = e.source();
        }
        text
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Two causes are equal when they read the same: errors are compared in tests, and a
/// driver's error has no equality of its own.
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.chain() == other.chain()
    }
}

impl Eq for Cause {}

/// A driver's error and what was being done when it came: "redis", "stored body".
#[derive(Debug, Error)]
#[error("{what}")]
pub struct Context {
    what: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StorageError {
    /// A backend failure with nothing more to say than `cause`.
    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StorageError::Unavailable(Cause::new(cause))
    }

    /// A backend failure `cause`, met while doing `what`.
    pub fn unavailable_in(
        what: impl Into<String>,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StorageError::Unavailable(Cause::new(Context {
            what: what.into(),
            source: cause.into(),
        }))
    }

    pub fn queue_missing(queue: &QueueId) -> Self {
        StorageError::QueueDoesNotExist {
            project: queue.project.clone(),
            queue: queue.name.clone(),
        }
    }

    pub fn claim_missing(queue: &QueueId, id: &str) -> Self {
        StorageError::ClaimDoesNotExist {
            id: id.to_owned(),
            queue: queue.name.clone(),
            project: queue.project.clone(),
        }
    }

    pub fn subscription_missing(queue: &QueueId, id: &str) -> Self {
        StorageError::SubscriptionDoesNotExist {
            id: id.to_owned(),
            queue: queue.name.clone(),
            project: queue.project.clone(),
        }
    }
}

impl From<sea_orm::DbErr> for StorageError {
    fn from(e: sea_orm::DbErr) -> Self {
        StorageError::unavailable(e)
    }
}

impl From<actix::MailboxError> for StorageError {
    fn from(e: actix::MailboxError) -> Self {
        StorageError::unavailable_in("actor mailbox", e)
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// A stable, secret-free name for the error, for spans and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::QueueDoesNotExist { .. } => "queue_does_not_exist",
            StorageError::MessageDoesNotExist { .. } => "message_does_not_exist",
            StorageError::ClaimDoesNotExist { .. } => "claim_does_not_exist",
            StorageError::SubscriptionDoesNotExist { .. } => "subscription_does_not_exist",
            StorageError::SubscriptionAlreadyExists => "subscription_already_exists",
            StorageError::MessageIsClaimed { .. } => "message_is_claimed",
            StorageError::ClaimNotValid => "claim_not_valid",
            StorageError::MessageNotClaimedBy { .. } => "message_not_claimed_by",
            StorageError::MessageNotClaimed { .. } => "message_not_claimed",
            StorageError::PostTooLarge { .. } => "post_too_large",
            StorageError::PoolDoesNotExist { .. } => "pool_does_not_exist",
            StorageError::FlavorDoesNotExist { .. } => "flavor_does_not_exist",
            StorageError::PoolInUse { .. } => "pool_in_use",
            StorageError::PoolUriFixed { .. } => "pool_uri_fixed",
            StorageError::PoolUnreachable { .. } => "pool_unreachable",
            StorageError::InvalidPool(_) => "invalid_pool",
            StorageError::NoPoolForFlavor { .. } => "no_pool_for_flavor",
            StorageError::Degraded(_) => "degraded",
            StorageError::Unavailable(_) => "unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_backend_keeps_its_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = StorageError::unavailable_in("pool p, queue q", io);
        let StorageError::Unavailable(cause) = &e else {
            panic!("not unavailable: {e:?}");
        };
        let source = std::error::Error::source(&e).expect("a source");
        assert_eq!(source.to_string(), "pool p, queue q");
        let io = source.source().expect("the driver's error under it");
        assert!(io.downcast_ref::<std::io::Error>().is_some());
        assert_eq!(cause.chain(), "pool p, queue q: refused");
        assert_eq!(
            e.to_string(),
            "storage unavailable: pool p, queue q: refused"
        );
    }
}
