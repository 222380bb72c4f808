//! `Traced<M>`: the envelope every inter-actor message travels in, and the trace context
//! that flows with a traced request.
//!
//! A traced request carries a [`TraceCtx`]: the span its next hop hangs under (for `tracing`)
//! and the OpenTelemetry context to parent it to (for export), plus which layers are switched
//! on. The HTTP layer sets it as the *ambient* context of the request's task; [`Traced::new`]
//! picks it up with the enqueue time. The receiving actor calls [`Traced::receive`], which
//! opens the hop's span (`PoolRouter PostMessages`, `SqlStore PostMessages`) with the
//! mailbox wait, unless that layer is switched off: then no span is opened and the context
//! passes through unchanged, so the spans of the other layers stay connected. [`in_hop`] runs
//! the handler with the hop's context as the ambient one and records the outcome.
//!
//! An untraced request has no ambient context: the envelope holds `None` (no allocation, no
//! clock read) and no span is opened anywhere. Built without the `profiler` feature, none of
//! this exists: the envelope is the bare message.

use std::future::Future;

use actix::Message;

use crate::error::StorageError;
use crate::model::QueueId;

mod batch;

pub use batch::{record_batch, BatchContext, BatchInfo, BatchSpan, JobTrace};
#[cfg(feature = "profiler")]
pub use traced::{
    current, scope, start_span, with_current, Layers, TraceCtx, DB_TARGET, HOP_TARGET,
};

/// Which switchable layer an actor belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorLayer {
    /// The pool router (`trace_pooling`).
    Pooling,
    /// A storage actor: traced whenever the request is.
    Storage,
}

/// What a hop's span says about the message, besides its name.
#[derive(Clone, Copy, Debug, Default)]
pub struct HopInfo<'a> {
    pub queue: Option<&'a QueueId>,
    /// `messaging.operation`: send, receive, settle, ...
    pub operation: &'static str,
}

/// A message plus the trace context of whoever sent it.
#[derive(Debug)]
pub struct Traced<M> {
    pub msg: M,
    #[cfg(feature = "profiler")]
    hop: Option<traced::Sent>,
}

impl<M: Message> Message for Traced<M> {
    type Result = M::Result;
}

/// The receiving side of a hop: its span (if any) and the context its work runs under.
pub struct Received {
    #[cfg(feature = "profiler")]
    inner: Option<traced::Open>,
}

impl<M> Traced<M> {
    /// Wraps `msg` with the ambient trace context, if the request is traced.
    pub fn new(msg: M) -> Self {
        Self {
            msg,
            #[cfg(feature = "profiler")]
            hop: traced::Sent::capture(),
        }
    }

    /// Whether a trace context travels with this message.
    pub fn is_traced(&self) -> bool {
        #[cfg(feature = "profiler")]
        return self.hop.is_some();
        #[cfg(not(feature = "profiler"))]
        false
    }

    /// Opens the receiving actor's span for this message, when the request is traced and
    /// the actor's layer is on, and hands back the message.
    #[cfg_attr(not(feature = "profiler"), allow(unused_variables))]
    pub fn receive(
        self,
        layer: ActorLayer,
        actor: &'static str,
        message: &'static str,
        info: impl for<'a> FnOnce(&'a M) -> HopInfo<'a>,
    ) -> (M, Received) {
        #[cfg(feature = "profiler")]
        let received = Received {
            inner: self
                .hop
                .map(|sent| sent.open(layer, actor, message, info(&self.msg))),
        };
        #[cfg(not(feature = "profiler"))]
        let received = Received {};
        (self.msg, received)
    }
}

/// How many messages an answer carries, for `messaging.batch.message_count` (the request
/// types say it of their outputs).
pub trait BatchSize {
    fn batch_size(&self) -> Option<usize> {
        None
    }
}

/// The running hop's span when the request is traced and the pooling layer is on: where the
/// router records what it decided.
#[cfg(feature = "profiler")]
pub fn pooling_span() -> Option<tracing::Span> {
    with_current(|ctx| ctx.layers.pooling)
        .unwrap_or(false)
        .then(tracing::Span::current)
}

/// Which `[profiler] trace_*` switch a database's command spans answer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbLayer {
    Sql,
    Redis,
    MongoDb,
}

/// How a backend's command spans look: each backend declares its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DbSystem {
    /// `db.system`.
    pub system: &'static str,
    /// The span name's prefix (`SQL INSERT`).
    pub prefix: &'static str,
    pub layer: DbLayer,
    /// Spans named by their statement (a script's name) rather than by the operation.
    pub named_by_statement: bool,
}

/// Runs one database command in a span of its own (`SQL INSERT`, `REDIS post`,
/// `MONGODB find`) under the current hop, when the request is traced and the backend's layer
/// is on. `statement` is the command's text without values (SQL with placeholders, a script
/// name); never a message body.
#[cfg_attr(not(feature = "profiler"), allow(unused_variables))]
pub async fn db_call<T>(
    system: DbSystem,
    operation: &str,
    statement: Option<&str>,
    run: impl std::future::IntoFuture<Output = T>,
) -> T {
    #[cfg(feature = "profiler")]
    if with_current(|ctx| ctx.layers.on(system.layer)) == Some(true) {
        use tracing::Instrument;
        let (db_system, prefix) = (system.system, system.prefix);
        let name = statement
            .filter(|_| system.named_by_statement)
            .unwrap_or(operation);
        let span = tracing::info_span!(
            target: DB_TARGET,
            "db command",
            otel.name = %format_args!("{prefix} {name}"),
            otel.kind = "client",
            db.system = db_system,
            db.operation = operation,
            db.statement = statement,
            // A statement committed with others (SQLite's write lane): how many requests
            // its batch served, and how long this one waited for the batch to begin.
            zaqar.batch.size = tracing::field::Empty,
            zaqar.batch.wait_us = tracing::field::Empty,
        );
        return run.into_future().instrument(span).await;
    }
    run.await
}

/// Runs a handler's work under its hop (span entered, context ambient) and records the
/// outcome on the span.
pub async fn in_hop<T, F>(received: Received, work: F) -> Result<T, StorageError>
where
    T: BatchSize,
    F: Future<Output = Result<T, StorageError>>,
{
    #[cfg(feature = "profiler")]
    if let Some(open) = received.inner {
        return open.run(work).await;
    }
    #[cfg(not(feature = "profiler"))]
    let _ = received;
    work.await
}

#[cfg(feature = "profiler")]
mod traced {
    use std::future::Future;
    use std::time::Instant;

    use opentelemetry::trace::{SpanContext, TraceId};
    use tracing::field::Empty;
    use tracing::{Instrument, Span};

    use crate::spans::SpanExt;

    use super::BatchSize;
    use super::{ActorLayer, HopInfo};
    use crate::error::StorageError;

    /// Tracing target of the per-hop spans.
    pub const HOP_TARGET: &str = "zaqar::hop";
    /// Tracing target of the database command spans.
    pub const DB_TARGET: &str = "zaqar::db";

    /// Which optional layers emit spans (`[profiler] trace_*`). The HTTP switch is applied
    /// where the trace starts, storage actors follow the trace itself.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Layers {
        pub pooling: bool,
        pub sql: bool,
        pub redis: bool,
        pub mongodb: bool,
    }

    impl Layers {
        /// Whether a database's command spans are on.
        pub fn on(&self, layer: super::DbLayer) -> bool {
            match layer {
                super::DbLayer::Sql => self.sql,
                super::DbLayer::Redis => self.redis,
                super::DbLayer::MongoDb => self.mongodb,
            }
        }
    }

    impl Default for Layers {
        fn default() -> Self {
            Self {
                pooling: true,
                sql: true,
                redis: true,
                mongodb: true,
            }
        }
    }

    /// The trace context of a traced request at one point of its path.
    #[derive(Clone, Debug)]
    pub struct TraceCtx {
        /// The span the next span hangs under in `tracing` (none when every span above
        /// was switched off).
        pub span: Span,
        /// The OpenTelemetry parent of the next span: the last exported span, or the
        /// caller's remote span (invalid when there is none).
        pub cx: SpanContext,
        /// The trace id the first exported span must take when `cx` has no parent span (a
        /// signed request's `base_id`), so the trace id is the caller's without inventing a
        /// parent span that does not exist.
        pub root: Option<TraceId>,
        pub layers: Layers,
    }

    /// Starts `span` under `ctx` (its OpenTelemetry parent, or as the root with the chosen
    /// trace id) and answers its context, the parent for what comes next.
    pub fn start_span(span: &Span, ctx: &TraceCtx) -> SpanContext {
        span.set_trace_parent(&ctx.cx, ctx.root);
        span.span_context().unwrap_or_else(|| ctx.cx.clone())
    }

    tokio::task_local! {
        static AMBIENT: TraceCtx;
    }

    /// The trace context of the running task, when its request is traced.
    pub fn current() -> Option<TraceCtx> {
        with_current(Clone::clone)
    }

    /// `f` of the running task's trace context, when its request is traced. Cheaper than
    /// [`current`] when nothing is kept: cloning a context clones its span, a registry
    /// lookup now and another when the clone is dropped.
    pub fn with_current<R>(f: impl FnOnce(&TraceCtx) -> R) -> Option<R> {
        AMBIENT.try_with(f).ok()
    }

    /// Runs `work` with `ctx` as its ambient trace context.
    pub fn scope<F: Future>(ctx: TraceCtx, work: F) -> impl Future<Output = F::Output> {
        AMBIENT.scope(ctx, work)
    }

    #[derive(Debug)]
    pub(super) struct Sent {
        ctx: TraceCtx,
        enqueued_at: Instant,
    }

    impl Sent {
        pub(super) fn capture() -> Option<Self> {
            current().map(|ctx| Sent {
                ctx,
                enqueued_at: Instant::now(),
            })
        }

        pub(super) fn open(
            self,
            layer: ActorLayer,
            actor: &'static str,
            message: &'static str,
            info: HopInfo<'_>,
        ) -> Open {
            let on = match layer {
                ActorLayer::Pooling => self.ctx.layers.pooling,
                ActorLayer::Storage => true,
            };
            if !on {
                return Open {
                    span: Span::none(),
                    ctx: self.ctx,
                };
            }
            let wait_us = self.enqueued_at.elapsed().as_micros() as u64;
            let span = tracing::info_span!(
                target: HOP_TARGET,
                parent: &self.ctx.span,
                "actor hop",
                otel.name = %format_args!("{actor} {message}"),
                otel.kind = "internal",
                otel.status_code = Empty,
                actor = actor,
                message = message,
                mailbox_wait_us = wait_us,
                outcome = Empty,
                error.kind = Empty,
                messaging.system = "zaqar",
                messaging.operation = info.operation,
                messaging.destination.name = info.queue.map(|q| q.name.as_str()),
                messaging.batch.message_count = Empty,
                zaqar.project = info.queue.map(|q| q.project.as_str()),
                zaqar.pool = Empty,
                zaqar.catalog = Empty,
                zaqar.placement = Empty,
            );
            let ctx = TraceCtx {
                cx: start_span(&span, &self.ctx),
                span: span.clone(),
                root: self.ctx.root,
                layers: self.ctx.layers,
            };
            Open { span, ctx }
        }
    }

    pub(super) struct Open {
        span: Span,
        ctx: TraceCtx,
    }

    impl Open {
        pub(super) async fn run<T, F>(self, work: F) -> Result<T, StorageError>
        where
            T: BatchSize,
            F: Future<Output = Result<T, StorageError>>,
        {
            let span = self.span;
            let result = scope(self.ctx, work.instrument(span.clone())).await;
            if !span.is_disabled() {
                match &result {
                    Ok(answer) => {
                        span.record("outcome", "ok");
                        if let Some(n) = answer.batch_size() {
                            span.record("messaging.batch.message_count", n as u64);
                        }
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
    }
}
