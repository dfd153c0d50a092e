//! Hostile frames cannot make the decoder allocate: each frame below claims a huge array count,
//! string length or byte length (classic and compact encodings, at several nesting depths, in
//! requests and responses of several APIs). Each must be rejected with the expected typed error,
//! and the bytes allocated while decoding it (header and body) must not exceed the frame's own
//! payload size. This is the CVE-2022-34917 class of bug that ARCHITECTURE §2 rules out.
//!
//! A counting global allocator (this test binary only) adds up every allocation and every
//! reallocation's new size on the current thread; a thread-local counter keeps the test
//! harness's own threads out of the figures. One `#[test]` runs the cases in sequence.
//!
//! Frames are split off a receive buffer with `frame::split_frame`, as net/ does, before
//! counting starts, so the shared buffer's bookkeeping is not charged to the decoder.
//! Runs on no shard: an integration test of the sans-IO codec.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::{BufMut, BytesMut};
use ringbroker::protocol::frame::{finish_frame, split_frame, start_frame};
use ringbroker::protocol::header::{RequestHeader, decode_response_header};
use ringbroker::protocol::messages::produce;
use ringbroker::protocol::primitives::Writer;
use ringbroker::protocol::testing::api_codecs;
use ringbroker::protocol::{ApiKey, DecodeError, DecodeErrorKind, Reader, versions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts bytes requested from the system allocator by the current thread.
struct CountingAllocator;

thread_local! {
    // Const-initialised and without a destructor, so it is usable inside the allocator.
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

fn count(size: usize) {
    // try_with: the slot may be gone while a thread is being torn down.
    let _ = ALLOCATED.try_with(|allocated| allocated.set(allocated.get().saturating_add(size)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only a thread-local integer and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocated() -> usize {
    ALLOCATED.with(Cell::get)
}

/// Which side of the conversation a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

/// One hostile frame and the error it must produce.
struct Case {
    name: &'static str,
    key: ApiKey,
    /// Classic and flexible versions where the layout allows both.
    versions: &'static [i16],
    side: Side,
    body: fn(&mut BytesMut, bool),
    expected: fn(&DecodeErrorKind) -> bool,
}

impl Case {
    const fn new(
        side: Side,
        key: ApiKey,
        versions: &'static [i16],
        name: &'static str,
        expected: fn(&DecodeErrorKind) -> bool,
        body: fn(&mut BytesMut, bool),
    ) -> Self {
        Self {
            name,
            key,
            versions,
            side,
            body,
            expected,
        }
    }
}

fn array_too_long(kind: &DecodeErrorKind) -> bool {
    matches!(kind, DecodeErrorKind::ArrayTooLong { .. })
}

fn invalid_length(kind: &DecodeErrorKind) -> bool {
    matches!(kind, DecodeErrorKind::InvalidLength { .. })
}

fn unexpected_eof(kind: &DecodeErrorKind) -> bool {
    matches!(kind, DecodeErrorKind::UnexpectedEof { .. })
}

/// The largest count or length the encoding can claim: i32::MAX classic, the u32::MAX varint
/// (count + 1 = 2^32 − 1) compact.
fn huge_count(buffer: &mut BytesMut, flexible: bool) {
    if flexible {
        buffer.put_unsigned_varint(u32::MAX);
    } else {
        buffer.put_i32(i32::MAX);
    }
}

/// A string length of 2^15 − 1 classic, 2^32 − 2 compact.
fn huge_string_length(buffer: &mut BytesMut, flexible: bool) {
    if flexible {
        buffer.put_unsigned_varint(u32::MAX);
    } else {
        buffer.put_i16(i16::MAX);
    }
}

/// A count that passes the "at most the bytes left" check: `count` elements, followed by
/// `count` bytes of padding the elements will fail to parse.
fn plausible_count(buffer: &mut BytesMut, flexible: bool, count: u32) {
    if flexible {
        buffer.put_unsigned_varint(count + 1);
    } else {
        buffer.put_i32(i32::try_from(count).unwrap());
    }
}

/// Bytes after a hostile prefix, so "bytes left" is not trivially zero, and every plausible
/// count below is at most the bytes left.
const PADDING_SIZE: usize = 64;
const PLAUSIBLE_COUNT: u32 = 48;

fn padding(buffer: &mut BytesMut) {
    buffer.put_bytes(0xff, PADDING_SIZE);
}

fn produce_prefix(buffer: &mut BytesMut, flexible: bool) {
    buffer.put_nullable_string(None, flexible); // transactional_id
    buffer.put_i16(-1); // acks
    buffer.put_i32(30_000); // timeout_ms
}

fn produce_one_partition(buffer: &mut BytesMut, flexible: bool) {
    produce_prefix(buffer, flexible);
    plausible_count(buffer, flexible, 1); // topic_data
    buffer.put_string("t", flexible);
    plausible_count(buffer, flexible, 1); // partition_data
    buffer.put_i32(0); // index
}

fn fetch_v4_prefix(buffer: &mut BytesMut) {
    buffer.put_i32(-1); // replica_id
    buffer.put_i32(500); // max_wait_ms
    buffer.put_i32(1); // min_bytes
    buffer.put_i32(1 << 20); // max_bytes
    buffer.put_i8(0); // isolation_level
}

fn fetch_v12_prefix(buffer: &mut BytesMut) {
    fetch_v4_prefix(buffer);
    buffer.put_i32(0); // session_id
    buffer.put_i32(-1); // session_epoch
}

fn create_topics_one_topic(buffer: &mut BytesMut, flexible: bool) {
    plausible_count(buffer, flexible, 1); // topics
    buffer.put_string("t", flexible);
    buffer.put_i32(1); // num_partitions
    buffer.put_i16(1); // replication_factor
}

/// A valid first topic (7 wire bytes: name "t", empty partitions) then a hostile one. The
/// decoder reserves topics as if the rest of the frame held topics the size of the first, which is
/// what a valid frame of this size could need: see `first_element_bounds_the_reservation`.
const FIRST_TOPIC_VALID: Case = Case::new(
    Side::Request,
    ApiKey::Produce,
    &[3],
    "first topic valid, second topic name length 2^15-1",
    invalid_length,
    |b, f| {
        produce_prefix(b, f);
        plausible_count(b, f, PLAUSIBLE_COUNT);
        b.put_string("t", f);
        plausible_count(b, f, 0);
        huge_string_length(b, f);
        padding(b);
    },
);
/// Wire size of the first topic in [`FIRST_TOPIC_VALID`].
const FIRST_TOPIC_WIRE_SIZE: usize = 7;

const CASES: &[Case] = &[
    Case::new(
        Side::Request,
        ApiKey::Produce,
        &[3, 9],
        "topic_data count 2^31-1 / compact 2^32-1",
        array_too_long,
        |b, f| {
            produce_prefix(b, f);
            huge_count(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::Produce,
        &[3],
        "topic name length 2^15-1",
        invalid_length,
        |b, f| {
            produce_prefix(b, f);
            plausible_count(b, f, 1);
            huge_string_length(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::Produce,
        &[3, 9],
        "records length 2^31-1 / compact 2^32-2",
        invalid_length,
        |b, f| {
            produce_one_partition(b, f);
            huge_count(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::Produce,
        &[3],
        "nested: topics and partitions each claim as many as bytes left",
        invalid_length,
        |b, f| {
            produce_prefix(b, f);
            plausible_count(b, f, PLAUSIBLE_COUNT);
            b.put_string("t", f);
            plausible_count(b, f, PLAUSIBLE_COUNT);
            b.put_i32(0);
            huge_count(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::Fetch,
        &[4],
        "partitions count 2^31-1 inside a topic",
        array_too_long,
        |b, f| {
            fetch_v4_prefix(b);
            plausible_count(b, f, 1);
            b.put_string("t", f);
            huge_count(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::Fetch,
        &[12],
        "topics claim as many as bytes left, partitions compact 2^32-1",
        array_too_long,
        |b, f| {
            fetch_v12_prefix(b);
            plausible_count(b, f, PLAUSIBLE_COUNT);
            b.put_string("t", f);
            huge_count(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::Fetch,
        &[4],
        "topics count 2^31-1",
        array_too_long,
        |b, f| {
            fetch_v4_prefix(b);
            huge_count(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::Metadata,
        &[1, 9],
        "topics count 2^31-1 / compact 2^32-1",
        array_too_long,
        |b, f| {
            huge_count(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::Metadata,
        &[4],
        "topic name length 2^15-1",
        invalid_length,
        |b, f| {
            plausible_count(b, f, PLAUSIBLE_COUNT);
            huge_string_length(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::Metadata,
        &[12],
        "topic name compact length 2^32-2",
        invalid_length,
        |b, f| {
            plausible_count(b, f, PLAUSIBLE_COUNT);
            b.put_uuid(ringbroker::protocol::Uuid::ZERO);
            huge_string_length(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::CreateTopics,
        &[2],
        "three levels: topics, assignments, broker_ids 2^31-1",
        array_too_long,
        |b, f| {
            create_topics_one_topic(b, f);
            plausible_count(b, f, PLAUSIBLE_COUNT); // assignments
            b.put_i32(0); // partition_index
            huge_count(b, f); // broker_ids
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::CreateTopics,
        &[5],
        "configs compact count 2^32-1",
        array_too_long,
        |b, f| {
            create_topics_one_topic(b, f);
            plausible_count(b, f, 0); // assignments
            huge_count(b, f); // configs
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::ApiVersions,
        &[3],
        "tagged field claims 2^32-1 bytes",
        invalid_length,
        |b, f| {
            b.put_string("a", f);
            b.put_string("b", f);
            b.put_unsigned_varint(1); // one tagged field
            b.put_unsigned_varint(9); // tag
            b.put_unsigned_varint(u32::MAX); // size
            padding(b);
        },
    ),
    Case::new(
        Side::Request,
        ApiKey::ApiVersions,
        &[3],
        "tagged field count 2^32-1",
        unexpected_eof,
        |b, f| {
            b.put_string("a", f);
            b.put_string("b", f);
            b.put_unsigned_varint(u32::MAX); // tagged field count
        },
    ),
    Case::new(
        Side::Response,
        ApiKey::Fetch,
        &[4],
        "records length 2^31-1",
        invalid_length,
        |b, f| {
            b.put_i32(0); // throttle_time_ms
            plausible_count(b, f, 1); // responses
            b.put_string("t", f);
            plausible_count(b, f, 1); // partitions
            b.put_i32(0); // partition_index
            b.put_i16(0); // error_code
            b.put_i64(0); // high_watermark
            b.put_i64(0); // last_stable_offset
            b.put_i32(-1); // aborted_transactions: null
            huge_count(b, f); // records
            padding(b);
        },
    ),
    Case::new(
        Side::Response,
        ApiKey::Metadata,
        &[1],
        "brokers count 2^31-1",
        array_too_long,
        |b, f| {
            huge_count(b, f);
            padding(b);
        },
    ),
    Case::new(
        Side::Response,
        ApiKey::Produce,
        &[9],
        "partitions compact count 2^32-1",
        array_too_long,
        |b, f| {
            plausible_count(b, f, PLAUSIBLE_COUNT); // responses
            b.put_string("t", f);
            huge_count(b, f); // partition_responses
            padding(b);
        },
    ),
];

/// The case's whole frame at `version`, split off a receive buffer as the connection loop does.
fn frame(case: &Case, version: i16) -> bytes::Bytes {
    let flexible = versions::is_flexible(case.key, version);
    let mut buffer = BytesMut::new();
    let position = start_frame(&mut buffer);
    match case.side {
        Side::Request => {
            let header = RequestHeader {
                api_key: case.key.as_i16(),
                api_version: version,
                correlation_id: 1,
                client_id: Some("alloc-test".into()),
            };
            header.encode(&mut buffer, flexible);
        }
        Side::Response => {
            ringbroker::protocol::header::encode_response_header(&mut buffer, 1, flexible);
        }
    }
    (case.body)(&mut buffer, flexible);
    finish_frame(&mut buffer, position, 0);
    split_frame(&mut buffer, usize::MAX)
        .unwrap()
        .unwrap()
        .freeze()
}

/// Header and body decode of one frame, as the broker (requests) or a client (responses) runs it.
fn decode(case: &Case, version: i16, payload: bytes::Bytes) -> Result<(), DecodeError> {
    let codecs = api_codecs(case.key).unwrap();
    let mut reader = Reader::new(payload);
    let flexible = versions::is_flexible(case.key, version);
    let codec = match case.side {
        Side::Request => {
            let header = RequestHeader::decode(&mut reader)?;
            assert_eq!(header.api_version, version);
            codecs.request
        }
        Side::Response => {
            decode_response_header(&mut reader, flexible)?;
            codecs.response
        }
    };
    (codec.decode)(reader.rest(), version)
}

/// Frame size, bytes allocated while decoding it, and the decode result.
fn measure(case: &Case, version: i16) -> (usize, usize, Result<(), DecodeError>) {
    let payload = frame(case, version);
    let frame_size = payload.len();
    let before = allocated();
    let result = decode(case, version, payload);
    let used = allocated() - before;
    let name = format!("{:?} v{version} {:?}: {}", case.key, case.side, case.name);
    println!("{name:<90} frame {frame_size:>4} B, allocated {used:>5} B");
    (frame_size, used, result)
}

#[test]
fn hostile_frames_are_rejected_without_allocating_more_than_the_frame() {
    let mut failures = Vec::new();
    for case in CASES {
        for &version in case.versions {
            let name = format!("{:?} v{version} {:?}: {}", case.key, case.side, case.name);
            let (frame_size, used, result) = measure(case, version);
            match result {
                Ok(()) => failures.push(format!("{name}: decoded")),
                Err(error) if !(case.expected)(&error.kind) => {
                    failures.push(format!("{name}: unexpected error {error}"));
                }
                Err(_) if used > frame_size => failures.push(format!(
                    "{name}: allocated {used} bytes for a {frame_size}-byte frame"
                )),
                Err(_) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Once an element has decoded, an array reserves at most as many elements as the bytes left
/// could hold at the first element's wire size (and at most `ARRAY_PREALLOCATE_MAX`): the memory
/// a valid frame of this size could need, never what the count claims.
#[test]
fn first_element_bounds_the_reservation() {
    let case = &FIRST_TOPIC_VALID;
    let (frame_size, used, result) = measure(case, 3);
    assert!((case.expected)(&result.unwrap_err().kind));
    let element_size = std::mem::size_of::<produce::TopicProduceData>();
    let bound = element_size * (1 + frame_size / FIRST_TOPIC_WIRE_SIZE);
    assert!(
        used <= bound,
        "allocated {used} bytes for a {frame_size}-byte frame (bound {bound})"
    );
    let claimed = element_size * usize::try_from(PLAUSIBLE_COUNT).unwrap();
    assert!(
        used < claimed,
        "allocated {used} bytes: the claimed count was reserved"
    );
}

/// The counter itself works: a control allocation is seen, so a zero above means zero.
#[test]
fn counting_allocator_counts() {
    let before = allocated();
    // black_box: in release (the CI runs `cargo test --release`) an unused allocation may be
    // optimised away.
    let vector: Vec<u8> = std::hint::black_box(Vec::with_capacity(1000));
    let used = allocated() - before;
    drop(std::hint::black_box(vector));
    assert!(
        used >= 1000,
        "counted {used} bytes for a 1000-byte allocation"
    );
}
