//! Replays the fuzz corpus on stable Rust: every file under `tests/fuzz/corpus/<target>/` goes
//! through the same function its cargo-fuzz target calls (`ringbroker::protocol::fuzz_*`).
//! Any file must not panic; files named `seed-*` are valid inputs we generated and must decode.
//!
//! The seeds are written by the ignored test `write_seeds` (run it with `--ignored` after a
//! format change, then commit the files). Runs on the test harness's threads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::{BufMut, BytesMut};
use ringbroker::protocol::compression::SnappyFraming;
use ringbroker::protocol::header::RequestHeader;
use ringbroker::protocol::messages::api_versions::ApiVersionsRequest;
use ringbroker::protocol::messages::metadata::{MetadataRequest, MetadataRequestTopic};
use ringbroker::protocol::record_batch::Compression;
use ringbroker::protocol::records::{BatchBuilder, BatchOptions, NewHeader, NewRecord};
use ringbroker::protocol::{ApiKey, Message, frame, fuzz_decode_request, fuzz_record_batch};
use std::path::{Path, PathBuf};

/// Files per corpus directory we are willing to replay (checked-in seeds are a handful; a
/// local fuzzing run writes to `tests/fuzz/work`, not here).
const CORPUS_FILES_MAX: usize = 10_000;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target)
}

/// (is a seed, name, bytes) of every file in the target's corpus.
fn corpus(target: &str) -> Vec<(bool, String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    assert!(
        files.len() <= CORPUS_FILES_MAX,
        "{target}: {} files",
        files.len()
    );
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name.starts_with("seed-"),
                name,
                std::fs::read(&path).unwrap(),
            )
        })
        .collect()
}

#[test]
fn frame_corpus_replays() {
    let files = corpus("frame");
    assert!(
        files.iter().filter(|(seed, ..)| *seed).count() >= 3,
        "seeds missing"
    );
    for (seed, name, bytes) in files {
        let result = fuzz_decode_request(&bytes);
        if seed {
            let key = result.unwrap_or_else(|error| panic!("{name}: {error}"));
            // Seeds for declared messages must reach their body decoder.
            if name.contains("api_versions") {
                assert_eq!(key, Some(ApiKey::ApiVersions), "{name}");
            }
            if name.contains("metadata") {
                assert_eq!(key, Some(ApiKey::Metadata), "{name}");
            }
        }
    }
}

#[test]
fn record_batch_corpus_replays() {
    let files = corpus("record_batch");
    assert!(
        files.iter().filter(|(seed, ..)| *seed).count() >= 5,
        "seeds missing"
    );
    for (seed, name, bytes) in files {
        let result = fuzz_record_batch(&bytes);
        if seed {
            let count = result.unwrap_or_else(|error| panic!("{name}: {error}"));
            assert!(count > 0, "{name}");
        }
    }
}

fn request_frame<M: Message>(api_version: i16, body: &M) -> Vec<u8> {
    let header = RequestHeader {
        api_key: M::API_KEY.as_i16(),
        api_version,
        correlation_id: 7,
        client_id: Some("fuzz-seed".into()),
    };
    let mut buffer = BytesMut::new();
    let position = frame::start_frame(&mut buffer);
    header.encode(&mut buffer, header.is_flexible());
    body.encode_body(&mut buffer, api_version);
    frame::finish_frame(&mut buffer, position, 0);
    buffer.to_vec()
}

fn batch(options: BatchOptions) -> Vec<u8> {
    let mut output = BytesMut::new();
    let mut scratch = BytesMut::new();
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, options);
    let headers = [
        NewHeader {
            key: b"h",
            value: Some(b"1"),
        },
        NewHeader {
            key: b"h",
            value: None,
        },
    ];
    let records = [
        NewRecord {
            timestamp: 1_700_000_000_000,
            key: Some(b"key"),
            value: Some(b"value value value value"),
            headers: &headers,
        },
        NewRecord {
            timestamp: 1_700_000_000_010,
            key: None,
            value: Some(b""),
            headers: &[],
        },
    ];
    for record in &records {
        builder.append(record).unwrap();
    }
    builder.finish().unwrap();
    output.to_vec()
}

/// Regenerates the `seed-*` files. Ignored: it writes into the source tree.
#[test]
#[ignore = "writes the checked-in seed files; run by hand after a format change"]
fn write_seeds() {
    let frame_dir = corpus_dir("frame");
    std::fs::create_dir_all(&frame_dir).unwrap();
    let named = ApiVersionsRequest {
        client_software_name: "ringbroker-fuzz".into(),
        client_software_version: "0.1".into(),
    };
    let empty = ApiVersionsRequest::default();
    let metadata = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some("fuzz".into()),
            ..MetadataRequestTopic::default()
        }]),
        ..MetadataRequest::default()
    };
    let frames = [
        ("seed-api_versions_v0", request_frame(0, &empty)),
        ("seed-api_versions_v3", request_frame(3, &named)),
        ("seed-api_versions_v4", request_frame(4, &named)),
        ("seed-metadata_v12", request_frame(12, &metadata)),
    ];
    for (name, bytes) in frames {
        std::fs::write(frame_dir.join(name), bytes).unwrap();
    }

    let batch_dir = corpus_dir("record_batch");
    std::fs::create_dir_all(&batch_dir).unwrap();
    for codec in Compression::ALL {
        let options = BatchOptions {
            compression: codec,
            base_offset: 100,
            ..BatchOptions::default()
        };
        let name = format!("seed-{}", codec.name());
        std::fs::write(batch_dir.join(name), batch(options)).unwrap();
    }
    let xerial = BatchOptions {
        compression: Compression::Snappy,
        snappy_framing: SnappyFraming::Xerial,
        ..BatchOptions::default()
    };
    std::fs::write(batch_dir.join("seed-snappy_xerial"), batch(xerial)).unwrap();
    let transactional = BatchOptions {
        is_transactional: true,
        is_log_append_time: true,
        producer_id: 9,
        producer_epoch: 1,
        base_sequence: 0,
        ..BatchOptions::default()
    };
    let mut two = batch(transactional);
    // Two batches back to back, which the fuzz entry point reseals as one batch whose records
    // are followed by trailing bytes: an input that must fail cleanly.
    two.put_slice(&two.clone());
    std::fs::write(
        batch_dir.join("seed-transactional_log_append_time"),
        batch(transactional),
    )
    .unwrap();
    std::fs::write(batch_dir.join("two_batches_concatenated"), two).unwrap();
}
