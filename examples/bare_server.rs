//! The HTTP ceiling of this machine: a bare actix-web server that answers the load
//! generator's requests with canned Zaqar-shaped replies, doing no work at all.
//! Benchmarks measure `zaqar-server` as a ratio against it, in the same run. It also
//! accepts OTLP/HTTP trace exports at `/v1/traces`, as a local collector that costs nothing.
//!
//! ```text
//! cargo run --release --example bare_server -- 127.0.0.1:8890
//! ```

use actix_web::http::Method;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;

const ID: &str = "00000000-0000-4000-8000-000000000000";

async fn canned(req: HttpRequest, _body: web::Bytes) -> HttpResponse {
    let path = req.path();
    match *req.method() {
        // An OTLP/HTTP trace sink: an empty ExportTraceServiceResponse accepts everything.
        Method::POST if path == "/v1/traces" => HttpResponse::Ok()
            .content_type("application/x-protobuf")
            .finish(),
        Method::POST if path.ends_with("/messages") => HttpResponse::Created()
            .insert_header(("Location", format!("{path}?ids={ID}")))
            .json(json!({"resources": [format!("{path}/{ID}")]})),
        Method::POST if path.ends_with("/claims") => {
            let queue = path.trim_end_matches("/claims");
            HttpResponse::Created()
                .insert_header(("Location", format!("{path}/{ID}")))
                .json(json!({"messages": [{
                    "id": ID, "href": format!("{queue}/messages/{ID}?claim_id={ID}"),
                    "ttl": 3600, "age": 0, "body": "x"
                }]}))
        }
        Method::PUT => HttpResponse::Created().finish(),
        Method::DELETE => HttpResponse::NoContent().finish(),
        _ => HttpResponse::Ok().json(json!({"messages": [], "links": []})),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8890".into());
    eprintln!("bare_server listening on http://{bind}");
    // An export batch of 512 spans is larger than actix-web's default body limit (256 KiB):
    // refused, the exporter would report a network error and the benchmark would measure
    // spans encoded but never sent.
    HttpServer::new(|| {
        App::new()
            .app_data(web::PayloadConfig::new(64 << 20))
            .default_service(web::to(canned))
    })
    .bind(bind)?
    .run()
    .await
}
