//! rskafka, a pure-Rust client with its own codec, produces and fetches through the broker:
//! a second, independent implementation of the wire protocol agreeing with ours.
mod common;

use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use std::collections::BTreeMap;

fn record(index: usize) -> Record {
    Record {
        key: Some(format!("key-{index}").into_bytes()),
        value: Some(format!("value-{index}").into_bytes()),
        headers: BTreeMap::from([("h".to_owned(), b"v".to_vec())]),
        timestamp: chrono::Utc::now(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn produce_and_fetch_with_every_codec() {
    let broker = common::Broker::start();
    let client = ClientBuilder::new(vec![broker.address.to_string()])
        .build()
        .await
        .expect("client");
    let controller = client.controller_client().expect("controller");
    controller
        .create_topic("rs", 1, 1, 5_000)
        .await
        .expect("create topic");
    let partition = client
        .partition_client("rs", 0, UnknownTopicHandling::Retry)
        .await
        .expect("partition client");
    let codecs = [
        Compression::NoCompression,
        Compression::Gzip,
        Compression::Lz4,
        Compression::Snappy,
        Compression::Zstd,
    ];
    let mut expected = Vec::new();
    for (round, codec) in codecs.into_iter().enumerate() {
        let records: Vec<Record> = (round * 10..round * 10 + 10).map(record).collect();
        let offsets = partition
            .produce(records.clone(), codec)
            .await
            .expect("produce");
        assert_eq!(
            offsets,
            (0..10)
                .map(|i| i64::try_from(round * 10 + i).unwrap())
                .collect::<Vec<_>>()
        );
        expected.extend(records);
    }
    let mut fetched = Vec::new();
    let mut offset = 0;
    for _ in 0..50 {
        if fetched.len() >= expected.len() {
            break;
        }
        let (records, high_watermark) = partition
            .fetch_records(offset, 1..1_000_000, 1_000)
            .await
            .expect("fetch");
        assert_eq!(high_watermark, 50);
        for record in records {
            offset = record.offset + 1;
            fetched.push(record.record);
        }
    }
    assert_eq!(fetched.len(), expected.len());
    for (got, want) in fetched.iter().zip(&expected) {
        assert_eq!(got.key, want.key);
        assert_eq!(got.value, want.value);
        assert_eq!(got.headers, want.headers);
    }
}
