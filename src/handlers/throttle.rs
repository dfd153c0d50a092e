//! Client quotas around every request (`dispatch` calls in here): which throttle a response
//! carries in `throttle_time_ms`, and how long its connection is then muted (KIP-219: the
//! broker answers at once and stops reading the client's next request for the throttle time;
//! the client backs off too). Enforcement state is `security::quota` (per shard).
//!
//! ```text
//! before the handler  Produce: request bytes → producer_byte_rate throttle
//!                     any API: request_percentage rate so far → its throttle
//!                     the larger is ctx.throttle_time_ms (Produce and the quota APIs answer it)
//! after the handler   the time this request's task spent being polled on the shard →
//!                     request_percentage; Fetch: response bytes → consumer_byte_rate, and the
//!                     larger throttle is written into the Fetch response's leading
//!                     throttle_time_ms; the connection is muted for the largest.
//! ```
//!
//! request_percentage is measured as the time the shard spent polling the request's handler
//! future (`PollTimer`): the CPU time this request took from the shard's one thread, which is
//! what Kafka's request-handler time measures on its I/O threads. Time spent waiting (fsync,
//! other shards, long-poll Fetch) is not counted, as Kafka does not count a request parked in
//! purgatory. One shard's time is 100%, so 50 lets a client use half of a shard. Its throttle
//! is capped at one sample (1 s; Kafka's `ClientRequestQuotaManager` caps it at
//! `quota.window.size.seconds`), the byte rates' at the whole window (11 s).
//!
//! Differences from Kafka, on purpose: a throttled Fetch still carries its data (Kafka sends
//! an empty response and un-records the bytes); the mute still holds the client to its rate,
//! and the splice path needs no second encoding. Other APIs' responses answer
//! `throttle_time_ms` 0 even when request_percentage mutes the connection (the mute is what
//! enforces; clients read the field only to back off sooner).
//!
//! Runs on the connection's shard.
use super::{HandlerOutcome, RequestContext, ResponsePart, SplicedResponse};
use crate::cluster::controller;
use crate::cluster::metadata::ClusterMetadata;
use crate::cluster::quotas::QuotaKey;
use crate::protocol::{ApiKey, frame, versions};
use crate::security::quota::{self, Client};
use bytes::{Bytes, BytesMut};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The metadata to enforce quotas from, `None` when the cluster has none (the one branch
/// every request pays without quotas).
#[must_use]
pub fn quotas_in_force(ctx: &RequestContext) -> Option<Arc<ClusterMetadata>> {
    let metadata = controller::metadata(&ctx.shard);
    (!metadata.client_quotas().is_empty()).then_some(metadata)
}

fn with_client<T>(ctx: &RequestContext, run: impl FnOnce(Client<'_>) -> T) -> T {
    let principal = ctx.session.principal();
    let client_id = ctx.client_id.as_deref().unwrap_or("");
    run(Client {
        user: &principal.name,
        client_id,
    })
}

/// The throttle a request earns before it runs: Produce's bytes, and the request rate so far.
#[must_use]
pub fn before(ctx: &RequestContext, metadata: &ClusterMetadata, body_size: usize) -> Duration {
    let quotas = metadata.client_quotas();
    let now = Instant::now();
    with_client(ctx, |client| {
        #[allow(clippy::cast_precision_loss)] // bytes of one frame: far below 2^52
        let produce = if ctx.api_key == ApiKey::Produce {
            quota::record(
                quotas,
                QuotaKey::ProducerByteRate,
                client,
                body_size as f64,
                now,
            )
        } else {
            Duration::ZERO
        };
        let request = quota::record(quotas, QuotaKey::RequestPercentage, client, 0.0, now);
        produce.max(request)
    })
}

/// The throttle after the request ran for `busy` on the shard and answered `outcome`; a
/// Fetch response gets the larger of its and `ctx.throttle_time_ms` written into it.
pub fn after(
    ctx: &RequestContext,
    metadata: &ClusterMetadata,
    busy: Duration,
    outcome: &mut HandlerOutcome,
) -> Duration {
    let quotas = metadata.client_quotas();
    let now = Instant::now();
    let percent_seconds = busy.as_secs_f64() * 100.0;
    let throttle = with_client(ctx, |client| {
        let key = QuotaKey::RequestPercentage;
        let request = quota::record(quotas, key, client, percent_seconds, now);
        let fetch = if ctx.api_key == ApiKey::Fetch {
            #[allow(clippy::cast_precision_loss)] // bytes of one response: far below 2^52
            let size = outcome_size(outcome) as f64;
            quota::record(quotas, QuotaKey::ConsumerByteRate, client, size, now)
        } else {
            Duration::ZERO
        };
        request.max(fetch)
    });
    let ms = u64::try_from(ctx.throttle_time_ms).unwrap_or(0);
    let throttle = throttle.max(Duration::from_millis(ms));
    if ctx.api_key == ApiKey::Fetch && !throttle.is_zero() {
        let flexible = versions::is_flexible(ApiKey::Fetch, ctx.api_version);
        write_leading_throttle(outcome, flexible, throttle);
    }
    if !throttle.is_zero() {
        with_client(ctx, |client| quota::note_throttle(client, throttle));
    }
    throttle
}

/// `Duration` as the wire's `throttle_time_ms` (the cap keeps it in range).
#[must_use]
pub fn as_ms(throttle: Duration) -> i32 {
    i32::try_from(throttle.as_millis()).unwrap_or(i32::MAX)
}

fn outcome_size(outcome: &HandlerOutcome) -> u64 {
    match outcome {
        HandlerOutcome::Response(bytes) => bytes.len() as u64,
        HandlerOutcome::Spliced(response) => response.size_bytes(),
        HandlerOutcome::NoResponse => 0,
    }
}

/// Writes `throttle` into a response whose body starts with `throttle_time_ms` (Fetch v1+):
/// after the size prefix, the correlation id and, in flexible versions, the header's empty
/// tagged-field count (one byte, as our encoder writes it).
fn write_leading_throttle(outcome: &mut HandlerOutcome, flexible: bool, throttle: Duration) {
    let offset = frame::FRAME_PREFIX_SIZE + 4 + usize::from(flexible);
    let patch = |bytes: &Bytes| -> Bytes {
        let mut copy = BytesMut::from(bytes.as_ref());
        if let Some(field) = copy.get_mut(offset..offset + 4) {
            field.copy_from_slice(&as_ms(throttle).to_be_bytes());
        }
        copy.freeze()
    };
    match outcome {
        HandlerOutcome::Response(bytes) => *bytes = patch(bytes),
        HandlerOutcome::Spliced(SplicedResponse { parts }) => {
            if let Some(ResponsePart::Memory(bytes)) = parts.first_mut() {
                assert!(
                    bytes.len() >= offset + 4,
                    "spliced head of {} bytes",
                    bytes.len()
                );
                *bytes = patch(bytes);
            }
        }
        HandlerOutcome::NoResponse => {}
    }
}

/// A future that adds the time spent in its `poll`s to `busy`: the shard time the request
/// took, waits excluded.
pub struct PollTimer<'a, F: ?Sized> {
    pub future: Pin<&'a mut F>,
    pub busy: &'a mut Duration,
}

impl<F: Future + ?Sized> Future for PollTimer<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let polled = self.future.as_mut().poll(context);
        *self.busy += started.elapsed();
        polled
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn leading_throttle_lands_after_the_header() {
        // size, correlation id, tagged fields (flexible), throttle_time_ms, error code.
        let frame: &[u8] = &[0, 0, 0, 11, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0];
        let mut outcome = HandlerOutcome::Response(Bytes::copy_from_slice(frame));
        write_leading_throttle(&mut outcome, true, Duration::from_millis(258));
        let HandlerOutcome::Response(bytes) = outcome else {
            panic!("not a response");
        };
        assert_eq!(&bytes[..], &[0, 0, 0, 11, 0, 0, 0, 7, 0, 0, 0, 1, 2, 0, 0]);
    }
}
