//! `ringbroker acl add|list|remove`: ACLs over the Kafka protocol, as `kafka-acls.sh`
//! `--add`, `--list` and `--remove` manage them.
//!
//! ```text
//! add     CreateAcls, one ACL per --operation       → one line per ACL created (or its error)
//! list    DescribeAcls with the filter the flags give → RESOURCE-TYPE NAME PATTERN PRINCIPAL
//!                                                      HOST OPERATION PERMISSION
//! remove  DeleteAcls with that filter                → the ACLs removed, same columns
//! ```
//! The resource is one of `--topic NAME`, `--group NAME`, `--transactional-id NAME` or
//! `--cluster`; `--prefixed` makes the name a prefix (LITERAL otherwise; `list` and `remove`
//! take `--match` for every pattern that covers the name). `--deny` makes a DENY ACL (ALLOW
//! otherwise); `--host` defaults to `*`. A filter flag left out matches everything.
//!
//! Runs on the main thread of the admin process.
use super::args::{self, Parsed, Spec};
use super::table::Table;
use super::{CliError, Outcome, connect};
use crate::cluster::acls::{
    AclOperation, AclPermission, CLUSTER_NAME, CODE_ANY, CODE_MATCH, PatternType, ResourceType,
};
use crate::protocol::messages::create_acls::{AclCreation, CreateAclsRequest, CreateAclsResponse};
use crate::protocol::messages::delete_acls::{
    DeleteAclsFilter, DeleteAclsMatchingAcl, DeleteAclsRequest, DeleteAclsResponse,
};
use crate::protocol::messages::describe_acls::{DescribeAclsRequest, DescribeAclsResponse};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use std::io::Write;

const VALUES: &[&str] = &[
    "--bootstrap",
    "--bootstrap-server",
    "--command-config",
    "--principal",
    "--host",
    "--operation",
    "--topic",
    "--group",
    "--transactional-id",
];
const SWITCHES: &[&str] = &["--cluster", "--prefixed", "--match", "--deny", "--allow"];
const SPEC: Spec = Spec {
    values: VALUES,
    switches: SWITCHES,
};
const USAGE: &str = "usage: ringbroker acl add --principal User:NAME (--topic T | --group G | \
                     --transactional-id T | --cluster) [--prefixed] --operation OP... [--deny] \
                     [--host H]\n       ringbroker acl list|remove [--principal P] [resource] \
                     [--prefixed | --match] [--operation OP] [--deny | --allow] [--host H]";

/// Runs `ringbroker acl ACTION ARGS…`.
///
/// # Errors
/// Bad arguments, connection or protocol errors.
pub fn run(action: &str, args: &[String], out: &mut dyn Write) -> Result<Outcome, CliError> {
    let parsed = args::parse_flags(args, SPEC, USAGE)?;
    match action {
        "add" => add(&parsed, out),
        "list" => list(&parsed, out),
        "remove" => remove(&parsed, out),
        other => Err(CliError::UnknownCommand {
            words: format!("acl {other}"),
        }),
    }
}

/// The resource flags: `None` when none is given.
fn resource(parsed: &Parsed) -> Result<Option<(ResourceType, String)>, CliError> {
    let mut given = Vec::new();
    for (flag, resource_type) in [
        ("--topic", ResourceType::Topic),
        ("--group", ResourceType::Group),
        ("--transactional-id", ResourceType::TransactionalId),
    ] {
        if let Some(name) = parsed.value(flag) {
            given.push((resource_type, name.to_owned()));
        }
    }
    if parsed.switch("--cluster") {
        given.push((ResourceType::Cluster, CLUSTER_NAME.to_owned()));
    }
    match given.len() {
        0 => Ok(None),
        1 => Ok(given.pop()),
        _ => Err(CliError::Usage(
            "give one of --topic, --group, --transactional-id, --cluster",
        )),
    }
}

fn operations(parsed: &Parsed) -> Result<Vec<AclOperation>, CliError> {
    parsed
        .values("--operation")
        .map(|text| {
            AclOperation::parse(text).ok_or_else(|| CliError::BadValue {
                flag: "--operation",
                value: text.to_owned(),
                expected: "ACL operation (READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, ...)",
            })
        })
        .collect()
}

fn permission(parsed: &Parsed) -> Option<AclPermission> {
    if parsed.switch("--deny") {
        Some(AclPermission::Deny)
    } else if parsed.switch("--allow") {
        Some(AclPermission::Allow)
    } else {
        None
    }
}

fn add(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let Some((resource_type, name)) = resource(parsed)? else {
        return Err(CliError::Usage(USAGE));
    };
    let principal = parsed.value("--principal").ok_or(CliError::Usage(USAGE))?;
    let operations = operations(parsed)?;
    if operations.is_empty() {
        return Err(CliError::Usage(USAGE));
    }
    let pattern_type = if parsed.switch("--prefixed") {
        PatternType::Prefixed
    } else {
        PatternType::Literal
    };
    let permission = permission(parsed).unwrap_or(AclPermission::Allow);
    let host = parsed.value("--host").unwrap_or("*");
    let creations: Vec<AclCreation> = operations
        .iter()
        .map(|operation| AclCreation {
            resource_type: resource_type.code(),
            resource_name: StrBytes::from(name.as_str()),
            resource_pattern_type: pattern_type.code(),
            principal: StrBytes::from(principal),
            host: StrBytes::from(host),
            operation: operation.code(),
            permission_type: permission.code(),
        })
        .collect();
    let (mut connection, versions) = connect(parsed)?;
    let version = versions.need(ApiKey::CreateAcls)?;
    let response: CreateAclsResponse =
        connection.call(version, &CreateAclsRequest { creations })?;
    let mut outcome = Outcome::Success;
    for (operation, result) in operations.iter().zip(&response.results) {
        let what = format!("{permission} {principal} {operation} on {resource_type} {name}");
        if result.error_code == ErrorCode::None {
            writeln!(out, "added: {what} ({pattern_type}, host {host})")?;
        } else {
            outcome = Outcome::Problems;
            let message = result.error_message.as_deref().unwrap_or("");
            writeln!(
                out,
                "failed: {what}: {} {message}",
                result.error_code.name()
            )?;
        }
    }
    Ok(outcome)
}

/// The filter the flags give (every field left out is ANY).
fn filter(parsed: &Parsed) -> Result<DeleteAclsFilter, CliError> {
    let resource = resource(parsed)?;
    let operations = operations(parsed)?;
    if operations.len() > 1 {
        return Err(CliError::Usage(
            "list and remove take at most one --operation",
        ));
    }
    let pattern_type_filter = if parsed.switch("--match") {
        CODE_MATCH
    } else if parsed.switch("--prefixed") {
        PatternType::Prefixed.code()
    } else if resource.is_some() {
        PatternType::Literal.code()
    } else {
        CODE_ANY
    };
    Ok(DeleteAclsFilter {
        resource_type_filter: resource.as_ref().map_or(CODE_ANY, |(kind, _)| kind.code()),
        resource_name_filter: resource.map(|(_, name)| StrBytes::from(name)),
        pattern_type_filter,
        principal_filter: parsed.value("--principal").map(StrBytes::from),
        host_filter: parsed.value("--host").map(StrBytes::from),
        operation: operations
            .first()
            .map_or(CODE_ANY, |operation| operation.code()),
        permission_type: permission(parsed).map_or(CODE_ANY, AclPermission::code),
    })
}

const COLUMNS: &[&str] = &[
    "RESOURCE-TYPE",
    "NAME",
    "PATTERN",
    "PRINCIPAL",
    "HOST",
    "OPERATION",
    "PERMISSION",
];

/// Kafka's name of a code, or the code itself when unknown.
fn named<T: std::fmt::Display>(code: i8, from_code: fn(i8) -> Option<T>) -> String {
    from_code(code).map_or_else(|| code.to_string(), |value| value.to_string())
}

fn list(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let filter = filter(parsed)?;
    let request = DescribeAclsRequest {
        resource_type_filter: filter.resource_type_filter,
        resource_name_filter: filter.resource_name_filter,
        pattern_type_filter: filter.pattern_type_filter,
        principal_filter: filter.principal_filter,
        host_filter: filter.host_filter,
        operation: filter.operation,
        permission_type: filter.permission_type,
    };
    let (mut connection, versions) = connect(parsed)?;
    let version = versions.need(ApiKey::DescribeAcls)?;
    let response: DescribeAclsResponse = connection.call(version, &request)?;
    if response.error_code != ErrorCode::None {
        return Err(CliError::Kafka {
            what: "describe ACLs".to_owned(),
            error_code: response.error_code,
            message: response.error_message.map(|text| text.to_string()),
        });
    }
    let mut table = Table::new(COLUMNS);
    for resource in &response.resources {
        for acl in &resource.acls {
            table.push(row(&DeleteAclsMatchingAcl {
                error_code: ErrorCode::None,
                error_message: None,
                resource_type: resource.resource_type,
                resource_name: resource.resource_name.clone(),
                pattern_type: resource.pattern_type,
                principal: acl.principal.clone(),
                host: acl.host.clone(),
                operation: acl.operation,
                permission_type: acl.permission_type,
            }));
        }
    }
    out.write_all(table.render().as_bytes())?;
    Ok(Outcome::Success)
}

fn remove(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let filter = filter(parsed)?;
    let (mut connection, versions) = connect(parsed)?;
    let version = versions.need(ApiKey::DeleteAcls)?;
    let request = DeleteAclsRequest {
        filters: vec![filter],
    };
    let response: DeleteAclsResponse = connection.call(version, &request)?;
    let Some(result) = response.filter_results.first() else {
        return Err(CliError::Usage("the broker answered no filter result"));
    };
    if result.error_code != ErrorCode::None {
        return Err(CliError::Kafka {
            what: "delete ACLs".to_owned(),
            error_code: result.error_code,
            message: result.error_message.as_ref().map(ToString::to_string),
        });
    }
    let mut table = Table::new(COLUMNS);
    for acl in &result.matching_acls {
        table.push(row(acl));
    }
    writeln!(out, "removed {} ACL(s)", result.matching_acls.len())?;
    out.write_all(table.render().as_bytes())?;
    Ok(Outcome::Success)
}

/// One ACL as a table row (DeleteAcls' matching-ACL shape carries every column).
fn row(acl: &DeleteAclsMatchingAcl) -> Vec<String> {
    vec![
        named(acl.resource_type, ResourceType::from_code),
        acl.resource_name.to_string(),
        named(acl.pattern_type, PatternType::from_code),
        acl.principal.to_string(),
        acl.host.to_string(),
        named(acl.operation, AclOperation::from_code),
        named(acl.permission_type, AclPermission::from_code),
    ]
}
