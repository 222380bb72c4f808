//! Domain errors of the storage layer.
//!
//! They name what went wrong in queue terms and carry what a message needs; they know
//! nothing of HTTP. The transport maps each variant to a status code in exactly one place.

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
    /// The text is for logs only; it never reaches a client.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl StorageError {
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
        StorageError::Unavailable(e.to_string())
    }
}

impl From<actix::MailboxError> for StorageError {
    fn from(e: actix::MailboxError) -> Self {
        StorageError::Unavailable(format!("actor mailbox: {e}"))
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
