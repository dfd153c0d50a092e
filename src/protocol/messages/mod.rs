//! One file per Kafka API: its request and response, every supported version, declared once
//! with [`crate::kafka_struct!`] and registered with [`crate::kafka_message!`].
//!
//! Field and version facts follow Kafka's JSON message schemas
//! (`clients/src/main/resources/common/message/*.json`); the declarations are our own.
pub mod api_versions;
pub mod delete_records;
pub mod fetch;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;
