//! Tests of the snapshot encoding, the pre-log files, the upgrade and the applier.
use super::*;

/// What the broker before the record log wrote for a topic with an override, a second
/// topic and one broker override, after four changes (its versions started at 1).
const LEGACY_TOML: &str = r#"format_version = 1
cluster_id = "q1Sh-9_ISia_aT7Yv2fdvA"
version = 5

[broker_configs]
"log.retention.ms" = "60000"

[[topics]]
name = "orders"
topic_id = "0123456789abcdef0123456789abcdef"
partition_count = 6

[topics.configs]
"retention.ms" = "1000"

[[topics]]
name = "payments"
topic_id = "fedcba9876543210fedcba9876543210"
partition_count = 1
"#;

fn sample() -> ClusterMetadata {
    let topic_id = Uuid([3; 16]);
    let records = [
        MetadataRecord::TopicCreated {
            topic_id,
            name: "t".into(),
            partition_count: 4,
            configs: [("segment.bytes".to_owned(), "65536".to_owned())].into(),
        },
        MetadataRecord::BrokerConfigsSet {
            configs: [("log.retention.ms".to_owned(), "60000".to_owned())].into(),
        },
    ];
    ClusterMetadata::new_cluster().apply_all(&records).unwrap()
}

#[test]
fn a_new_cluster_is_created_once_and_loads_again() {
    let directory = tempfile::tempdir().unwrap();
    let store = MetadataStore::new(&directory.path().join("data"));
    let created = store.load_or_create().unwrap();
    assert_eq!(created.version, 0);
    assert!(store.path().exists());
    assert_eq!(
        store.load_or_create().unwrap(),
        created,
        "same cluster id after restart"
    );
}

#[compio::test]
async fn a_saved_change_survives_a_restart() {
    let directory = tempfile::tempdir().unwrap();
    let store = MetadataStore::new(directory.path());
    store.load_or_create().unwrap();
    let metadata = sample();
    store.save(&metadata).await.unwrap();
    assert_eq!(store.load_or_create().unwrap(), metadata);
    assert!(
        !directory
            .path()
            .join("cluster-metadata.snapshot.tmp")
            .exists()
    );
}

#[test]
fn an_older_brokers_toml_file_is_upgraded_in_place() {
    let directory = tempfile::tempdir().unwrap();
    let legacy = directory.path().join(MetadataStore::LEGACY_FILE_NAME);
    std::fs::write(&legacy, LEGACY_TOML).unwrap();
    let store = MetadataStore::new(directory.path());
    let metadata = store.load_or_create().unwrap();
    assert_eq!(metadata.cluster_id, "q1Sh-9_ISia_aT7Yv2fdvA");
    assert_eq!(metadata.version, 5, "the version carries over");
    let orders = metadata.topic("orders").unwrap();
    assert_eq!(
        format!("{:?}", orders.topic_id),
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(orders.partition_count, 6);
    assert_eq!(orders.configs["retention.ms"], "1000");
    let payments = metadata.topic("payments").unwrap();
    assert_eq!(
        metadata.topic_by_id(payments.topic_id).unwrap().name,
        "payments"
    );
    assert_eq!(metadata.broker_configs["log.retention.ms"], "60000");
    assert!(!legacy.exists(), "the TOML file is replaced");
    assert!(store.path().exists());
    assert_eq!(store.load_or_create().unwrap(), metadata);
}

#[test]
fn an_interrupted_upgrade_keeps_the_snapshot() {
    let directory = tempfile::tempdir().unwrap();
    let store = MetadataStore::new(directory.path());
    let metadata = sample();
    let bytes = encode_snapshot(&metadata).unwrap();
    std::fs::write(store.path(), bytes).unwrap();
    let legacy = directory.path().join(MetadataStore::LEGACY_FILE_NAME);
    std::fs::write(&legacy, LEGACY_TOML).unwrap();
    assert_eq!(store.load_or_create().unwrap(), metadata);
    assert!(!legacy.exists());
}

#[test]
fn invalid_legacy_files_are_refused() {
    let cases = [
        (
            LEGACY_TOML.replace("format_version = 1", "format_version = 2"),
            "FormatVersion",
        ),
        (
            LEGACY_TOML.replace("fedcba9876543210fedcba9876543210", "xyz"),
            "TopicId",
        ),
        (LEGACY_TOML.replace("\"payments\"", "\"orders\""), "Apply"),
        (
            LEGACY_TOML.replace(
                "fedcba9876543210fedcba9876543210",
                "0123456789abcdef0123456789abcdef",
            ),
            "Apply",
        ),
        (
            LEGACY_TOML.replace("partition_count = 1", "partition_count = 0"),
            "Apply",
        ),
        (
            LEGACY_TOML.replace("version = 5", "version = \"x\""),
            "Parse",
        ),
    ];
    for (text, expected) in cases {
        let directory = tempfile::tempdir().unwrap();
        let legacy = directory.path().join(MetadataStore::LEGACY_FILE_NAME);
        std::fs::write(&legacy, &text).unwrap();
        let error = MetadataStore::new(directory.path())
            .load_or_create()
            .unwrap_err();
        let MetadataFileError::Legacy { source, .. } = error else {
            panic!("{expected}: {error:?}");
        };
        assert!(
            format!("{source:?}").starts_with(expected),
            "{expected}: {source:?}"
        );
        assert!(legacy.exists(), "a refused file is left for the operator");
    }
}

#[test]
fn damaged_snapshots_are_refused() {
    let metadata = sample();
    let bytes = encode_snapshot(&metadata).unwrap();
    assert_eq!(decode_snapshot(&bytes).unwrap(), metadata);
    for end in 0..bytes.len() {
        assert!(
            decode_snapshot(&bytes[..end]).is_err(),
            "cut at {end} decoded"
        );
    }
    for index in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[index] ^= 0x20;
        assert!(
            decode_snapshot(&flipped).is_err(),
            "flip at {index} decoded"
        );
    }
    assert!(matches!(
        decode_snapshot(b"cluster-metadata"),
        Err(SnapshotDecodeError::BadMagic)
    ));
}

#[test]
fn a_snapshot_stands_for_its_version_not_its_record_count() {
    let metadata = sample().apply(&MetadataRecord::TopicRemoved {
        topic_id: Uuid([3; 16]),
    });
    let metadata = metadata.unwrap();
    assert_eq!(metadata.version, 3);
    let decoded = decode_snapshot(&encode_snapshot(&metadata).unwrap()).unwrap();
    assert_eq!(decoded.version, 3);
    assert!(decoded.topics.is_empty());
}

#[test]
fn brokers_partitions_and_producer_ids_survive_the_snapshot_file() {
    let records = super::super::records::tests::cluster_records();
    // Up to the block: the broker is fenced and unregistered after it.
    let metadata = ClusterMetadata::new_cluster()
        .apply_all(&records[..6])
        .unwrap();
    assert!(metadata.broker(2).is_some_and(|broker| !broker.fenced));
    let decoded = decode_snapshot(&encode_snapshot(&metadata).unwrap()).unwrap();
    assert_eq!(decoded, metadata);
    assert_eq!(decoded.producer_id_next(), 1000);
    // A snapshot written before partition records existed loads with the default.
    let old = decode_snapshot(&encode_snapshot(&sample()).unwrap()).unwrap();
    let topic_id = Uuid([3; 16]);
    assert_eq!(
        old.partition_or_single_node(topic_id, 3, 1),
        Some(super::super::PartitionState::single_node(1))
    );
}

#[compio::test]
async fn the_gate_admits_one_change_at_a_time() {
    let store = MetadataStore::new(Path::new("/nonexistent"));
    let turn = store.turn().await;
    assert!(store.gate.0.is_full(), "a turn holds the token");
    let shared = Rc::new(store.clone());
    drop(turn);
    assert!(
        shared.gate.0.is_empty(),
        "dropping the turn releases it for every clone"
    );
    let _again = shared.turn().await;
    assert!(store.gate.0.is_full());
}

#[test]
fn the_image_applies_a_first_state_then_records_and_snapshots_in_the_file_encoding() {
    let mut image = MetadataImage::default();
    let record = MetadataRecord::TopicRemoved {
        topic_id: Uuid([3; 16]),
    };
    // Records before the first state are skipped: there is nothing to apply them to.
    image.apply(1, &[record.to_bytes()]);
    assert!(image.current().is_none());
    let first = sample();
    image.apply(2, &[encode_snapshot(&first).unwrap()]);
    assert_eq!(
        *image.current().unwrap(),
        first,
        "first state, version kept"
    );
    // A second full state is skipped; so are records that do not decode or apply.
    image.apply(
        3,
        &[encode_snapshot(&ClusterMetadata::new_cluster()).unwrap()],
    );
    image.apply(4, &[vec![0xff, 0, 0]]);
    let unknown = MetadataRecord::TopicRemoved {
        topic_id: Uuid([9; 16]),
    };
    image.apply(5, &[unknown.to_bytes()]);
    assert_eq!(*image.current().unwrap(), first);
    image.apply(6, &[record.to_bytes()]);
    let removed = first.apply(&record).unwrap();
    assert_eq!(*image.current().unwrap(), removed);
    assert_eq!(image.current().unwrap().version, first.version + 1);
    let mut restored = MetadataImage::default();
    restored.restore(6, &image.snapshot()).unwrap();
    assert_eq!(restored.current(), image.current());
    assert!(restored.restore(6, b"not a snapshot").is_err());
    assert!(MetadataImage::default().snapshot().is_empty());
}

#[test]
fn pre_log_files_are_read_without_writing_and_renamed_away() {
    let directory = tempfile::tempdir().unwrap();
    let store = MetadataStore::new(directory.path());
    assert!(store.load_existing().unwrap().is_none());
    std::fs::write(
        directory.path().join(MetadataStore::LEGACY_FILE_NAME),
        LEGACY_TOML,
    )
    .unwrap();
    let legacy = store.load_existing().unwrap().unwrap();
    assert_eq!(legacy.version, 5);
    assert!(!store.path().exists(), "nothing written");
    let state = sample();
    let bytes = encode_snapshot(&state).unwrap();
    write_blocking(directory.path(), MetadataStore::FILE_NAME, &bytes).unwrap();
    assert_eq!(
        store.load_existing().unwrap().unwrap(),
        state,
        "the snapshot wins"
    );
    store.retire_pre_log_files().unwrap();
    assert!(store.load_existing().unwrap().is_none());
    for name in [MetadataStore::FILE_NAME, MetadataStore::LEGACY_FILE_NAME] {
        let migrated = directory.path().join(format!("{name}{MIGRATED_SUFFIX}"));
        assert!(migrated.exists(), "{name}");
    }
    store.retire_pre_log_files().unwrap();
}

#[test]
fn a_change_too_large_for_one_entry_splits_in_order_within_both_limits() {
    use crate::limits::{QUORUM_PROPOSAL_RECORDS_MAX, QUORUM_PROPOSAL_SIZE_MAX};
    // 100,002 small records (a fence of a broker leading 100k partitions): by count.
    let small: Vec<Vec<u8>> = (0..100_002u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let entries = split_into_entries(small.clone());
    assert_eq!(
        entries.len(),
        100_002_usize.div_ceil(QUORUM_PROPOSAL_RECORDS_MAX)
    );
    assert!(
        entries
            .iter()
            .all(|e| e.len() <= QUORUM_PROPOSAL_RECORDS_MAX)
    );
    assert_eq!(entries.concat(), small, "every record once, in order");
    // Large records: by size.
    let large: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 100_000]).collect();
    let entries = split_into_entries(large.clone());
    assert!(
        entries
            .iter()
            .all(|e| e.iter().map(Vec::len).sum::<usize>() <= QUORUM_PROPOSAL_SIZE_MAX)
    );
    assert_eq!(entries.len(), 4, "10 records of 100 kB per MiB");
    assert_eq!(entries.concat(), large);
    assert!(split_into_entries(Vec::new()).is_empty());
    assert_eq!(split_into_entries(vec![vec![1]]), vec![vec![vec![1]]]);
}
