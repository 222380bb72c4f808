//! Posts N messages to a queue in batches, then prints the ids of the last batch.
//!
//! ```text
//! cargo run --example producer -- http://127.0.0.1:8888 orders 100
//! ```

use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8888".into());
    let queue = args.next().unwrap_or_else(|| "orders".into());
    let count: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(10);
    let http = reqwest::Client::new();
    let client_id = uuid::Uuid::new_v4().to_string();
    let mut posted = 0;
    while posted < count {
        let batch: Vec<Value> = (posted..count.min(posted + 10))
            .map(|i| json!({"ttl": 3600, "body": {"order": i}}))
            .collect();
        let n = batch.len();
        let r = http
            .post(format!("{url}/v2/queues/{queue}/messages"))
            .header("Client-ID", &client_id)
            .header("X-Project-ID", "examples")
            .json(&json!({ "messages": batch }))
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await?;
        if !status.is_success() {
            return Err(format!("post failed: {status} {body}").into());
        }
        posted += n;
        if posted >= count {
            println!(
                "posted {posted} messages; last batch: {}",
                body["resources"]
            );
        }
    }
    Ok(())
}
