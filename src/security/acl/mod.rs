//! The ACL authorizer: whether a principal, connecting from a host, may perform an operation
//! on a resource, given the cluster's ACLs (`cluster::acls::AclTable`, metadata-log state) and
//! the broker's `[authorizer]` settings. Kafka's rules (`StandardAuthorizer`):
//!
//! 1. A super user (`super_users`) may do everything.
//! 2. The ACLs that cover the resource are its type's LITERAL ACLs named exactly so or `*`,
//!    and PREFIXED ACLs whose name is a prefix of the resource's.
//! 3. None cover it: allowed only with `allow_everyone_if_no_acl_found` (default false: a
//!    secured cluster denies by default).
//! 4. A covering DENY for the operation (or ALL) whose principal is the caller's or `User:*`
//!    and whose host is the caller's or `*` denies: DENY wins.
//! 5. Else a matching ALLOW allows. ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE;
//!    ALLOW of ALTER_CONFIGS implies DESCRIBE_CONFIGS; ALL allows every operation. Implication
//!    applies to ALLOW only (a DENY of READ does not deny DESCRIBE), as in Kafka.
//! 6. Else denied.
//!
//! `audit.rs` logs denials, rate-limited per shard. Pure except for the audit log; runs on the
//! connection's shard, reading the shard's published metadata.
pub mod audit;
#[cfg(test)]
mod tests;

use crate::cluster::acls::{
    AclBinding, AclOperation, AclPermission, AclTable, ResourceType, WILDCARD, WILDCARD_PRINCIPAL,
};
use crate::config::Authorizer;

/// Who asks: the principal (`User:alice`) and the client's address (`127.0.0.1`).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub principal: &'a str,
    pub host: &'a str,
}

/// Whether `caller` may perform `operation` on the resource `resource_type`/`name`.
#[must_use]
pub fn authorize(
    settings: &Authorizer,
    acls: &AclTable,
    caller: Caller<'_>,
    operation: AclOperation,
    resource: (ResourceType, &str),
) -> bool {
    assert_ne!(
        operation,
        AclOperation::All,
        "a request performs one operation"
    );
    if is_super_user(settings, caller) {
        return true;
    }
    let (resource_type, name) = resource;
    let mut covered = false;
    let mut allowed = false;
    for binding in acls.covering(resource_type, name) {
        covered = true;
        if !entry_applies(binding, caller) {
            continue;
        }
        let entry = &binding.entry;
        match entry.permission {
            AclPermission::Deny => {
                if entry.operation == operation || entry.operation == AclOperation::All {
                    return false;
                }
            }
            AclPermission::Allow => allowed |= allows(entry.operation, operation),
        }
    }
    allowed || (!covered && settings.allow_everyone_if_no_acl_found)
}

/// Whether `caller` may write to at least one topic: Kafka 3's condition for an idempotent
/// producer without IDEMPOTENT_WRITE on the cluster (KIP-679). Simplified from Kafka's
/// `authorizeByResourceType`: a matching ALLOW of WRITE or ALL on any topic pattern (DENY ACLs
/// on narrower patterns are not subtracted; the Produce check per topic still applies).
#[must_use]
pub fn may_write_some_topic(settings: &Authorizer, acls: &AclTable, caller: Caller<'_>) -> bool {
    if is_super_user(settings, caller) {
        return true;
    }
    let mut any = false;
    for binding in acls.of_type(ResourceType::Topic) {
        any = true;
        let entry = &binding.entry;
        if entry.permission == AclPermission::Allow
            && entry_applies(binding, caller)
            && allows(entry.operation, AclOperation::Write)
        {
            return true;
        }
    }
    !any && settings.allow_everyone_if_no_acl_found
}

/// Whether `caller` is one of the super users.
#[must_use]
pub fn is_super_user(settings: &Authorizer, caller: Caller<'_>) -> bool {
    settings
        .super_users
        .iter()
        .any(|user| user == caller.principal)
}

/// Whether the ACL's principal and host are the caller's (or wildcards).
fn entry_applies(binding: &AclBinding, caller: Caller<'_>) -> bool {
    let entry = &binding.entry;
    (entry.principal == caller.principal || entry.principal == WILDCARD_PRINCIPAL)
        && (entry.host == caller.host || entry.host == WILDCARD)
}

/// Whether an ALLOW of `granted` allows `operation` (ALL, equal, or implied).
#[must_use]
pub fn allows(granted: AclOperation, operation: AclOperation) -> bool {
    use AclOperation::{All, Alter, AlterConfigs, Delete, Describe, DescribeConfigs, Read, Write};
    granted == All
        || granted == operation
        || (operation == Describe && matches!(granted, Read | Write | Delete | Alter))
        || (operation == DescribeConfigs && granted == AlterConfigs)
}
