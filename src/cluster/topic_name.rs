//! Topic name rules, as Kafka's `Topic.validate`: 1–249 characters from `[a-zA-Z0-9._-]`, not
//! `.` or `..` (they would be directory names of their own). Runs on any shard (pure).
use crate::limits::TOPIC_NAME_LENGTH_MAX;

/// Why a topic name is refused; maps to INVALID_TOPIC_EXCEPTION.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicNameError {
    #[error("topic name is empty")]
    Empty,
    #[error("topic name cannot be \".\" or \"..\"")]
    Dots,
    #[error("topic name is {length} characters, more than the limit of {TOPIC_NAME_LENGTH_MAX}")]
    TooLong { length: usize },
    #[error("topic name contains {character:?}; legal: ASCII alphanumerics, '.', '_', '-'")]
    IllegalCharacter { character: char },
    /// The metadata log's own partition directory is `__cluster_metadata-0`.
    #[error("topic name {RESERVED_METADATA_TOPIC:?} is the metadata log's")]
    Reserved,
}

/// Kafka's `__cluster_metadata`: the metadata log (`cluster::quorum`), never a user topic.
pub const RESERVED_METADATA_TOPIC: &str = "__cluster_metadata";

/// # Errors
/// Any [`TopicNameError`].
pub fn validate(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if name == "." || name == ".." {
        return Err(TopicNameError::Dots);
    }
    if name.len() > TOPIC_NAME_LENGTH_MAX {
        return Err(TopicNameError::TooLong { length: name.len() });
    }
    if let Some(character) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(TopicNameError::IllegalCharacter { character });
    }
    if name == RESERVED_METADATA_TOPIC {
        return Err(TopicNameError::Reserved);
    }
    Ok(())
}

/// Kafka refuses a topic whose name equals another's once '.' is replaced by '_', because
/// metric names cannot tell them apart.
#[must_use]
pub fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

/// Topics whose names start with `__` are internal (e.g. `__consumer_offsets`).
#[must_use]
pub fn is_internal(name: &str) -> bool {
    name.starts_with("__")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kafka_legal_names() {
        for name in [
            "a",
            "orders.v1",
            "my_topic-2",
            "__consumer_offsets",
            &"x".repeat(249),
        ] {
            assert_eq!(validate(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_illegal_names() {
        assert_eq!(validate(""), Err(TopicNameError::Empty));
        assert_eq!(validate(".."), Err(TopicNameError::Dots));
        assert_eq!(
            validate(&"x".repeat(250)),
            Err(TopicNameError::TooLong { length: 250 })
        );
        assert_eq!(
            validate("a/b"),
            Err(TopicNameError::IllegalCharacter { character: '/' })
        );
        assert!(validate("ünïcode").is_err());
        assert!(validate("space here").is_err());
        assert_eq!(
            validate("__cluster_metadata"),
            Err(TopicNameError::Reserved)
        );
        assert_eq!(validate("__cluster_metadata2"), Ok(()));
    }

    #[test]
    fn dot_and_underscore_collide() {
        assert_eq!(collision_key("a.b"), collision_key("a_b"));
    }
}
