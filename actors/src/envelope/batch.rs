//! A group commit in the traces: one batch (SQLite's write lane) serves many requests, some
//! traced, most not. Each traced request keeps its own statement span; the batch, when it
//! serves at least one traced request, gets a span of its own (`SQL BATCH`, the transaction
//! from BEGIN to COMMIT) under the first traced request's statement, linked to the others'.
//! Every traced statement span links to the batch's span, the link saying how many requests
//! the batch served and how long this one waited for it. A batch of untraced requests opens
//! no span: only signed requests are exported.
//!
//! The statement's context is captured on the request's task ([`JobTrace::capture`]) and
//! travels with the job to the thread that runs the batch ([`BatchSpan::open`]).

use std::time::Duration;

use super::DbSystem;

/// Where a job sits in a trace: its statement's span, when its request is traced and the
/// backend's spans are on.
#[derive(Clone, Debug, Default)]
pub struct JobTrace {
    #[cfg(feature = "profiler")]
    statement: Option<opentelemetry::trace::SpanContext>,
}

impl JobTrace {
    /// The current statement span of a traced request (inside [`super::db_call`]), if any.
    #[cfg_attr(not(feature = "profiler"), allow(unused_variables))]
    pub fn capture(system: DbSystem) -> Self {
        #[cfg(feature = "profiler")]
        {
            use crate::spans::SpanExt;
            let on = super::with_current(|ctx| ctx.layers.on(system.layer)) == Some(true);
            let span = tracing::Span::current();
            // The statement's span and nothing else: a hop span would get the batch as
            // its child when the statement spans are switched off.
            let statement = span
                .metadata()
                .is_some_and(|m| m.target() == super::DB_TARGET);
            if on && statement {
                return Self {
                    statement: span.span_context(),
                };
            }
        }
        Self::default()
    }
}

/// What a job learns of the batch it was committed in.
#[derive(Clone, Debug)]
pub struct BatchInfo {
    /// Jobs (requests) committed together with this one.
    pub jobs: usize,
    /// How long the job waited before its batch began.
    pub waited: Duration,
    #[cfg(feature = "profiler")]
    span: Option<opentelemetry::trace::SpanContext>,
}

/// The batch's span while the batch runs; none when no job of it is traced.
pub struct BatchSpan {
    #[cfg(feature = "profiler")]
    span: tracing::Span,
}

impl BatchSpan {
    /// Opens the span of a batch of `jobs` (under the first traced one) if any is traced.
    #[cfg_attr(not(feature = "profiler"), allow(unused_variables))]
    pub fn open<'a>(system: DbSystem, jobs: impl Iterator<Item = &'a JobTrace>) -> Self {
        #[cfg(feature = "profiler")]
        {
            use crate::spans::SpanExt;
            let mut size = 0usize;
            let traced: Vec<&opentelemetry::trace::SpanContext> = jobs
                .inspect(|_| size += 1)
                .filter_map(|job| job.statement.as_ref())
                .collect();
            let Some((parent, others)) = traced.split_first() else {
                return Self {
                    span: tracing::Span::none(),
                };
            };
            let span = tracing::info_span!(
                target: super::DB_TARGET,
                "db batch",
                otel.name = %format_args!("{} BATCH", system.prefix),
                otel.kind = "client",
                otel.status_code = tracing::field::Empty,
                db.system = system.system,
                db.operation = "BATCH",
                zaqar.batch.size = size as u64,
                zaqar.batch.traced = traced.len() as u64,
            );
            span.set_trace_parent(parent, None);
            for other in others {
                span.add_link((*other).clone(), Vec::new());
            }
            Self { span }
        }
        #[cfg(not(feature = "profiler"))]
        Self {}
    }

    /// Runs the batch inside the span.
    pub fn in_scope<T>(&self, run: impl FnOnce() -> T) -> T {
        #[cfg(feature = "profiler")]
        return self.span.in_scope(run);
        #[cfg(not(feature = "profiler"))]
        run()
    }

    /// Runs `statement` (the batch's, awaited elsewhere than the requests') inside the span.
    pub async fn run<F: std::future::Future>(&self, statement: F) -> F::Output {
        #[cfg(feature = "profiler")]
        return tracing::Instrument::instrument(statement, self.span.clone()).await;
        #[cfg(not(feature = "profiler"))]
        statement.await
    }

    /// Marks the batch failed (its jobs are then run one by one, each in a batch of its own).
    pub fn failed(&self) {
        #[cfg(feature = "profiler")]
        self.span.record("otel.status_code", "ERROR");
    }

    /// Ends the span (before the batch's requests are answered, so before their spans end).
    pub fn end(self) {}

    /// What the jobs of this batch are told of it (its span's context, taken once).
    pub fn info(&self) -> BatchContext {
        BatchContext {
            #[cfg(feature = "profiler")]
            span: {
                use crate::spans::SpanExt;
                self.span.span_context()
            },
        }
    }
}

/// A batch as its jobs see it, from which each job's [`BatchInfo`] is made.
#[derive(Clone, Debug)]
pub struct BatchContext {
    #[cfg(feature = "profiler")]
    span: Option<opentelemetry::trace::SpanContext>,
}

impl BatchContext {
    /// What a job of `jobs` that waited `waited` is told of this batch.
    pub fn of(&self, jobs: usize, waited: Duration) -> BatchInfo {
        BatchInfo {
            jobs,
            waited,
            #[cfg(feature = "profiler")]
            span: self.span.clone(),
        }
    }
}

/// Records on the current statement span (inside [`super::db_call`]) the batch its statement
/// was committed in: as attributes, and as a link to the batch's span carrying them too.
pub fn record_batch(info: &BatchInfo) {
    #[cfg(feature = "profiler")]
    {
        use crate::spans::SpanExt;
        let span = tracing::Span::current();
        let wait_us = info.waited.as_micros() as u64;
        span.record("zaqar.batch.size", info.jobs as u64);
        span.record("zaqar.batch.wait_us", wait_us);
        if let Some(batch) = &info.span {
            span.add_link(
                batch.clone(),
                vec![
                    opentelemetry::KeyValue::new("zaqar.batch.size", info.jobs as i64),
                    opentelemetry::KeyValue::new("zaqar.batch.wait_us", wait_us as i64),
                ],
            );
        }
    }
    #[cfg(not(feature = "profiler"))]
    let _ = info;
}
