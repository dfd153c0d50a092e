//! One file per Kafka API: its request and response, every supported version, declared once
//! with [`crate::kafka_struct!`] and registered with [`crate::kafka_message!`].
//!
//! Field and version facts follow Kafka's JSON message schemas
//! (`clients/src/main/resources/common/message/*.json`); the declarations are our own.
pub mod api_versions;
pub mod delete_groups;
pub mod describe_groups;
pub mod find_coordinator;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod sync_group;
