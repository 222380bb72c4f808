//! A store whose every call fails as an unreachable backend would, so the transport's
//! "backend failure answers 503, never hangs" path is tested end to end (Zaqar keeps the
//! same idea in `tests/faulty_storage.py`).

use async_trait::async_trait;
use std::sync::Arc;

use crate::error::{Result, StorageError};
use crate::model::{
    Claim, ListFilter, Message, MessageMarker, Metadata, NewMessage, QueueEntry, QueueId,
    QueueStats, Subscription, SubscriptionUpdate,
};
use crate::storage::prelude::*;

#[derive(Debug, Default, Clone, Copy)]
pub struct FaultyStore;

fn down<T>() -> Result<T> {
    Err(StorageError::unavailable("faulty store: backend down"))
}

#[async_trait]
impl DataStore for FaultyStore {
    fn name(&self) -> &'static str {
        "FaultyStore"
    }

    async fn ping(&self) -> Result<()> {
        down()
    }
}

#[async_trait]
impl QueueStore for FaultyStore {
    async fn create_queue(&self, _: &QueueId, _: Metadata) -> Result<bool> {
        down()
    }

    async fn queue_metadata(&self, _: &QueueId) -> Result<Option<Metadata>> {
        down()
    }

    async fn set_queue_metadata(&self, _: &QueueId, _: Metadata) -> Result<()> {
        down()
    }

    async fn delete_queue(&self, _: &QueueId) -> Result<()> {
        down()
    }

    async fn list_queues(&self, _: &str, _: Option<String>, _: u32) -> Result<Vec<QueueEntry>> {
        down()
    }

    async fn queue_stats(&self, _: &QueueId) -> Result<QueueStats> {
        down()
    }

    async fn purge_queue(&self, _: &QueueId, _: bool, _: bool) -> Result<()> {
        down()
    }
}

#[async_trait]
impl MessageStore for FaultyStore {
    async fn post_messages(
        &self,
        _: &QueueId,
        _: &str,
        _: Arc<[NewMessage]>,
        _: u64,
        _: bool,
    ) -> Result<Vec<String>> {
        down()
    }

    async fn list_messages(
        &self,
        _: &QueueId,
        _: ListFilter,
        _: Option<MessageMarker>,
        _: u32,
    ) -> Result<Vec<Message>> {
        down()
    }

    async fn get_messages(&self, _: &QueueId, _: Vec<String>) -> Result<Vec<Message>> {
        down()
    }

    async fn delete_message(&self, _: &QueueId, _: &str, _: Option<&str>) -> Result<()> {
        down()
    }

    async fn delete_messages(&self, _: &QueueId, _: Vec<String>) -> Result<()> {
        down()
    }

    async fn pop_messages(&self, _: &QueueId, _: u32) -> Result<Vec<Message>> {
        down()
    }
}

#[async_trait]
impl ClaimStore for FaultyStore {
    async fn create_claim(&self, _: &QueueId, _: i64, _: i64, _: u32) -> Result<Option<Claim>> {
        down()
    }

    async fn get_claim(&self, _: &QueueId, _: &str) -> Result<Claim> {
        down()
    }

    async fn renew_claim(&self, _: &QueueId, _: &str, _: i64, _: i64) -> Result<()> {
        down()
    }

    async fn release_claim(&self, _: &QueueId, _: &str) -> Result<()> {
        down()
    }
}

#[async_trait]
impl SubscriptionStore for FaultyStore {
    async fn create_subscription(
        &self,
        _: &QueueId,
        _: &str,
        _: i64,
        _: Metadata,
    ) -> Result<String> {
        down()
    }

    async fn list_subscriptions(
        &self,
        _: &QueueId,
        _: Option<String>,
        _: u32,
    ) -> Result<Vec<Subscription>> {
        down()
    }

    async fn get_subscription(&self, _: &QueueId, _: &str) -> Result<Subscription> {
        down()
    }

    async fn update_subscription(&self, _: &QueueId, _: &str, _: SubscriptionUpdate) -> Result<()> {
        down()
    }

    async fn confirm_subscription(&self, _: &QueueId, _: &str, _: bool) -> Result<()> {
        down()
    }

    async fn delete_subscription(&self, _: &QueueId, _: &str) -> Result<()> {
        down()
    }
}
