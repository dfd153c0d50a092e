//! `ringbroker quota alter|describe`: client quotas over the Kafka protocol, as
//! `kafka-configs.sh --entity-type users/clients --alter|--describe` manages them.
//!
//! ```text
//! alter     AlterClientQuotas for the entity the flags name  → one line: altered, or the error
//! describe  DescribeClientQuotas with the flags as filter     → ENTITY KEY VALUE rows
//! ```
//! The entity: `--user NAME` or `--user-defaults`, and/or `--client-id ID` or
//! `--client-defaults` (`<default>`: the quota of every user / client id without its own).
//! `--add k=v[,k=v]` sets values and `--delete k[,k]` removes keys (kafka-configs.sh's
//! `--add-config` / `--delete-config` are accepted too); keys are `producer_byte_rate`,
//! `consumer_byte_rate`, `request_percentage`, `controller_mutation_rate`. `describe` without
//! entity flags lists every entity; with them, the entities with those components (others
//! too unless `--strict`).
//!
//! Runs on the main thread of the admin process.
use super::args::{self, Parsed, Spec};
use super::table::Table;
use super::{CliError, Outcome, connect};
use crate::cluster::quotas::{ENTITY_CLIENT_ID, ENTITY_USER};
use crate::protocol::messages::alter_client_quotas::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, AlterQuotaEntity, AlterQuotaEntry,
    AlterQuotaOp,
};
use crate::protocol::messages::describe_client_quotas::{
    DescribeClientQuotasRequest, DescribeClientQuotasResponse, MATCH_DEFAULT, MATCH_EXACT,
    QuotaFilterComponent,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use std::io::Write;

const VALUES: &[&str] = &[
    "--bootstrap",
    "--bootstrap-server",
    "--command-config",
    "--user",
    "--client-id",
    "--add",
    "--add-config",
    "--delete",
    "--delete-config",
];
const SWITCHES: &[&str] = &[
    "--user-defaults",
    "--client-defaults",
    "--strict",
    "--validate-only",
];
const SPEC: Spec = Spec {
    values: VALUES,
    switches: SWITCHES,
};
const USAGE: &str = "usage: ringbroker quota alter (--user U | --user-defaults) and/or \
                     (--client-id C | --client-defaults) [--add k=v[,k=v]] [--delete k[,k]] \
                     [--validate-only]\n       ringbroker quota describe [--user U | \
                     --user-defaults] [--client-id C | --client-defaults] [--strict]";

/// Runs `ringbroker quota ACTION ARGS…`.
///
/// # Errors
/// Bad arguments, connection or protocol errors.
pub fn run(action: &str, args: &[String], out: &mut dyn Write) -> Result<Outcome, CliError> {
    let parsed = args::parse_flags(args, SPEC, USAGE)?;
    match action {
        "alter" => alter(&parsed, out),
        "describe" => describe(&parsed, out),
        other => Err(CliError::UnknownCommand {
            words: format!("quota {other}"),
        }),
    }
}

/// The entity components the flags name: (entity type, name; `None` = `<default>`).
fn components(parsed: &Parsed) -> Result<Vec<(&'static str, Option<String>)>, CliError> {
    let mut components = Vec::new();
    for (entity_type, named, defaults) in [
        (ENTITY_USER, "--user", "--user-defaults"),
        (ENTITY_CLIENT_ID, "--client-id", "--client-defaults"),
    ] {
        match (parsed.value(named), parsed.switch(defaults)) {
            (Some(_), true) => {
                return Err(CliError::Usage(
                    "give a name or the defaults for an entity type, not both",
                ));
            }
            (Some(name), false) => components.push((entity_type, Some(name.to_owned()))),
            (None, true) => components.push((entity_type, None)),
            (None, false) => {}
        }
    }
    Ok(components)
}

/// The `--add` and `--delete` lists as operations.
fn ops(parsed: &Parsed) -> Result<Vec<AlterQuotaOp>, CliError> {
    let listed = |flags: [&str; 2]| -> Vec<String> {
        flags
            .iter()
            .flat_map(|flag| parsed.values(flag))
            .flat_map(|list| list.split(','))
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut ops = Vec::new();
    for item in listed(["--add", "--add-config"]) {
        let bad = || CliError::BadValue {
            flag: "--add",
            value: item.clone(),
            expected: "KEY=VALUE (e.g. producer_byte_rate=1048576)",
        };
        let (key, value) = item.split_once('=').ok_or_else(bad)?;
        let value: f64 = value.trim().parse().map_err(|_| bad())?;
        ops.push(AlterQuotaOp {
            key: StrBytes::from(key.trim()),
            value,
            remove: false,
        });
    }
    for key in listed(["--delete", "--delete-config"]) {
        ops.push(AlterQuotaOp {
            key: StrBytes::from(key.trim()),
            value: 0.0,
            remove: true,
        });
    }
    Ok(ops)
}

fn alter(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let components = components(parsed)?;
    let ops = ops(parsed)?;
    if components.is_empty() || ops.is_empty() {
        return Err(CliError::Usage(USAGE));
    }
    let entity: Vec<AlterQuotaEntity> = components
        .iter()
        .map(|(entity_type, name)| AlterQuotaEntity {
            entity_type: StrBytes::from(*entity_type),
            entity_name: name.as_deref().map(StrBytes::from),
        })
        .collect();
    let request = AlterClientQuotasRequest {
        entries: vec![AlterQuotaEntry { entity, ops }],
        validate_only: parsed.switch("--validate-only"),
    };
    let (mut connection, versions) = connect(parsed)?;
    let version = versions.need(ApiKey::AlterClientQuotas)?;
    let response: AlterClientQuotasResponse = connection.call(version, &request)?;
    let what = entity_text(&components);
    let Some(result) = response.entries.first() else {
        return Err(CliError::Usage("the broker answered no entry"));
    };
    if result.error_code != ErrorCode::None {
        return Err(CliError::Kafka {
            what: format!("alter quotas of {what}"),
            error_code: result.error_code,
            message: result.error_message.as_ref().map(ToString::to_string),
        });
    }
    let verb = if request.validate_only {
        "valid"
    } else {
        "altered"
    };
    writeln!(out, "{verb}: quotas of {what}")?;
    Ok(Outcome::Success)
}

fn entity_text(components: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = components
        .iter()
        .map(|(entity_type, name)| {
            format!("{entity_type}={}", name.as_deref().unwrap_or("<default>"))
        })
        .collect();
    parts.join(",")
}

fn describe(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let components = components(parsed)?;
    let request = DescribeClientQuotasRequest {
        components: components
            .iter()
            .map(|(entity_type, name)| QuotaFilterComponent {
                entity_type: StrBytes::from(*entity_type),
                match_type: if name.is_some() {
                    MATCH_EXACT
                } else {
                    MATCH_DEFAULT
                },
                r#match: name.as_deref().map(StrBytes::from),
            })
            .collect(),
        strict: parsed.switch("--strict"),
    };
    let (mut connection, versions) = connect(parsed)?;
    let version = versions.need(ApiKey::DescribeClientQuotas)?;
    let response: DescribeClientQuotasResponse = connection.call(version, &request)?;
    if response.error_code != ErrorCode::None {
        return Err(CliError::Kafka {
            what: "describe quotas".to_owned(),
            error_code: response.error_code,
            message: response.error_message.map(|text| text.to_string()),
        });
    }
    let mut table = Table::new(&["ENTITY", "KEY", "VALUE"]);
    for entry in response.entries.unwrap_or_default() {
        let components: Vec<(&str, Option<String>)> = entry
            .entity
            .iter()
            .map(|component| {
                let name = component.entity_name.as_ref().map(ToString::to_string);
                (component.entity_type.as_str(), name)
            })
            .collect();
        let entity = entity_text(&components);
        for value in &entry.values {
            table.push(vec![
                entity.clone(),
                value.key.to_string(),
                value.value.to_string(),
            ]);
        }
    }
    out.write_all(table.render().as_bytes())?;
    Ok(Outcome::Success)
}
