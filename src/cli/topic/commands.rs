//! One function per `ringbroker topic` action: read the parsed flags, make the exchanges
//! (`admin.rs`), print the result (`format.rs`) and per-topic errors, and decide the outcome
//! (any per-topic error gives [`Outcome::Problems`], exit code 1, as kafka-topics.sh). Runs on
//! the main thread of the admin process.
use super::super::args::Parsed;
use super::super::{CliError, Outcome};
use super::admin::{Admin, leader_offsets};
use super::format::topic_name;
use super::format::{format_configs, format_describe, format_list, sorted_topics, topic_id_text};
use super::{ADMIN_TIMEOUT_MS, CONFIG_OPERATION_DELETE, CONFIG_OPERATION_SET, RESOURCE_TYPE_TOPIC};
use crate::protocol::messages::create_partitions::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsTopic,
};
use crate::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest, CreateTopicsResponse,
};
use crate::protocol::messages::delete_topics::{
    DeleteTopicState, DeleteTopicsRequest, DeleteTopicsResponse,
};
use crate::protocol::messages::incremental_alter_configs::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use crate::protocol::messages::metadata::MetadataResponse;
use crate::protocol::{ApiKey, ErrorCode, StrBytes, Uuid};
use std::io::Write;

pub(super) fn list(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut admin = Admin::connect(parsed)?;
    let metadata = admin.metadata(None)?;
    out.write_all(format_list(&metadata).as_bytes())?;
    Ok(Outcome::Success)
}

pub(super) fn describe(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut admin = Admin::connect(parsed)?;
    let names = (!parsed.positional.is_empty()).then_some(parsed.positional.as_slice());
    let mut metadata = admin.metadata(names)?;
    if parsed.switch("--under-replicated") {
        keep_under_replicated(&mut metadata);
    }
    let mut outcome = Outcome::Success;
    let mut found = Vec::new();
    for topic in sorted_topics(&metadata) {
        if topic.error_code == ErrorCode::None {
            found.push(topic);
        } else {
            outcome = Outcome::Problems;
            let error = topic_error(topic_name(topic), topic.error_code, None);
            writeln!(out, "Error: {error}")?;
        }
    }
    let offsets = leader_offsets(&mut admin, &metadata, &found)?;
    let names: Vec<&str> = found.iter().map(|topic| topic_name(topic)).collect();
    let configs = admin.describe_configs(&names)?;
    for topic in found {
        let topic_configs = configs.as_ref().and_then(|response| {
            response
                .results
                .iter()
                .find(|result| result.resource_name.as_str() == topic_name(topic))
        });
        out.write_all(format_describe(topic, topic_configs, &offsets).as_bytes())?;
    }
    Ok(outcome)
}

/// Keeps only the partitions whose ISR is smaller than their replica set, and the topics
/// that have one (what `kafka-topics.sh --describe --under-replicated-partitions` lists).
fn keep_under_replicated(metadata: &mut MetadataResponse) {
    for topic in &mut metadata.topics {
        topic
            .partitions
            .retain(|partition| partition.isr_nodes.len() < partition.replica_nodes.len());
    }
    metadata
        .topics
        .retain(|topic| !topic.partitions.is_empty() && topic.error_code == ErrorCode::None);
}

fn topic_error(topic: &str, error_code: ErrorCode, message: Option<&StrBytes>) -> CliError {
    CliError::Kafka {
        what: format!("topic {topic}"),
        error_code,
        message: message.map(ToString::to_string),
    }
}

pub(super) fn create(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let name = parsed
        .positional
        .first()
        .ok_or(CliError::Usage("topic name"))?;
    // -1 asks for the broker's defaults (CreateTopics v4+, KIP-464).
    let partitions = parsed.number::<i32>("--partitions")?.unwrap_or(-1);
    let replication_factor = parsed.number::<i16>("--replication-factor")?.unwrap_or(-1);
    let configs = parsed
        .values("--config")
        .map(|pair| {
            let (key, value) = split_pair("--config", pair)?;
            Ok(CreatableTopicConfig {
                name: StrBytes::from(key),
                value: Some(StrBytes::from(value)),
            })
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    let mut admin = Admin::connect(parsed)?;
    let version = admin.versions.need(ApiKey::CreateTopics)?;
    if version < 4 && (partitions < 0 || replication_factor < 0) {
        return Err(CliError::Usage(
            "this broker's CreateTopics needs --partitions and --replication-factor",
        ));
    }
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(name.as_str()),
            num_partitions: partitions,
            replication_factor,
            assignments: Vec::new(),
            configs,
        }],
        timeout_ms: ADMIN_TIMEOUT_MS,
        validate_only: false,
    };
    let response: CreateTopicsResponse = admin.connection.call(version, &request)?;
    let results = response.topics.iter().map(|result| {
        let error = result.error_message.as_ref();
        (result.name.to_string(), result.error_code, error.cloned())
    });
    report(out, "Created topic", results)
}

fn split_pair<'a>(flag: &'static str, pair: &'a str) -> Result<(&'a str, &'a str), CliError> {
    pair.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| CliError::BadValue {
            flag,
            value: pair.to_owned(),
            expected: "KEY=VALUE",
        })
}

/// Prints `"{done} {name}."` per success and `Error: …` per failure.
fn report(
    out: &mut dyn Write,
    done: &str,
    results: impl Iterator<Item = (String, ErrorCode, Option<StrBytes>)>,
) -> Result<Outcome, CliError> {
    let mut outcome = Outcome::Success;
    let mut count = 0usize;
    for (name, error_code, message) in results {
        count += 1;
        if error_code == ErrorCode::None {
            writeln!(out, "{done} {name}.")?;
        } else {
            outcome = Outcome::Problems;
            writeln!(
                out,
                "Error: {}",
                topic_error(&name, error_code, message.as_ref())
            )?;
        }
    }
    if count == 0 {
        writeln!(out, "Error: the broker answered without any topic result")?;
        outcome = Outcome::Problems;
    }
    Ok(outcome)
}

pub(super) fn delete(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut admin = Admin::connect(parsed)?;
    let version = admin.versions.need(ApiKey::DeleteTopics)?;
    let names = &parsed.positional;
    let request = DeleteTopicsRequest {
        topics: names
            .iter()
            .map(|name| DeleteTopicState {
                name: Some(StrBytes::from(name.as_str())),
                topic_id: Uuid::ZERO,
            })
            .collect(),
        topic_names: names
            .iter()
            .map(|name| StrBytes::from(name.as_str()))
            .collect(),
        timeout_ms: ADMIN_TIMEOUT_MS,
    };
    let response: DeleteTopicsResponse = admin.connection.call(version, &request)?;
    let results = response.responses.iter().map(|result| {
        let name = result.name.as_ref().map_or_else(
            || format!("(id {})", topic_id_text(result.topic_id)),
            ToString::to_string,
        );
        (name, result.error_code, result.error_message.clone())
    });
    report(out, "Deleted topic", results)
}

pub(super) fn add_partitions(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let name = parsed
        .positional
        .first()
        .ok_or(CliError::Usage("topic name"))?;
    let count = parsed
        .number::<i32>("--partitions")?
        .ok_or(CliError::Usage("add-partitions needs --partitions TOTAL"))?;
    let mut admin = Admin::connect(parsed)?;
    let version = admin.versions.need(ApiKey::CreatePartitions)?;
    let request = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: StrBytes::from(name.as_str()),
            count,
            assignments: None,
        }],
        timeout_ms: ADMIN_TIMEOUT_MS,
        validate_only: false,
    };
    let response: CreatePartitionsResponse = admin.connection.call(version, &request)?;
    let results = response.results.iter().map(|result| {
        let message = result.error_message.clone();
        (result.name.to_string(), result.error_code, message)
    });
    report(out, &format!("{count} partitions now in topic"), results)
}

pub(super) fn config(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let name = parsed
        .positional
        .first()
        .ok_or(CliError::Usage("topic name"))?;
    let mut changes = Vec::new();
    for pair in parsed.values("--set") {
        let (key, value) = split_pair("--set", pair)?;
        changes.push(AlterableConfig {
            name: StrBytes::from(key),
            config_operation: CONFIG_OPERATION_SET,
            value: Some(StrBytes::from(value)),
        });
    }
    for key in parsed.values("--delete") {
        changes.push(AlterableConfig {
            name: StrBytes::from(key),
            config_operation: CONFIG_OPERATION_DELETE,
            value: None,
        });
    }
    let mut admin = Admin::connect(parsed)?;
    if !changes.is_empty() {
        let version = admin.versions.need(ApiKey::IncrementalAlterConfigs)?;
        let request = IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: RESOURCE_TYPE_TOPIC,
                resource_name: StrBytes::from(name.as_str()),
                configs: changes,
            }],
            validate_only: false,
        };
        let response: IncrementalAlterConfigsResponse = admin.connection.call(version, &request)?;
        let results = response.responses.iter().map(|result| {
            let message = result.error_message.clone();
            (result.resource_name.to_string(), result.error_code, message)
        });
        if report(out, "Updated configs of topic", results)? == Outcome::Problems {
            return Ok(Outcome::Problems);
        }
    }
    admin.versions.need(ApiKey::DescribeConfigs)?;
    let response = admin.describe_configs(&[name.as_str()])?;
    let result = response
        .as_ref()
        .and_then(|response| response.results.first());
    match result {
        Some(result) if result.error_code == ErrorCode::None => {
            out.write_all(format_configs(result).as_bytes())?;
            Ok(Outcome::Success)
        }
        Some(result) => {
            let message = result.error_message.as_ref();
            let error = topic_error(name, result.error_code, message);
            writeln!(out, "Error: {error}")?;
            Ok(Outcome::Problems)
        }
        None => {
            writeln!(
                out,
                "Error: the broker answered without the topic's configs"
            )?;
            Ok(Outcome::Problems)
        }
    }
}
