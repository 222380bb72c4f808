//! OTLP/HTTP (protobuf) export of the span records, on a thread of its own.
//!
//! Closed spans queue up (bounded: a full queue drops the span and says so in the log, at
//! most once per interval); the thread sends them in batches of up to a maximum, or what
//! came within a delay. A closing span does not wake the thread (a wake-up per span would
//! cost a request a thread switch per span): only the span that fills a batch, or a flush,
//! does. Each record is written straight into the request's protobuf (`encode`), neither
//! cloned (as the SDK's exporter did) nor converted into opentelemetry-proto's messages.
//!
//! The standard variables hold as they do for the SDK's batch and exporter:
//! `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` (`key=value,...`, values percent-encoded),
//! `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` (milliseconds, 10 s by default),
//! `OTEL_BSP_SCHEDULE_DELAY` (milliseconds, 5 s), `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512) and
//! `OTEL_BSP_MAX_QUEUE_SIZE` (2048). A compression other than `none` is refused at
//! start-up: this build sends uncompressed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope as ScopeProto;
use opentelemetry_proto::tonic::resource::v1::Resource as ResourceProto;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::Resource;
use zaqar_actors::spans::{SpanRecord, SpanSink};

use super::EXPORT_TARGET;
use encode::Encoder;

mod encode;

/// Where the records go: the queue the exporting thread takes its batches from.
pub struct HttpSink {
    shared: Arc<Shared>,
    dropped: AtomicU64,
    batch: Batching,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

#[derive(Default)]
struct Queue {
    spans: Vec<SpanRecord>,
    /// Flushes asked for: answered once what was queued before them is sent.
    flushes: Vec<SyncSender<()>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a request to the collector is made of.
pub struct Target {
    pub endpoint: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub batch: Batching,
}

/// How spans are batched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// How long the thread waits for a batch to fill.
    pub delay: Duration,
    /// Spans a request sends at most.
    pub max_batch: usize,
    /// Closed spans waiting for the thread; beyond, spans are dropped.
    pub max_queue: usize,
}

impl Default for Batching {
    /// The SDK's defaults.
    fn default() -> Self {
        Self {
            delay: Duration::from_secs(5),
            max_batch: 512,
            max_queue: 2048,
        }
    }
}

impl Target {
    /// The endpoint, with headers and timeout from the standard variables.
    pub fn from_env(
        endpoint: String,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let var = |name: &str| {
            env(&format!("OTEL_EXPORTER_OTLP_TRACES_{name}"))
                .or_else(|| env(&format!("OTEL_EXPORTER_OTLP_{name}")))
        };
        if let Some(c) = var("COMPRESSION").filter(|c| c != "none") {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_COMPRESSION={c}: only \"none\" is supported"
            ));
        }
        let timeout = match var("TIMEOUT") {
            Some(ms) => Duration::from_millis(
                ms.trim()
                    .parse()
                    .map_err(|_| format!("OTEL_EXPORTER_OTLP_TIMEOUT={ms}: not milliseconds"))?,
            ),
            None => Duration::from_secs(10),
        };
        let headers = var("HEADERS")
            .map(|h| parse_headers(&h))
            .transpose()?
            .unwrap_or_default();
        let number = |name: &str| -> Result<Option<u64>, String> {
            env(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{name}={v}: not a number"))
                })
                .transpose()
        };
        let default = Batching::default();
        let max_queue =
            number("OTEL_BSP_MAX_QUEUE_SIZE")?.map_or(default.max_queue, |n| n as usize);
        let batch = Batching {
            delay: number("OTEL_BSP_SCHEDULE_DELAY")?.map_or(default.delay, Duration::from_millis),
            // As the SDK has it: a batch is never larger than the queue.
            max_batch: number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")?
                .map_or(default.max_batch, |n| n as usize)
                .clamp(1, max_queue.max(1)),
            max_queue,
        };
        Ok(Self {
            endpoint,
            headers,
            timeout,
            batch,
        })
    }
}

/// `key=value,key2=value2`, values percent-decoded (the W3C baggage format the
/// specification names).
fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .ok_or("OTEL_EXPORTER_OTLP_HEADERS: an entry is not key=value")?;
            let v = percent_encoding::percent_decode_str(v.trim())
                .decode_utf8()
                .map_err(|_| "OTEL_EXPORTER_OTLP_HEADERS: a value is not UTF-8")?;
            Ok((k.trim().to_owned(), v.into_owned()))
        })
        .collect()
}

impl HttpSink {
    /// Starts the exporting thread.
    pub fn start(target: Target, resource: &Resource) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let queue = shared.clone();
        let resource = resource.clone();
        let batch = target.batch;
        let (ready, started) = sync_channel(1);
        // Detached: it sleeps between batches for as long as the process lives; a shutdown
        // needs only a flush. The client is built on it: reqwest's blocking client may not
        // be made (nor dropped) on an async runtime's thread.
        std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || match Exporter::new(target, &resource) {
                Ok(exporter) => {
                    let _ = ready.send(Ok(()));
                    exporter.run(&queue);
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                }
            })?;
        started
            .recv()
            .map_err(|_| std::io::Error::other("the OTLP export thread ended"))??;
        Ok(Self {
            shared,
            dropped: AtomicU64::new(0),
            batch,
        })
    }

    /// Sends what is queued, waiting at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = sync_channel(1);
        self.shared.lock().flushes.push(done);
        self.shared.wake.notify_one();
        wait.recv_timeout(timeout).is_ok()
    }

    /// Spans dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl SpanSink for HttpSink {
    fn closed(&self, span: SpanRecord) {
        let mut queue = self.shared.lock();
        if queue.spans.len() >= self.batch.max_queue {
            drop(queue);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: EXPORT_TARGET,
                "OTLP export queue full ({} spans): spans dropped",
                self.batch.max_queue
            );
            return;
        }
        queue.spans.push(span);
        if queue.spans.len() == self.batch.max_batch {
            drop(queue);
            self.shared.wake.notify_one();
        }
    }
}

struct Exporter {
    client: reqwest::blocking::Client,
    target: Target,
    encoder: Encoder,
}

impl Exporter {
    fn new(target: Target, resource: &Resource) -> std::io::Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .timeout(target.timeout)
            .build()
            .map_err(std::io::Error::other)?;
        let attributes = ResourceAttributesWithSchema::from(resource);
        let resource = ResourceProto {
            attributes: attributes.attributes.0,
            dropped_attributes_count: 0,
            entity_refs: vec![],
        };
        let scope: ScopeProto = (&InstrumentationScope::builder("zaqar").build(), None).into();
        Ok(Self {
            client,
            target,
            encoder: Encoder::new(&resource, &scope),
        })
    }

    fn run(mut self, shared: &Shared) {
        let Batching {
            delay, max_batch, ..
        } = self.target.batch;
        loop {
            let (mut spans, flushes) = {
                let queue = shared.lock();
                let (mut queue, _) = shared
                    .wake
                    .wait_timeout_while(queue, delay, |q| {
                        q.spans.len() < max_batch && q.flushes.is_empty()
                    })
                    .unwrap_or_else(|e| e.into_inner());
                (
                    std::mem::take(&mut queue.spans),
                    std::mem::take(&mut queue.flushes),
                )
            };
            while !spans.is_empty() {
                let rest = spans.split_off(spans.len().min(max_batch));
                self.send(&mut spans);
                spans = rest;
            }
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    fn send(&mut self, batch: &mut Vec<SpanRecord>) {
        if batch.is_empty() {
            return;
        }
        let body = self.encoder.request(batch);
        let mut request = self
            .client
            .post(&self.target.endpoint)
            .header("content-type", "application/x-protobuf");
        for (k, v) in &self.target.headers {
            request = request.header(k, v);
        }
        match request.body(body).send() {
            Ok(answer) if answer.status().is_success() => {}
            Ok(answer) => tracing::error!(
                target: EXPORT_TARGET,
                "OTLP export refused by the collector: HTTP {}",
                answer.status().as_u16()
            ),
            Err(e) => tracing::error!(
                target: EXPORT_TARGET,
                "OTLP export failed: {}",
                if e.is_timeout() { "timed out" } else if e.is_connect() { "collector unreachable" } else { "request failed" }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};

    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceId};
    use opentelemetry::KeyValue;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    use super::*;

    /// One request read off `listener`: its headers (lowercase names) and body.
    fn receive(listener: &std::net::TcpListener) -> (Vec<(String, String)>, Vec<u8>) {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        (&stream)
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        (headers, body)
    }

    fn record(name: &'static str, span: u64, parent: u64) -> SpanRecord {
        SpanRecord {
            name: name.into(),
            kind: SpanKind::Client,
            trace_id: TraceId::from(0xabcu128),
            span_id: SpanId::from(span),
            parent_id: SpanId::from(parent),
            parent_is_remote: parent == 0x77,
            start: std::time::UNIX_EPOCH + Duration::from_secs(1),
            end: std::time::UNIX_EPOCH + Duration::from_secs(2),
            attributes: vec![KeyValue::new("db.system", "sqlite"), KeyValue::new("n", 3)].into(),
            links: vec![(
                SpanContext::new(
                    TraceId::from(0xdefu128),
                    SpanId::from(9u64),
                    opentelemetry::trace::TraceFlags::SAMPLED,
                    false,
                    opentelemetry::trace::TraceState::NONE,
                ),
                vec![KeyValue::new("zaqar.batch.size", 4)],
            )],
            status: Status::error(""),
        }
    }

    #[test]
    fn closed_spans_are_posted_as_one_otlp_request_on_flush() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let target = Target {
            endpoint,
            headers: vec![("api-key".into(), "k".into())],
            timeout: Duration::from_secs(10),
            batch: Batching::default(),
        };
        let resource = Resource::builder().with_service_name("zq").build();
        let sink = HttpSink::start(target, &resource).unwrap();
        sink.closed(record("SQL INSERT", 2, 1));
        sink.closed(record("HTTP request", 1, 0x77));
        let flushed = std::thread::scope(|s| {
            let flush = s.spawn(|| sink.flush(Duration::from_secs(10)));
            let (headers, body) = receive(&listener);
            assert!(headers.contains(&("content-type".into(), "application/x-protobuf".into())));
            assert!(headers.contains(&("api-key".into(), "k".into())));
            let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
            let rs = &request.resource_spans[0];
            let service = &rs.resource.as_ref().unwrap().attributes;
            assert!(service.iter().any(|kv| kv.key == "service.name"));
            let scope = &rs.scope_spans[0];
            assert_eq!(scope.scope.as_ref().unwrap().name, "zaqar");
            let names: Vec<&str> = scope.spans.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["SQL INSERT", "HTTP request"]);
            let insert = &scope.spans[0];
            assert_eq!(insert.trace_id, TraceId::from(0xabcu128).to_bytes());
            assert_eq!(insert.span_id, 2u64.to_be_bytes());
            assert_eq!(insert.parent_span_id, 1u64.to_be_bytes());
            assert_eq!(insert.start_time_unix_nano, 1_000_000_000);
            assert_eq!(insert.kind, 3, "client");
            assert_eq!(insert.attributes.len(), 2);
            assert_eq!(insert.links[0].span_id, 9u64.to_be_bytes());
            assert_eq!(insert.links[0].attributes[0].key, "zaqar.batch.size");
            assert_eq!(insert.status.as_ref().unwrap().code, 2, "error");
            // The HTTP span's parent is the caller's: remote, as the span flags say.
            assert_eq!(scope.spans[1].flags & 0x300, 0x300);
            assert_eq!(insert.flags & 0x300, 0x100);
            flush.join().unwrap()
        });
        assert!(flushed);
        assert_eq!(sink.dropped(), 0);
    }

    #[test]
    fn headers_timeout_and_compression_from_the_standard_variables() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let t = Target::from_env("e".into(), env(&[])).unwrap();
        assert_eq!((t.timeout, t.headers.len()), (Duration::from_secs(10), 0));
        let t = Target::from_env(
            "e".into(),
            env(&[
                ("OTEL_EXPORTER_OTLP_HEADERS", "a=1"),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=x%20y, b = 2"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ]),
        )
        .unwrap();
        assert_eq!(
            t.headers,
            vec![
                ("api-key".to_owned(), "x y".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(t.timeout, Duration::from_millis(2500));
        assert_eq!(t.batch, Batching::default());
        let t = Target::from_env(
            "e".into(),
            env(&[
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "1000"),
            ]),
        )
        .unwrap();
        let expected = Batching {
            delay: Duration::from_millis(100),
            max_batch: 1000,
            max_queue: 1000,
        };
        assert_eq!(t.batch, expected);
        assert!(Target::from_env("e".into(), env(&[("OTEL_BSP_SCHEDULE_DELAY", "-1")])).is_err());
        assert!(Target::from_env(
            "e".into(),
            env(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")])
        )
        .is_err());
        assert!(Target::from_env(
            "e".into(),
            env(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "none")])
        )
        .is_ok());
        assert!(
            Target::from_env("e".into(), env(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "soon")])).is_err()
        );
        assert!(Target::from_env(
            "e".into(),
            env(&[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")])
        )
        .is_err());
    }
}
