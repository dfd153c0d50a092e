//! Codec-wide property tests over every API in `protocol::testing::API_CODECS`, every version in
//! its range, request and response:
//!
//! - arbitrary bytes, and mutations of valid encodings, decode to `Ok` or a typed `Err`, never a
//!   panic (a panic fails the proptest case, which prints the inputs);
//! - `decode(encode(x)) == x` and `encode(decode(encode(x))) == encode(x)` for random `x`
//!   generated valid for the version (`protocol::testing::Generate`).
//!
//! proptest draws a seed and our `TestRng` builds the value from it, so a failure prints the
//! seed; shrinking a seed is meaningless, which is why the generated values are small already.
//! Runs on no shard: an integration test of the sans-IO codec, part of `cargo test --release`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use ringbroker::protocol::frame::split_frame;
use ringbroker::protocol::header::{RequestHeader, decode_response_header};
use ringbroker::protocol::testing::{API_CODECS, ApiCodecs, MessageCodec, TestRng, api_codecs};
use ringbroker::protocol::{ApiKey, DecodeErrorKind, Reader};

/// A frame limit small enough that random size prefixes hit both sides of it.
const FRAME_SIZE_MAX: usize = 1 << 16;

/// Both codecs of an API with the side's name, for loops over request and response.
fn sides(codecs: &ApiCodecs) -> [(&'static str, MessageCodec); 2] {
    [("request", codecs.request), ("response", codecs.response)]
}

/// Every (api, side, version) the table covers.
fn every_message() -> Vec<(ApiKey, &'static str, MessageCodec, i16)> {
    let mut all = Vec::new();
    for codecs in API_CODECS {
        for (side, codec) in sides(codecs) {
            for version in codecs.version_min..=codecs.version_max {
                all.push((codecs.key, side, codec, version));
            }
        }
    }
    all
}

/// Applies one of a few byte-level mutations chosen by `rng` to a valid encoding.
fn mutate(rng: &mut TestRng, encoded: &mut Vec<u8>) {
    let len = u64::try_from(encoded.len()).unwrap();
    match rng.up_to(4) {
        // Overwrite one byte: the classic length/count corruption.
        0 if len > 0 => {
            let index = usize::try_from(rng.up_to(len - 1)).unwrap();
            encoded[index] = rng.next_u64().to_le_bytes()[0];
        }
        // Set a byte to 0xff: counts and lengths become -1 / huge varints.
        1 if len > 0 => {
            let index = usize::try_from(rng.up_to(len - 1)).unwrap();
            encoded[index] = 0xff;
        }
        // Truncate.
        2 => encoded.truncate(usize::try_from(rng.up_to(len)).unwrap()),
        // Insert a random byte.
        3 => {
            let index = usize::try_from(rng.up_to(len)).unwrap();
            encoded.insert(index, rng.next_u64().to_le_bytes()[0]);
        }
        // Append garbage: must be TrailingBytes or another error, never Ok with bytes ignored.
        _ => encoded.extend(rng.bytes(3)),
    }
}

#[test]
fn table_covers_every_api_once() {
    for key in ApiKey::ALL {
        let count = API_CODECS.iter().filter(|codecs| codecs.key == key).count();
        assert_eq!(count, 1, "{key:?} appears {count} times in API_CODECS");
        if let Some(codecs) = api_codecs(key) {
            let range = ringbroker::protocol::versions::range(key);
            assert_eq!(
                (codecs.version_min, codecs.version_max),
                (range.min, range.max)
            );
        }
    }
}

#[test]
fn versions_outside_the_range_are_typed_errors() {
    for codecs in API_CODECS {
        for (side, codec) in sides(codecs) {
            for version in [codecs.version_min - 1, codecs.version_max + 1, -1, i16::MAX] {
                if (codecs.version_min..=codecs.version_max).contains(&version) {
                    continue;
                }
                let error = (codec.decode)(Bytes::new(), version).unwrap_err();
                assert_eq!(
                    error.kind,
                    DecodeErrorKind::UnsupportedVersion { version },
                    "{:?} {side} v{version}",
                    codecs.key
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Raw random bytes as every body of every version, as a frame, and as request and response
    /// headers.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let bytes = Bytes::from(bytes);
        for (_, _, codec, version) in every_message() {
            // Ok is possible (e.g. an empty-bodied request); the property is "no panic".
            let _ = (codec.decode)(bytes.clone(), version);
        }
        let _ = split_frame(&mut BytesMut::from(&bytes[..]), FRAME_SIZE_MAX);
        let _ = RequestHeader::decode(&mut Reader::new(bytes.clone()));
        let _ = decode_response_header(&mut Reader::new(bytes.clone()), true);
    }

    /// Valid encodings with one mutation each: reaches the deep fields that raw bytes never do.
    #[test]
    fn mutated_encodings_never_panic(seed in any::<u64>()) {
        let mut rng = TestRng::new(seed);
        for (_, _, codec, version) in every_message() {
            let mut encoded = (codec.generate_encoded)(&mut rng, version).to_vec();
            mutate(&mut rng, &mut encoded);
            let _ = (codec.decode)(Bytes::from(encoded), version);
        }
    }

    /// decode(encode(x)) == x and re-encoding reproduces the bytes, for every message/version.
    #[test]
    fn random_values_round_trip(seed in any::<u64>()) {
        let mut rng = TestRng::new(seed);
        for (key, side, codec, version) in every_message() {
            let result = (codec.round_trip)(&mut rng, version);
            prop_assert!(result.is_ok(), "seed {seed} {key:?} {side}: {}", result.unwrap_err());
        }
    }
}

/// The generator must produce non-trivial values, or the round trip proves little: for every
/// message, some version and seed encodes differently from the message's default. (Per version
/// that cannot be required: ApiVersionsRequest v0–v2 has no fields at all.)
#[test]
fn generated_values_are_not_all_defaults() {
    for codecs in API_CODECS {
        for (side, codec) in sides(codecs) {
            let differs = (codecs.version_min..=codecs.version_max).any(|version| {
                let default = (codec.default_encoded)(version);
                (0..16).any(|seed| {
                    (codec.generate_encoded)(&mut TestRng::new(seed), version) != default
                })
            });
            assert!(
                differs,
                "{:?} {side}: only default values generated",
                codecs.key
            );
        }
    }
}
