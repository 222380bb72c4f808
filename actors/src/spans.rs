//! The server's spans as OpenTelemetry spans: a `tracing` layer that keeps, beside each span
//! it is given, the record that will be exported ([`SpanRecord`]), and hands every closed
//! record to a [`SpanSink`].
//!
//! It replaces the general `tracing` → OpenTelemetry bridge for what this server needs: its
//! spans' names, kinds, status, attributes, parents and links, and nothing else (no events,
//! no span activation, no sampler: the decision to trace is made before a span exists). A
//! record is built once, in place, and leaves the layer whole; what a span costs a request
//! is then about the registry's bookkeeping and one record.
//!
//! Special fields, as the usual bridge reads them: `otel.name` (the span's name),
//! `otel.kind` (`server`, `client`, `internal`, `producer`, `consumer`) and
//! `otel.status_code` (`ERROR` or `OK`). Every other field is an attribute.
//!
//! [`SpanExt`] sets a span's parent (a remote caller's, or the trace's chosen id), reads its
//! context and links it to others, through the layer found in the span's dispatcher.

use std::any::TypeId;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::time::SystemTime;

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Key, KeyValue, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Level, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// One span, as it will be exported.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    pub name: Cow<'static, str>,
    pub kind: SpanKind,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// [`SpanId::INVALID`] for the trace's root.
    pub parent_id: SpanId,
    /// The parent is a caller's span, not one of this process.
    pub parent_is_remote: bool,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: SpanAttributes,
    pub links: Vec<(SpanContext, Vec<KeyValue>)>,
    pub status: Status,
}

impl SpanRecord {
    /// The context children and links refer to.
    pub fn context(&self) -> SpanContext {
        SpanContext::new(
            self.trace_id,
            self.span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        )
    }

    /// Takes one of the special fields from its text; false for an attribute.
    fn special(&mut self, name: &str, text: &str) -> bool {
        match name {
            "otel.name" => self.name = text.to_owned().into(),
            "otel.kind" => {
                self.kind = match text {
                    "server" => SpanKind::Server,
                    "client" => SpanKind::Client,
                    "producer" => SpanKind::Producer,
                    "consumer" => SpanKind::Consumer,
                    _ => SpanKind::Internal,
                }
            }
            "otel.status_code" => {
                self.status = match text {
                    s if s.eq_ignore_ascii_case("error") => Status::error(""),
                    s if s.eq_ignore_ascii_case("ok") => Status::Ok,
                    _ => Status::Unset,
                }
            }
            _ => return false,
        }
        true
    }
}

/// A span's attributes. The texts of its string values share one buffer: a span's fields
/// then cost one allocation, not one each (and one free when the record is dropped).
#[derive(Clone, Debug, Default)]
pub struct SpanAttributes {
    texts: String,
    entries: Vec<(Key, Attr)>,
}

#[derive(Clone, Debug)]
enum Attr {
    /// `texts[start..end]` (no larger than a `Value`, so a text costs no more room than
    /// the value it stands for).
    Text(usize, usize),
    Value(Value),
}

/// One attribute's value, as [`SpanAttributes::iter`] answers it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttrValue<'a> {
    Text(&'a str),
    Value(&'a Value),
}

impl AttrValue<'_> {
    /// As OpenTelemetry's value type.
    pub fn to_value(self) -> Value {
        match self {
            AttrValue::Text(t) => Value::String(t.to_owned().into()),
            AttrValue::Value(v) => v.clone(),
        }
    }
}

impl SpanAttributes {
    /// Room for `n` attributes, and for the texts of a typical span (a statement and a few
    /// names) in one allocation rather than one per doubling.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            texts: String::with_capacity(if n == 0 { 0 } else { 256 }),
            entries: Vec::with_capacity(n),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `key` to a text, replacing an earlier value of the same key unless `fresh`
    /// (the caller knows there is none).
    pub fn set_text(&mut self, key: Key, text: &str, fresh: bool) {
        let start = self.texts.len();
        self.texts.push_str(text);
        self.set(key, Attr::Text(start, self.texts.len()), fresh);
    }

    /// Sets `key` to `value`, as [`Self::set_text`] does.
    pub fn set_value(&mut self, key: Key, value: Value, fresh: bool) {
        self.set(key, Attr::Value(value), fresh);
    }

    fn set(&mut self, key: Key, attr: Attr, fresh: bool) {
        if !fresh {
            if let Some(entry) = self.entries.iter_mut().find(|(k, _)| *k == key) {
                // A replaced text stays in the buffer, unread, until the span is exported.
                entry.1 = attr;
                return;
            }
        }
        self.entries.push((key, attr));
    }

    /// The attributes in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, AttrValue<'_>)> {
        self.entries.iter().map(|(k, attr)| {
            let value = match attr {
                Attr::Text(start, end) => AttrValue::Text(&self.texts[*start..*end]),
                Attr::Value(v) => AttrValue::Value(v),
            };
            (k, value)
        })
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<AttrValue<'_>> {
        self.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    }

    /// As OpenTelemetry's key-values (for the SDK's exporters).
    pub fn to_key_values(&self) -> Vec<KeyValue> {
        self.iter()
            .map(|(k, v)| KeyValue::new(k.clone(), v.to_value()))
            .collect()
    }
}

impl From<Vec<KeyValue>> for SpanAttributes {
    fn from(kvs: Vec<KeyValue>) -> Self {
        let mut attributes = Self::with_capacity(kvs.len());
        for kv in kvs {
            attributes.set_value(kv.key, kv.value, false);
        }
        attributes
    }
}

/// Records fields into a span's record. A new span's fields are distinct (`fresh`); a
/// later `record` may set one that was set before, which then replaces it.
struct Fields<'a> {
    record: &'a mut SpanRecord,
    fresh: bool,
}

impl Fields<'_> {
    fn text(&mut self, field: &Field, text: &str) {
        if !self.record.special(field.name(), text) {
            self.record
                .attributes
                .set_text(Key::from_static_str(field.name()), text, self.fresh);
        }
    }

    fn attribute(&mut self, field: &Field, value: Value) {
        self.record
            .attributes
            .set_value(Key::from_static_str(field.name()), value, self.fresh);
    }

    /// A number or a flag: an attribute, unless it names a special field (whose text is
    /// then made, which an attribute never needs).
    fn other(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if !(name.starts_with("otel.") && self.record.special(name, &value.as_str())) {
            self.attribute(field, value);
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.text(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.other(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.other(field, Value::I64(v)),
            Err(_) => self.text(field, &value.to_string()),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.other(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.other(field, Value::Bool(value));
    }

    /// `%` and `?` fields: formatted into a buffer kept for the thread, then copied at
    /// their exact length (`format!` would leave slack that boxing the text reallocates).
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        thread_local! {
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        let done = SCRATCH.try_with(|scratch| {
            let Ok(mut scratch) = scratch.try_borrow_mut() else {
                return false;
            };
            scratch.clear();
            let _ = write!(scratch, "{value:?}");
            self.text(field, &scratch);
            true
        });
        if done != Ok(true) {
            self.text(field, &format!("{value:?}"));
        }
    }
}

/// Where closed spans go (an exporter's queue).
pub trait SpanSink: Send + Sync + 'static {
    fn closed(&self, span: SpanRecord);
}

impl<K: SpanSink + ?Sized> SpanSink for std::sync::Arc<K> {
    fn closed(&self, span: SpanRecord) {
        (**self).closed(span);
    }
}

/// The layer, for subscribers `S`: it records the spans of the targets it is given.
///
/// It filters by itself rather than under a per-layer filter: such a filter looks the span
/// up in the registry at every enter and exit, a dozen times per span, which cost a traced
/// request more than its records did. Events are left to the other layers; spans of other
/// targets are not created at all (no other layer wants spans: the log shows events only).
pub struct SpanLayer<S, K> {
    sink: K,
    targets: Vec<&'static str>,
    with_record: WithRecord,
    _subscriber: PhantomData<fn(S)>,
}

impl<S, K> SpanLayer<S, K>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    K: SpanSink,
{
    /// Records the INFO (and higher) spans of `targets` (and their sub-targets).
    pub fn new(sink: K, targets: Vec<&'static str>) -> Self {
        Self {
            sink,
            targets,
            with_record: WithRecord(with_record::<S>),
            _subscriber: PhantomData,
        }
    }
}

/// Found through the dispatcher ([`Dispatch::downcast_ref`]): reaches a span's record.
#[derive(Clone, Copy)]
struct WithRecord(fn(&Dispatch, &Id, &mut RecordFn<'_>));

type RecordFn<'a> = dyn FnMut(&mut SpanRecord) + 'a;

fn with_record<S>(dispatch: &Dispatch, id: &Id, f: &mut RecordFn<'_>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(subscriber) = dispatch.downcast_ref::<S>() else {
        return;
    };
    if let Some(span) = subscriber.span(id) {
        if let Some(record) = span.extensions_mut().get_mut::<SpanRecord>() {
            f(record);
        }
    }
}

fn random_span_id() -> SpanId {
    SpanId::from(fastrand::u64(1..))
}

impl<S, K> SpanLayer<S, K> {
    fn ours(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= Level::INFO
            && self.targets.iter().any(|t| {
                meta.target()
                    .strip_prefix(t)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            })
    }
}

impl<S, K> Layer<S> for SpanLayer<S, K>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    K: SpanSink,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        match (meta.is_span(), self.ours(meta)) {
            (true, true) => Interest::always(),
            (true, false) => Interest::never(),
            // Events: whatever the other layers say.
            (false, _) => Interest::always(),
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        !meta.is_span() || self.ours(meta)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let parent = span
            .parent()
            .and_then(|p| p.extensions().get::<SpanRecord>().map(SpanRecord::context));
        let (trace_id, parent_id) = match parent {
            Some(p) => (p.trace_id(), p.span_id()),
            None => (TraceId::from(fastrand::u128(1..)), SpanId::INVALID),
        };
        let mut record = SpanRecord {
            name: attrs.metadata().name().into(),
            kind: SpanKind::Internal,
            trace_id,
            span_id: random_span_id(),
            parent_id,
            parent_is_remote: false,
            start: SystemTime::now(),
            end: SystemTime::UNIX_EPOCH,
            attributes: SpanAttributes::with_capacity(attrs.fields().len()),
            links: Vec::new(),
            status: Status::Unset,
        };
        attrs.record(&mut Fields {
            record: &mut record,
            fresh: true,
        });
        span.extensions_mut().insert(record);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(record) = span.extensions_mut().get_mut::<SpanRecord>() {
                values.record(&mut Fields {
                    record,
                    fresh: false,
                });
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(mut record) = span.extensions_mut().remove::<SpanRecord>() else {
            return;
        };
        record.end = SystemTime::now();
        self.sink.closed(record);
    }

    /// # Safety
    /// The pointers answered are to `self` and to its `WithRecord`, for the type ids asked.
    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else if id == TypeId::of::<WithRecord>() {
            Some(&self.with_record as *const WithRecord as *const ())
        } else {
            None
        }
    }
}

/// What the server does with its spans beyond fields: parents, contexts and links.
pub trait SpanExt {
    /// Hangs the span under `parent` when it is valid (a caller's span, or the span a hop
    /// carried), else makes it the root of `root` when given. Call it before the span has
    /// children.
    fn set_trace_parent(&self, parent: &SpanContext, root: Option<TraceId>);
    /// The span's context, when it is recorded.
    fn span_context(&self) -> Option<SpanContext>;
    /// Links the span to `to`, with attributes of the link.
    fn add_link(&self, to: SpanContext, attributes: Vec<KeyValue>);
}

fn with_span_record(span: &tracing::Span, f: &mut RecordFn<'_>) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(get) = dispatch.downcast_ref::<WithRecord>() {
            (get.0)(dispatch, id, f);
        }
    });
}

impl SpanExt for tracing::Span {
    fn set_trace_parent(&self, parent: &SpanContext, root: Option<TraceId>) {
        with_span_record(self, &mut |record| {
            if parent.is_valid() {
                record.trace_id = parent.trace_id();
                record.parent_id = parent.span_id();
                record.parent_is_remote = parent.is_remote();
            } else if let Some(root) = root {
                record.trace_id = root;
                record.parent_id = SpanId::INVALID;
                record.parent_is_remote = false;
            }
        });
    }

    fn span_context(&self) -> Option<SpanContext> {
        let mut cx = None;
        with_span_record(self, &mut |record| cx = Some(record.context()));
        cx
    }

    fn add_link(&self, to: SpanContext, attributes: Vec<KeyValue>) {
        let mut link = Some((to, attributes));
        with_span_record(self, &mut |record| record.links.extend(link.take()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing::field::Empty;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<SpanRecord>>>);

    impl SpanSink for Kept {
        fn closed(&self, span: SpanRecord) {
            self.0.lock().unwrap().push(span);
        }
    }

    fn attr(r: &SpanRecord, key: &str) -> Option<Value> {
        r.attributes.get(key).map(AttrValue::to_value)
    }

    #[test]
    fn attributes_keep_their_order_and_a_later_value_replaces_an_earlier() {
        let mut a = SpanAttributes::with_capacity(4);
        a.set_text("first".into(), "one", true);
        a.set_value("n".into(), Value::I64(1), true);
        a.set_text("empty".into(), "", true);
        a.set_text("n".into(), "now text", false);
        a.set_text("first".into(), "uno", false);
        a.set_value("last".into(), Value::Bool(true), false);
        let got: Vec<(String, Value)> = a
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_value()))
            .collect();
        let want: Vec<(String, Value)> = vec![
            ("first".into(), "uno".into()),
            ("n".into(), "now text".into()),
            ("empty".into(), "".into()),
            ("last".into(), true.into()),
        ];
        assert_eq!(got, want);
        assert_eq!(a.get("empty"), Some(AttrValue::Text("")));
        assert_eq!(a.get("missing"), None);
        assert_eq!(a.len(), 4);
        assert_eq!(
            a.to_key_values(),
            want.into_iter()
                .map(|(k, v)| KeyValue::new(k, v))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn records_names_kinds_status_attributes_parents_and_links() {
        let kept = Kept::default();
        let subscriber =
            tracing_subscriber::registry().with(SpanLayer::new(kept.clone(), vec!["zaqar::test"]));
        let remote = SpanContext::new(
            TraceId::from(42u128),
            SpanId::from(7u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        let other = SpanContext::new(
            TraceId::from(5u128),
            SpanId::from(9u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        tracing::subscriber::with_default(subscriber, || {
            let root = tracing::info_span!(
                target: "zaqar::test",
                "HTTP request",
                otel.name = %format_args!("{} {}", "POST", "/v2/x"),
                otel.kind = "server",
                otel.status_code = Empty,
                n = 3u64,
                big = u64::MAX,
                ok = true,
                later = Empty,
            );
            root.set_trace_parent(&remote, None);
            {
                let _in = root.enter();
                let child = tracing::info_span!(
                    target: "zaqar::test::db",
                    "db command",
                    otel.kind = "client",
                    otel.status_code = Empty
                );
                child.add_link(other.clone(), vec![KeyValue::new("zaqar.batch.size", 4)]);
                child.record("otel.status_code", "ERROR");
            }
            root.record("later", "set");
            root.record("n", 4u64);
            let lone = tracing::info_span!(target: "zaqar::test", "lone");
            // Not ours: neither recorded nor created.
            let other = tracing::info_span!(target: "zaqar::testing", "other");
            assert!(other.is_disabled());
            assert!(tracing::debug_span!(target: "zaqar::test", "debug").is_disabled());
            lone.set_trace_parent(&SpanContext::empty_context(), Some(TraceId::from(77u128)));
            assert_eq!(
                lone.span_context().map(|c| c.trace_id()),
                Some(TraceId::from(77u128))
            );
        });
        let kept = kept.0.lock().unwrap();
        assert_eq!(kept.len(), 3, "{kept:?}");
        let named = |name: &str| kept.iter().find(|r| r.name == name).unwrap();
        let (root, child, lone) = (named("POST /v2/x"), named("db command"), named("lone"));
        assert_eq!(root.name, "POST /v2/x");
        assert_eq!(root.kind, SpanKind::Server);
        assert_eq!(root.status, Status::Unset);
        assert_eq!(
            (root.trace_id, root.parent_id),
            (remote.trace_id(), remote.span_id())
        );
        assert!(root.parent_is_remote);
        assert_eq!(attr(root, "n"), Some(Value::I64(4)));
        assert_eq!(
            attr(root, "big"),
            Some(Value::String(u64::MAX.to_string().into()))
        );
        assert_eq!(attr(root, "ok"), Some(Value::Bool(true)));
        assert_eq!(attr(root, "later"), Some(Value::String("set".into())));
        assert_eq!(attr(root, "otel.kind"), None);
        assert_eq!(child.name, "db command");
        assert_eq!(child.kind, SpanKind::Client);
        assert_eq!(child.status, Status::error(""));
        assert_eq!(
            (child.trace_id, child.parent_id),
            (root.trace_id, root.span_id)
        );
        assert!(!child.parent_is_remote);
        assert_eq!(child.links.len(), 1);
        assert_eq!(child.links[0].0, other);
        assert!(child.start >= root.start && child.end <= root.end);
        assert_eq!(lone.trace_id, TraceId::from(77u128));
        assert_eq!(lone.parent_id, SpanId::INVALID);
    }
}
