//! The metrics listener: a minimal HTTP/1.1 responder that answers `GET /metrics` with the
//! Prometheus text exposition and closes the connection (no keep-alive, no chunking).
//!
//! Started by `main.rs` as a `shard::Server` beside the Kafka listener ([`MetricsServer`]),
//! so net/ and metrics/ do not name each other.
//!
//! Runs on shard 0 only, one request at a time: scrapes come every few seconds from a few
//! scrapers, and each gathers from every shard, so queueing concurrent ones would only repeat
//! the same work. Each request is bounded in size (`METRICS_REQUEST_SIZE_MAX`) and in time
//! (`METRICS_REQUEST_TIMEOUT_MS`, reading the request through writing the answer), so a slow
//! or silent client delays the next scrape by at most that timeout.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use super::scrape;
use crate::broker::{Services, Shard};
use crate::limits;
use crate::shard::{Either, LocalFuture, Server, ShardError, race};
use compio::BufResult;
use compio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

/// The metrics listener as a server of every shard: it binds on shard 0 when
/// `metrics_listen` is configured and does nothing elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsServer;

impl Server<Services> for MetricsServer {
    fn start(&self, shard: &Rc<Shard>) -> Result<LocalFuture<()>, ShardError> {
        if let (0, Some(address)) = (shard.index(), shard.config().metrics_listen) {
            let listener = bind(address).map_err(|source| ShardError::Bind {
                shard: 0,
                address,
                source,
            })?;
            // Detached: the shard's drain does not wait for a scrape in flight; the accept
            // loop itself ends when the shard drains.
            compio::runtime::spawn(serve(Rc::clone(shard), listener)).detach();
        }
        Ok(Box::pin(async {}))
    }
}

/// Binds the metrics listener (a plain socket: only shard 0 listens, so no SO_REUSEPORT).
///
/// # Errors
/// The address is taken or not ours.
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = std::net::TcpListener::bind(address)?;
    TcpListener::from_std(listener)
}

/// Answers scrapes until the shard starts draining.
pub async fn serve(shard: Rc<Shard>, listener: TcpListener) {
    let mut draining = pin!(shard.draining());
    let timeout = Duration::from_millis(limits::METRICS_REQUEST_TIMEOUT_MS);
    // Runs until draining by design, like the Kafka listener.
    loop {
        let accepted = match race(listener.accept(), draining.as_mut()).await {
            Either::Left(accepted) => accepted,
            Either::Right(()) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Transient (EMFILE, ECONNABORTED): back off so this loop does not spin.
                tracing::warn!(%error, "metrics accept failed");
                compio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        match compio::time::timeout(timeout, answer(&shard, stream)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%peer, %error, "metrics request failed"),
            Err(_) => tracing::debug!(%peer, "metrics request timed out"),
        }
    }
}

/// What the request line asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Metrics,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Routes on the request line (`GET /metrics HTTP/1.1`); the headers are read but unused.
fn route(head: &[u8]) -> Route {
    let line_end = head
        .windows(2)
        .position(|pair| pair == b"\r\n")
        .unwrap_or(head.len());
    let Some(line) = head.get(..line_end) else {
        return Route::BadRequest;
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return Route::BadRequest;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    if method != "GET" {
        return Route::MethodNotAllowed;
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path == "/metrics" {
        Route::Metrics
    } else {
        Route::NotFound
    }
}

/// Reads until the end of the request head, at most `METRICS_REQUEST_SIZE_MAX` bytes.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    // Bounded: each pass adds at least one byte or returns, and the head is capped.
    loop {
        let room = limits::METRICS_REQUEST_SIZE_MAX.saturating_sub(head.len());
        if room == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let BufResult(read, chunk) = stream.read(Vec::with_capacity(room.min(4096))).await;
        if read? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&chunk);
        if head.windows(4).any(|window| window == b"\r\n\r\n") {
            return Ok(head);
        }
    }
}

async fn answer(shard: &Rc<Shard>, mut stream: TcpStream) -> std::io::Result<()> {
    let head = read_head(&mut stream).await?;
    let (status, body) = match route(&head) {
        Route::Metrics => match scrape::gather(shard).await {
            Ok(snapshots) => match scrape::encode(snapshots) {
                Ok(text) => ("200 OK", text),
                Err(error) => ("500 Internal Server Error", format!("{error}\n")),
            },
            // A shard stopped: the broker is shutting down.
            Err(error) => ("503 Service Unavailable", format!("{error}\n")),
        },
        Route::NotFound => ("404 Not Found", "only /metrics is served\n".to_owned()),
        Route::MethodNotAllowed => ("405 Method Not Allowed", "use GET\n".to_owned()),
        Route::BadRequest => ("400 Bad Request", "malformed request line\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let BufResult(written, _) = stream.write_all(response.into_bytes()).await;
    written?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_on_the_request_line() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics
        );
        assert_eq!(route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Route::Metrics);
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"\xff\xfe\r\n\r\n"), Route::BadRequest);
    }
}
