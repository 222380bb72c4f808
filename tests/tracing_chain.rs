//! One request yields one connected chain of spans:
//! HTTP request (tracing-actix-web) -> `PoolRouter <Message>` -> `SqlStore <Message>`,
//! checked with a recording subscriber (the OTLP export is the profiler's job).
//! Its own test binary, because it installs a global subscriber.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use common::TestServer;

#[derive(Clone, Debug, Default)]
struct SpanRec {
    seq: u64,
    parent: Option<u64>,
    name: String,
    fields: HashMap<String, String>,
}

/// Spans by a sequence number of our own (registry ids are reused once a span closes).
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<HashMap<u64, SpanRec>>>,
    next: Arc<AtomicU64>,
}

struct Seq(u64);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let parent_id = if attrs.is_root() {
            None
        } else if let Some(p) = attrs.parent() {
            Some(p.clone())
        } else {
            ctx.current_span().id().cloned()
        };
        let parent = parent_id.and_then(|p| ctx.span(&p)?.extensions().get::<Seq>().map(|s| s.0));
        let mut rec = SpanRec {
            seq,
            parent,
            name: attrs.metadata().name().to_owned(),
            ..SpanRec::default()
        };
        attrs.record(&mut Fields(&mut rec.fields));
        ctx.span(id).unwrap().extensions_mut().insert(Seq(seq));
        self.spans.lock().unwrap().insert(seq, rec);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(seq) = ctx
            .span(id)
            .and_then(|s| s.extensions().get::<Seq>().map(|s| s.0))
        else {
            return;
        };
        if let Some(rec) = self.spans.lock().unwrap().get_mut(&seq) {
            values.record(&mut Fields(&mut rec.fields));
        }
    }
}

impl Recorder {
    fn find(&self, pred: impl Fn(&SpanRec) -> bool) -> Vec<SpanRec> {
        let mut v: Vec<_> = self
            .spans
            .lock()
            .unwrap()
            .values()
            .filter(|s| pred(s))
            .cloned()
            .collect();
        v.sort_by_key(|s| s.seq);
        v
    }

    fn children(&self, parent: &SpanRec) -> Vec<SpanRec> {
        self.find(|s| s.parent == Some(parent.seq))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_one_chain() {
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone()))
        .expect("global subscriber");
    let s = TestServer::start();
    let api = s.api();

    // Several requests at once: each must keep its own chain.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.post(
                &format!("/v2/queues/traced{i}/messages"),
                json!({"messages": [{"body": "secret-body"}]}),
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }

    for i in 0..8 {
        let target = format!("/v2/queues/traced{i}/messages");
        let roots = recorder
            .find(|s| s.name == "HTTP request" && s.fields.get("http.target") == Some(&target));
        assert_eq!(roots.len(), 1, "one HTTP span for {target}");
        let root = &roots[0];
        assert_eq!(root.parent, None);
        assert_eq!(root.fields["http.status_code"], "201");

        let router = recorder.children(root);
        assert_eq!(router.len(), 1, "one router hop under {target}: {router:?}");
        let router = &router[0];
        assert_eq!(router.fields["actor"], "PoolRouter");
        assert_eq!(router.fields["message"], "PostMessages");
        assert_eq!(router.fields["otel.name"], "PoolRouter PostMessages");
        assert_eq!(router.fields["outcome"], "ok");
        assert!(router.fields["mailbox_wait_us"].parse::<u64>().is_ok());

        let storage = recorder.children(router);
        assert_eq!(
            storage.len(),
            1,
            "one storage hop under the router: {storage:?}"
        );
        assert_eq!(storage[0].fields["actor"], "SqlStore");
        assert_eq!(storage[0].fields["message"], "PostMessages");
        assert_eq!(storage[0].fields["outcome"], "ok");
    }

    // A failing operation marks its hops as errors.
    let r = api.get("/v2/queues/traced0/claims/nope").await;
    assert_eq!(r.status, 404);
    let root = recorder
        .find(|s| {
            s.name == "HTTP request"
                && s.fields
                    .get("http.target")
                    .is_some_and(|t| t.ends_with("/claims/nope"))
        })
        .pop()
        .unwrap();
    let router = recorder.children(&root).pop().unwrap();
    let storage = recorder.children(&router).pop().unwrap();
    for hop in [&router, &storage] {
        assert_eq!(hop.fields["outcome"], "error");
        assert_eq!(hop.fields["error.kind"], "claim_does_not_exist");
        assert_eq!(hop.fields["otel.status_code"], "ERROR");
    }

    // Message bodies never reach a span.
    let leaked = recorder.find(|s| s.fields.values().any(|v| v.contains("secret-body")));
    assert!(leaked.is_empty(), "{leaked:?}");
}
