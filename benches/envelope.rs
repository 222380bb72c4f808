//! Cost of one request through the actor path (PoolRouter -> StorageActor -> store and back),
//! untraced (no ambient trace context: the envelope carries `None`) and traced (a request's
//! trace context is ambient and a subscriber records the spans of both hops). The store answers at once, so what is measured
//! is the envelope, the two mailboxes and the spans.
//!
//! `cargo bench --bench envelope`

use std::sync::Arc;

use actix::{Actor, Addr};
use criterion::{criterion_group, criterion_main, Criterion};
use zaqar_actors::envelope::{scope, Layers, TraceCtx};
use zaqar_actors::messages::Ping;
use zaqar_actors::storage::faulty::FaultyStore;
use zaqar_actors::{PoolRouter, PoolSet, Traced};

fn start(sys: &actix_rt::SystemRunner) -> Addr<PoolRouter> {
    sys.block_on(async {
        let pools = Arc::new(PoolSet::single(Arc::new(FaultyStore)));
        PoolRouter::new(pools, 1024).start()
    })
}

fn hops(c: &mut Criterion) {
    let sys = actix_rt::System::new();
    let router = start(&sys);
    c.bench_function("router+storage round trip, untraced", |b| {
        b.iter(|| sys.block_on(router.send(Traced::new(Ping {}))).unwrap())
    });

    // Traced: a request span and its trace context are ambient, as in a signed request,
    // and a subscriber records every hop span (no exporter: this measures the path).
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("HTTP request");
        let ctx = TraceCtx {
            span: request.clone(),
            cx: opentelemetry::trace::SpanContext::empty_context(),
            root: None,
            layers: Layers::default(),
        };
        c.bench_function("router+storage round trip, traced", |b| {
            b.iter(|| {
                sys.block_on(scope(ctx.clone(), router.send(Traced::new(Ping {}))))
                    .unwrap()
            })
        });
    });
}

criterion_group!(benches, hops);
criterion_main!(benches);
