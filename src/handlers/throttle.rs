//! Client quotas around every request (`dispatch` calls in here): which throttle a response
//! carries in `throttle_time_ms`, and how long its connection is then muted (KIP-219: the
//! broker answers at once and stops reading the client's next request for the throttle time;
//! the client backs off too). Enforcement state is `security::quota` (per shard).
//!
//! ```text
//! dispatch            a RequestQuota in ctx.quota; PollTimer adds each poll's time to it
//! response encoded    (IntoOutcome, the one place every handler's response passes)
//!   [`respond`]       Produce: request bytes → producer_byte_rate; the shard time so far →
//!                     request_percentage; the larger throttle is written into the response's
//!                     throttle_time_ms when its version has the field (`Message::
//!                     throttle_time_ms_mut`), whatever the API (Kafka's
//!                     `sendResponseMaybeThrottle`)
//! after the handler   [`after`]: the rest of the shard time → request_percentage, not
//!                     throttled (Kafka's network-thread time); Fetch: response bytes →
//!                     consumer_byte_rate, and a larger throttle is written into the Fetch
//!                     response's leading throttle_time_ms; the connection is muted for it.
//! ```
//!
//! Exempt (KIP-124: requests authorized as CLUSTER_ACTION are not quota'd): a follower's
//! Fetch and OffsetForLeaderEpoch whose principal has CLUSTER_ACTION on the cluster
//! ([`exempt_inter_broker`], called by those handlers). Nothing of theirs is recorded, their
//! responses answer throttle_time_ms 0 and their connection is never muted, so a `<default>`
//! quota cannot slow replication (Kafka sends follower fetches with
//! `sendResponseExemptThrottle` and holds them to the replication quota only). Our followers
//! send only Fetch (a diverged log is told by DivergingEpoch) and the controller's RPCs use
//! their own listener and never reach `dispatch`. A follower's OffsetForLeaderEpoch is exempt
//! by KIP-124's rule (it is authorized as CLUSTER_ACTION) though Kafka's handler still sends
//! it through the request quota: a Kafka-style follower's truncation must not wait on a
//! client quota either.
//!
//! request_percentage is measured as the time the shard spent polling the request's handler
//! future (`PollTimer`): the CPU time this request took from the shard's one thread, which is
//! what Kafka's request-handler time measures on its I/O threads. Time spent waiting (fsync,
//! other shards, long-poll Fetch) is not counted, as Kafka does not count a request parked in
//! purgatory. One shard's time is 100%, so 50 lets a client use half of a shard. Its throttle
//! is capped at one sample (1 s; Kafka's `ClientRequestQuotaManager` caps it at
//! `quota.window.size.seconds`), the byte rates' at the whole window (11 s).
//!
//! Difference from Kafka, on purpose: a throttled Fetch still carries its data (Kafka sends
//! an empty response and un-records the bytes); the mute still holds the client to its rate,
//! and the splice path needs no second encoding.
//!
//! Runs on the connection's shard.
use super::{HandlerOutcome, RequestContext, ResponsePart, SplicedResponse};
use crate::cluster::acls::{AclOperation, CLUSTER_NAME, ResourceType};
use crate::cluster::controller;
use crate::cluster::metadata::ClusterMetadata;
use crate::cluster::quotas::QuotaKey;
use crate::protocol::{ApiKey, Message, frame, versions};
use crate::security::quota::{self, Client};
use bytes::{Bytes, BytesMut};
use std::cell::Cell;
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

/// One request's quota accounting while quotas are in force, shared by `dispatch` (which
/// times the handler's polls) and the response's encoding (which answers the throttle).
#[derive(Debug)]
pub struct RequestQuota {
    metadata: Arc<ClusterMetadata>,
    /// The request body's size (Produce's bytes for producer_byte_rate).
    body_size: usize,
    /// Shard time of the handler's finished polls.
    busy: Cell<Duration>,
    /// When the poll in progress began (the response is encoded inside a poll).
    polling_since: Cell<Option<Instant>>,
    /// Shard time already recorded against request_percentage by [`respond`].
    recorded: Cell<Duration>,
    /// The throttle [`respond`] answered, once it ran.
    answered: Cell<Option<Duration>>,
    /// An inter-broker request authorized as CLUSTER_ACTION: nothing recorded or throttled.
    exempt: Cell<bool>,
}

impl RequestQuota {
    #[must_use]
    pub fn new(metadata: Arc<ClusterMetadata>, body_size: usize) -> Self {
        Self {
            metadata,
            body_size,
            busy: Cell::new(Duration::ZERO),
            polling_since: Cell::new(None),
            recorded: Cell::new(Duration::ZERO),
            answered: Cell::new(None),
            exempt: Cell::new(false),
        }
    }

    /// Shard time so far, the poll in progress included.
    fn busy_so_far(&self, now: Instant) -> Duration {
        let polling = self
            .polling_since
            .get()
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        self.busy.get() + polling
    }

    /// Whether [`exempt_inter_broker`] exempted the request.
    #[must_use]
    pub fn is_exempt(&self) -> bool {
        self.exempt.get()
    }
}

fn with_client<T>(ctx: &RequestContext, run: impl FnOnce(Client<'_>) -> T) -> T {
    let principal = ctx.session.principal();
    let client_id = ctx.client_id.as_deref().unwrap_or("");
    run(Client {
        user: &principal.name,
        client_id,
    })
}

/// Exempts this request from client quotas when its principal may CLUSTER_ACTION on the
/// cluster: for handlers of inter-broker requests (a follower's Fetch or OffsetForLeaderEpoch)
/// to call before they answer. Checked silently: the handler's own check logs a denial.
pub fn exempt_inter_broker(ctx: &RequestContext) {
    let Some(quota) = &ctx.quota else {
        return;
    };
    let operation = AclOperation::ClusterAction;
    if ctx.authorize_silently(operation, ResourceType::Cluster, CLUSTER_NAME) {
        quota.exempt.set(true);
    }
}

/// The quota throttle of `ctx`'s request as its response is made, written into `response`'s
/// `throttle_time_ms` when its version has one. Every handler's response passes here
/// (`IntoOutcome`), so no handler sets the field itself.
pub fn answer<M: Message>(ctx: &RequestContext, response: &mut M) {
    let throttle = respond(ctx);
    write_throttle(response, ctx.api_version, throttle);
}

/// Writes `throttle` into `response`'s `throttle_time_ms` if `version` has the field.
fn write_throttle<M: Message>(response: &mut M, version: i16, throttle: Duration) {
    if let Some(field) = response.throttle_time_ms_mut(version) {
        *field = as_ms(throttle);
    }
}

/// Records what the request costs so far and returns the throttle its response answers
/// ([`RequestQuota::respond`]); zero without quotas.
pub fn respond(ctx: &RequestContext) -> Duration {
    let Some(quota) = &ctx.quota else {
        return Duration::ZERO;
    };
    with_client(ctx, |client| {
        quota.respond(client, ctx.api_key, Instant::now())
    })
}

/// The throttle to mute the connection for after the request answered `outcome`
/// ([`RequestQuota::after`]); a Fetch's larger consumer_byte_rate throttle is written into
/// the Fetch response too.
pub fn after(ctx: &RequestContext, outcome: &mut HandlerOutcome) -> Duration {
    let Some(quota) = &ctx.quota else {
        return Duration::ZERO;
    };
    let size = outcome_size(outcome);
    let now = Instant::now();
    let (answered, throttle) =
        with_client(ctx, |client| quota.after(client, ctx.api_key, size, now));
    // Fetch v4+ (the registry's range) leads with throttle_time_ms.
    if ctx.api_key == ApiKey::Fetch && throttle > answered {
        assert!(
            ctx.api_version >= 1,
            "Fetch v{} has no throttle",
            ctx.api_version
        );
        let flexible = versions::is_flexible(ApiKey::Fetch, ctx.api_version);
        write_leading_throttle(outcome, flexible, throttle);
    }
    if !throttle.is_zero() {
        with_client(ctx, |client| quota::note_throttle(client, throttle));
    }
    throttle
}

impl RequestQuota {
    /// Records Produce's bytes against producer_byte_rate and the shard time so far against
    /// request_percentage (Kafka records both as it makes the response) and returns the larger
    /// throttle, which the response answers. Runs once per request; later calls return the
    /// first answer. Zero for an exempt request, with nothing recorded.
    pub fn respond(&self, client: Client<'_>, api_key: ApiKey, now: Instant) -> Duration {
        if let Some(answered) = self.answered.get() {
            return answered;
        }
        if self.exempt.get() {
            self.answered.set(Some(Duration::ZERO));
            return Duration::ZERO;
        }
        let quotas = self.metadata.client_quotas();
        let busy = self.busy_so_far(now);
        self.recorded.set(busy);
        #[allow(clippy::cast_precision_loss)] // bytes of one frame: far below 2^52
        let produce = if api_key == ApiKey::Produce {
            let size = self.body_size as f64;
            quota::record(quotas, QuotaKey::ProducerByteRate, client, size, now)
        } else {
            Duration::ZERO
        };
        let percent_seconds = busy.as_secs_f64() * 100.0;
        let key = QuotaKey::RequestPercentage;
        let throttle = produce.max(quota::record(quotas, key, client, percent_seconds, now));
        self.answered.set(Some(throttle));
        throttle
    }

    /// After the response of `response_size` bytes was made: runs [`Self::respond`] if the
    /// handler sent nothing (acks=0), records the shard time since it without a throttle
    /// (Kafka's `recordNoThrottle` of network-thread time) and, for Fetch, the response bytes
    /// against consumer_byte_rate. Returns (the throttle the response answered, the throttle
    /// to mute the connection for: the larger of it and Fetch's). Zeros for an exempt request.
    pub fn after(
        &self,
        client: Client<'_>,
        api_key: ApiKey,
        response_size: u64,
        now: Instant,
    ) -> (Duration, Duration) {
        let answered = self.respond(client, api_key, now);
        if self.exempt.get() {
            assert!(
                answered.is_zero(),
                "an exempt request answered {answered:?}"
            );
            return (Duration::ZERO, Duration::ZERO);
        }
        let quotas = self.metadata.client_quotas();
        let rest = self.busy_so_far(now).saturating_sub(self.recorded.get());
        self.recorded.set(self.recorded.get() + rest);
        let key = QuotaKey::RequestPercentage;
        let _unthrottled = quota::record(quotas, key, client, rest.as_secs_f64() * 100.0, now);
        #[allow(clippy::cast_precision_loss)] // bytes of one response: far below 2^52
        let fetch = if api_key == ApiKey::Fetch {
            let size = response_size as f64;
            quota::record(quotas, QuotaKey::ConsumerByteRate, client, size, now)
        } else {
            Duration::ZERO
        };
        (answered, answered.max(fetch))
    }
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

/// A future that adds the time spent in its `poll`s to `quota`: the shard time the request
/// took, waits excluded. The poll in progress is visible (`polling_since`) so that a response
/// encoded inside it counts the time up to then.
pub struct PollTimer<'a, F: ?Sized> {
    pub future: Pin<&'a mut F>,
    pub quota: &'a RequestQuota,
}

impl<F: Future + ?Sized> Future for PollTimer<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        assert!(self.quota.polling_since.get().is_none(), "nested poll");
        self.quota.polling_since.set(Some(started));
        let polled = self.future.as_mut().poll(context);
        self.quota.polling_since.set(None);
        self.quota
            .busy
            .set(self.quota.busy.get() + started.elapsed());
        polled
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cluster::metadata::MetadataRecord;
    use crate::cluster::quotas::{EntityName, QuotaEntity, QuotaValue};
    use crate::protocol::messages::api_versions::ApiVersionsResponse;
    use crate::protocol::messages::metadata::MetadataResponse;
    use crate::protocol::messages::sasl_authenticate::SaslAuthenticateResponse;

    /// Metadata whose `<default>` client id has `key` = `value`.
    fn default_quota(key: QuotaKey, value: f64) -> Arc<ClusterMetadata> {
        let record = MetadataRecord::ClientQuota {
            entity: QuotaEntity {
                user: None,
                client_id: Some(EntityName::Default),
            },
            key,
            value: Some(QuotaValue(value)),
        };
        let metadata = ClusterMetadata::empty("test".to_owned()).apply(&record);
        Arc::new(metadata.unwrap())
    }

    fn client(client_id: &str) -> Client<'_> {
        Client {
            user: "ANONYMOUS",
            client_id,
        }
    }

    /// A request that took `busy` of the shard.
    fn took(metadata: &Arc<ClusterMetadata>, busy: Duration) -> RequestQuota {
        let quota = RequestQuota::new(Arc::clone(metadata), 0);
        quota.busy.set(busy);
        quota
    }

    #[test]
    fn every_response_with_the_field_answers_the_throttle_at_its_versions() {
        let throttle = Duration::from_millis(700);
        // Metadata has throttle_time_ms from v3 on, ApiVersions from v1 (not as its first
        // field), SaslAuthenticate never.
        for version in 0..=12 {
            let mut response = MetadataResponse::default();
            write_throttle(&mut response, version, throttle);
            let expected = if version >= 3 { 700 } else { 0 };
            assert_eq!(response.throttle_time_ms, expected, "Metadata v{version}");
        }
        let mut response = ApiVersionsResponse::default();
        write_throttle(&mut response, 0, throttle);
        assert_eq!(response.throttle_time_ms, 0);
        write_throttle(&mut response, 3, throttle);
        assert_eq!(response.throttle_time_ms, 700);
        let mut sasl = SaslAuthenticateResponse::default();
        assert!(sasl.throttle_time_ms_mut(2).is_none());
        // The encoded v12 response carries it.
        let mut response = MetadataResponse::default();
        write_throttle(&mut response, 12, throttle);
        let mut body = BytesMut::new();
        response.encode_body(&mut body, 12);
        let decoded = MetadataResponse::decode_body(body.freeze(), 12).unwrap();
        assert_eq!(decoded.throttle_time_ms, 700);
    }

    #[test]
    fn a_request_over_its_percentage_answers_a_throttle_with_its_own_time_counted() {
        // 0.001 % of a shard: 0.1 ms per 10 s window. The first request's own 50 ms (counted
        // as the response is made, as Kafka does) is already over it.
        let metadata = default_quota(QuotaKey::RequestPercentage, 0.001);
        let now = Instant::now();
        let quota = took(&metadata, Duration::from_millis(50));
        let answered = quota.respond(client("metadata-reader"), ApiKey::Metadata, now);
        assert!(answered > Duration::ZERO, "not throttled");
        let cap = Duration::from_millis(crate::limits::QUOTA_REQUEST_THROTTLE_TIME_MS_MAX);
        assert!(answered <= cap, "{answered:?}");
        // Once answered, the answer holds; the mute is that answer.
        quota.busy.set(Duration::from_secs(5));
        let again = quota.respond(client("metadata-reader"), ApiKey::Metadata, now);
        assert_eq!(again, answered);
        let (said, mute) = quota.after(client("metadata-reader"), ApiKey::Metadata, 100, now);
        assert_eq!((said, mute), (answered, answered));
    }

    #[test]
    fn an_exempt_request_is_not_counted_and_never_throttled() {
        let metadata = default_quota(QuotaKey::RequestPercentage, 0.001);
        let now = Instant::now();
        // A follower's fetch that took a whole second of the shard: exempt, so nothing.
        let follower = took(&metadata, Duration::from_secs(1));
        follower.exempt.set(true);
        let fetch = ApiKey::Fetch;
        assert_eq!(
            follower.respond(client("replica"), fetch, now),
            Duration::ZERO
        );
        let after = follower.after(client("replica"), fetch, 1 << 20, now);
        assert_eq!(after, (Duration::ZERO, Duration::ZERO));
        // The same client's next, non-exempt request of no time is within the quota: the
        // exempt second was not recorded (it would throttle this one if it had been).
        let next = took(&metadata, Duration::ZERO);
        assert_eq!(next.respond(client("replica"), fetch, now), Duration::ZERO);
        let counted = took(&metadata, Duration::from_secs(1));
        assert!(counted.respond(client("replica"), fetch, now) > Duration::ZERO);
    }

    #[test]
    fn a_fetch_over_its_byte_rate_mutes_longer_than_its_request_answer() {
        let metadata = default_quota(QuotaKey::ConsumerByteRate, 1000.0);
        let now = Instant::now();
        let quota = took(&metadata, Duration::ZERO);
        let (answered, mute) = quota.after(client("consumer"), ApiKey::Fetch, 1 << 20, now);
        assert_eq!(answered, Duration::ZERO);
        let cap = Duration::from_millis(crate::limits::QUOTA_THROTTLE_TIME_MS_MAX);
        assert_eq!(mute, cap, "1 MiB at 1000 B/s");
    }

    #[test]
    fn the_poll_in_progress_counts_as_busy() {
        let metadata = default_quota(QuotaKey::RequestPercentage, 1.0);
        let quota = RequestQuota::new(metadata, 0);
        let started = Instant::now();
        quota.polling_since.set(Some(started));
        let later = started + Duration::from_millis(3);
        assert_eq!(quota.busy_so_far(later), Duration::from_millis(3));
        quota.polling_since.set(None);
        quota.busy.set(Duration::from_millis(3));
        assert_eq!(quota.busy_so_far(later), Duration::from_millis(3));
    }

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
