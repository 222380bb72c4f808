//! A consumer loop with the client library: claim a batch, process each message, delete it
//! with its claim id; renew the claim when processing runs long, so no other consumer gets
//! the messages meanwhile. Stops when nothing is left to claim.
//!
//! ```text
//! cargo run --example consumer -- http://127.0.0.1:8888 orders
//! ```

use std::time::{Duration, Instant};

use zaqar::client::Client;

/// Claim TTL in seconds; the claim is renewed once half of it has passed.
const CLAIM_TTL: i64 = 60;
const GRACE: i64 = 60;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8888".into());
    let queue = args.next().unwrap_or_else(|| "orders".into());
    let client = Client::new(url, "examples");
    let mut done = 0;
    while let Some(claim) = client.claim(&queue, CLAIM_TTL, GRACE, Some(10)).await? {
        let mut renewed_at = Instant::now();
        for message in &claim.messages {
            process(&message.body).await;
            if renewed_at.elapsed() > Duration::from_secs(CLAIM_TTL as u64 / 2) {
                // Slow work: keep the claim alive for the messages still to do.
                client
                    .renew_claim(&queue, &claim.id, CLAIM_TTL, GRACE)
                    .await?;
                renewed_at = Instant::now();
            }
            // A claimed message is deleted with its claim id, or the server refuses (403).
            client
                .delete_message(&queue, &message.id, Some(&claim.id))
                .await?;
            done += 1;
        }
    }
    println!("processed {done} messages; nothing left to claim");
    Ok(())
}

async fn process(body: &serde_json::Value) {
    println!("processing {body}");
}
