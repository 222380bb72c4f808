//! Error bodies for the answers actix-http writes on its own, below every handler and
//! middleware: 400 for a request that is not HTTP/1.1, 431 for oversized headers, 408 for
//! headers that did not arrive within `client_request_timeout`. It writes them with no
//! body; [`ErrorBodies`], the connection's byte stream as the HTTP layer sees it, gives them
//! the Zaqar `{"title", "description"}` body every other error of ours has.
//!
//! It recognises such an answer by its head alone: one of those statuses with
//! `content-length: 0`. Every answer of our own with those statuses carries a JSON body, and
//! raw CR LF never occurs inside one (JSON escapes them), so nothing else matches.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose bodiless protocol-error answers get a JSON body.
pub struct ErrorBodies<T> {
    io: T,
    /// A rewritten answer not yet written through, and how much of it has been.
    pending: Vec<u8>,
    written: usize,
    /// `[server] client_request_timeout`, for the 408's description.
    head_timeout: u64,
}

impl<T> ErrorBodies<T> {
    pub fn new(io: T, head_timeout: u64) -> Self {
        Self {
            io,
            pending: Vec::new(),
            written: 0,
            head_timeout,
        }
    }
}

impl<T: AsyncWrite + Unpin> ErrorBodies<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ErrorBodies<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ErrorBodies<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        if let Some((consumed, answer)) = with_body(buf, this.head_timeout) {
            this.pending = answer;
            // Written now or by the next write, flush or shutdown; the original bytes are
            // taken either way.
            if let Poll::Ready(Err(e)) = this.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(consumed));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// When `buf` starts with a bodiless protocol-error answer: how many bytes its head takes,
/// and the same answer with a JSON body.
fn with_body(buf: &[u8], head_timeout: u64) -> Option<(usize, Vec<u8>)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let status_line = lines.next()?;
    let code = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?
        .get(..3)?;
    let (title, description) = match code {
        "400" => (
            "Malformed request",
            "The request could not be read as HTTP/1.1.".to_owned(),
        ),
        "408" => (
            "Request timeout",
            format!("The request headers did not arrive within {head_timeout} seconds."),
        ),
        "431" => (
            "Request header fields too large",
            "The request's headers are larger than the server accepts.".to_owned(),
        ),
        _ => return None,
    };
    let headers: Vec<&str> = lines.collect();
    if !headers
        .iter()
        .any(|h| h.eq_ignore_ascii_case("content-length: 0"))
    {
        return None;
    }
    let body = serde_json::json!({"title": title, "description": description}).to_string();
    let mut out = format!("{status_line}\r\n");
    for h in headers {
        if !h.to_ascii_lowercase().starts_with("content-length:") {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    Some((end, out.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodiless_protocol_errors_get_a_json_body() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        let (consumed, out) = with_body(head, 5).unwrap();
        assert_eq!(consumed, head.len());
        let out = String::from_utf8(out).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431"));
        assert!(head.contains("connection: close") && head.contains("date: x"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["title"], "Request header fields too large");
    }

    #[test]
    fn answers_with_a_body_or_another_status_pass_untouched() {
        assert!(with_body(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 62\r\n\r\n{}",
            5
        )
        .is_none());
        assert!(with_body(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n", 5).is_none());
        assert!(with_body(b"HTTP/1.1 400 Bad Req", 5).is_none());
    }
}
