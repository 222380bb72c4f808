//! `Traced<M>`: the envelope every inter-actor message travels in.
//!
//! The sender wraps a message with [`Traced::new`], which captures the span it is running in
//! (the HTTP request span, or the previous actor's hop span) and the enqueue time. The
//! receiver calls [`Traced::receive`] to open a child span named after itself and the message
//! (`PoolRouter PostMessages`, `SqlStore PostMessages`) that records how long the envelope
//! waited in the mailbox, and runs its work through [`in_hop`], which records the outcome.
//!
//! When the request is not traced there is no current span: the envelope then holds `None`
//! (no allocation, no clock read) and the receiver opens no span.

use std::future::Future;
use std::time::Instant;

use actix::Message;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::error::StorageError;

/// Tracing target of the per-hop spans, so filters can single them out.
pub const HOP_TARGET: &str = "zaqar::hop";

/// The sender's side of a traced hop.
#[derive(Debug)]
struct Hop {
    parent: Span,
    enqueued_at: Instant,
}

/// A message plus the trace context of whoever sent it.
#[derive(Debug)]
pub struct Traced<M> {
    pub msg: M,
    hop: Option<Hop>,
}

impl<M: Message> Message for Traced<M> {
    type Result = M::Result;
}

impl<M> Traced<M> {
    /// Wraps `msg` with the current span as its parent.
    pub fn new(msg: M) -> Self {
        let current = Span::current();
        let hop = (!current.is_disabled()).then(|| Hop {
            parent: current,
            enqueued_at: Instant::now(),
        });
        Self { msg, hop }
    }

    /// Whether a trace context travels with this message.
    pub fn is_traced(&self) -> bool {
        self.hop.is_some()
    }

    /// Opens the receiving actor's span for this message (a disabled span when untraced) and
    /// hands back the message.
    pub fn receive(self, actor: &'static str, message: &'static str) -> (M, Span) {
        let span = match self.hop {
            None => Span::none(),
            Some(hop) => {
                let wait_us = hop.enqueued_at.elapsed().as_micros() as u64;
                tracing::info_span!(
                    target: HOP_TARGET,
                    parent: &hop.parent,
                    "actor hop",
                    otel.name = %format_args!("{actor} {message}"),
                    actor = actor,
                    message = message,
                    mailbox_wait_us = wait_us,
                    outcome = Empty,
                    error.kind = Empty,
                    otel.status_code = Empty,
                )
            }
        };
        (self.msg, span)
    }
}

/// Runs a handler's work inside its hop span and records the outcome on it.
pub async fn in_hop<T, F>(span: Span, work: F) -> Result<T, StorageError>
where
    F: Future<Output = Result<T, StorageError>>,
{
    let result = work.instrument(span.clone()).await;
    if !span.is_disabled() {
        match &result {
            Ok(_) => {
                span.record("outcome", "ok");
            }
            Err(e) => {
                span.record("outcome", "error");
                span.record("error.kind", e.kind());
                span.record("otel.status_code", "ERROR");
            }
        }
    }
    result
}

impl StorageError {
    /// A stable, secret-free name for the error, for spans and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::QueueDoesNotExist { .. } => "queue_does_not_exist",
            StorageError::MessageDoesNotExist { .. } => "message_does_not_exist",
            StorageError::ClaimDoesNotExist { .. } => "claim_does_not_exist",
            StorageError::SubscriptionDoesNotExist { .. } => "subscription_does_not_exist",
            StorageError::MessageIsClaimed { .. } => "message_is_claimed",
            StorageError::ClaimNotValid => "claim_not_valid",
            StorageError::MessageNotClaimedBy { .. } => "message_not_claimed_by",
            StorageError::PostTooLarge { .. } => "post_too_large",
            StorageError::Unavailable(_) => "unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ping;
    impl Message for Ping {
        type Result = ();
    }

    #[test]
    fn untraced_envelope_carries_nothing() {
        let env = Traced::new(Ping);
        assert!(!env.is_traced());
        let (_, span) = env.receive("A", "Ping");
        assert!(span.is_disabled());
    }
}
