//! Posts N messages to a queue in batches of 10 with the client library, then prints the
//! ids of the last batch.
//!
//! ```text
//! cargo run --example producer -- http://127.0.0.1:8888 orders 100
//! ```

use serde_json::json;
use zaqar::client::{Client, NewMessage};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8888".into());
    let queue = args.next().unwrap_or_else(|| "orders".into());
    let count: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(10);
    let client = Client::new(url, "examples");
    let mut posted = 0;
    while posted < count {
        let batch: Vec<NewMessage> = (posted..count.min(posted + 10))
            .map(|i| NewMessage {
                ttl: Some(3600),
                ..NewMessage::new(json!({ "order": i }))
            })
            .collect();
        // A batch is atomic: all of it is accepted, or none.
        let ids = client.post(&queue, &batch).await?;
        posted += ids.len();
        if posted >= count {
            println!("posted {posted} messages; last batch: {ids:?}");
        }
    }
    Ok(())
}
