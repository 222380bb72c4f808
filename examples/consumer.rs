//! Claims messages from a queue and deletes each one after "processing" it, until the queue
//! has nothing left to claim.
//!
//! ```text
//! cargo run --example consumer -- http://127.0.0.1:8888 orders
//! ```

use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8888".into());
    let queue = args.next().unwrap_or_else(|| "orders".into());
    let http = reqwest::Client::new();
    let client_id = uuid::Uuid::new_v4().to_string();
    let mut done = 0;
    loop {
        let r = http
            .post(format!("{url}/v2/queues/{queue}/claims?limit=10"))
            .header("Client-ID", &client_id)
            .header("X-Project-ID", "examples")
            .json(&json!({"ttl": 60, "grace": 60}))
            .send()
            .await?;
        if r.status() == 204 {
            break; // nothing left to claim
        }
        if !r.status().is_success() {
            return Err(format!("claim failed: {}", r.status()).into());
        }
        let claim: Value = r.json().await?;
        for m in claim["messages"].as_array().into_iter().flatten() {
            println!("processing {}", m["body"]);
            // The href carries the claim id, which a claimed message needs to be deleted.
            let href = m["href"].as_str().ok_or("message without href")?;
            http.delete(format!("{url}{href}"))
                .header("Client-ID", &client_id)
                .header("X-Project-ID", "examples")
                .send()
                .await?
                .error_for_status()?;
            done += 1;
        }
    }
    println!("consumed {done} messages");
    Ok(())
}
