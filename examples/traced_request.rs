//! One traced request with the client library: signs it with an OSProfiler HMAC key (one
//! of the server's `[profiler] hmac_keys`) and prints the trace id to look up in the OTLP
//! backend (Jaeger, Tempo, Phoenix, ...).
//!
//! ```text
//! # server: [profiler] enabled = true, ZAQAR_PROFILER_HMAC_KEYS=SECRET_KEY
//! cargo run --example traced_request -- http://127.0.0.1:8888 SECRET_KEY
//! ```

use serde_json::json;
use zaqar::client::{Client, NewMessage};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8888".into());
    let key = args.next().ok_or("usage: traced_request URL HMAC_KEY")?;
    let client = Client::new(url, "examples").with_profile(&key)?;
    let ids = client
        .post("traced", &[NewMessage::new(json!({"hello": "trace"}))])
        .await?;
    client.claim("traced", 60, 60, Some(1)).await?;
    let trace = client.trace_id().ok_or("an empty key traces nothing")?;
    println!("posted {}; both requests are in one trace", ids[0]);
    println!("Trace ID: {trace} (hex {})", trace.simple());
    Ok(())
}
