//! The one authorization helper every handler calls before acting (`ctx.authorize(..)`), and
//! the conversions between the ACL APIs' wire codes and `cluster::acls`.
//!
//! With the authorizer disabled (the default) every check passes without reading anything, so
//! an open broker pays one branch per check. Enabled, a check reads the shard's published
//! metadata (an `Arc` clone), decides with `security::acl::authorize`, and logs a denial to
//! the rate-limited audit log. Handlers answer a denial with Kafka's code for the resource:
//! TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED,
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
//!
//! Runs on the connection's shard.
use super::RequestContext;
use crate::cluster::acls::{
    AccessControlEntry, AclBinding, AclError, AclFilter, AclOperation, AclPermission, AclTable,
    CLUSTER_NAME, CODE_ANY, CODE_MATCH, PatternFilter, PatternType, ResourcePattern, ResourceType,
};
use crate::cluster::controller;
use crate::config::Authorizer;
use crate::protocol::{ErrorCode, StrBytes};
use crate::security::acl::{self, Caller, audit};

/// The operations a topic has (Kafka's `AclEntry.supportedOperations(TOPIC)`).
pub const TOPIC_OPERATIONS: [AclOperation; 8] = [
    AclOperation::Read,
    AclOperation::Write,
    AclOperation::Create,
    AclOperation::Delete,
    AclOperation::Alter,
    AclOperation::Describe,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
];

/// The operations the cluster has (Kafka's `AclEntry.supportedOperations(CLUSTER)` without
/// the delegation-token ones, which are not implemented).
pub const CLUSTER_OPERATIONS: [AclOperation; 7] = [
    AclOperation::Create,
    AclOperation::Alter,
    AclOperation::Describe,
    AclOperation::ClusterAction,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
    AclOperation::IdempotentWrite,
];

impl RequestContext {
    /// KIP-430's authorized operations of a resource: bit `1 << code` of each of `operations`
    /// the principal may perform on it (every one with the authorizer off, as Kafka answers
    /// without an authorizer), checked without audit lines.
    #[must_use]
    pub fn authorized_operations(
        &self,
        operations: &[AclOperation],
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        operations
            .iter()
            .filter(|operation| self.authorize_silently(**operation, resource_type, name))
            .fold(0, |bits, operation| bits | (1 << operation.code()))
    }

    /// Whether this request's principal may perform `operation` on `resource_type`/`name`;
    /// a denial is written to the audit log.
    #[must_use]
    pub fn authorize(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.check(operation, resource_type, name, true)
    }

    /// [`Self::authorize`] without the audit line: for filtering (Metadata leaves out topics
    /// the principal may not describe, which Kafka does not log either).
    #[must_use]
    pub fn authorize_silently(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.check(operation, resource_type, name, false)
    }

    /// [`Self::authorize`] on the CLUSTER resource.
    #[must_use]
    pub fn authorize_cluster(&self, operation: AclOperation) -> bool {
        self.authorize(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// [`Self::authorize`] on a topic, as the per-topic error a response carries.
    ///
    /// # Errors
    /// TOPIC_AUTHORIZATION_FAILED when denied.
    pub fn authorize_topic(&self, operation: AclOperation, name: &str) -> Result<(), ErrorCode> {
        self.authorize_resource(operation, ResourceType::Topic, name)
    }

    /// [`Self::authorize`] on a group, as the error a group response carries.
    ///
    /// # Errors
    /// GROUP_AUTHORIZATION_FAILED when denied.
    pub fn authorize_group(
        &self,
        operation: AclOperation,
        group_id: &str,
    ) -> Result<(), ErrorCode> {
        self.authorize_resource(operation, ResourceType::Group, group_id)
    }

    /// [`Self::authorize`], a denial as the code Kafka answers for the resource type.
    ///
    /// # Errors
    /// [`denied_code`] of `resource_type` when denied.
    pub fn authorize_resource(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Result<(), ErrorCode> {
        if self.authorize(operation, resource_type, name) {
            Ok(())
        } else {
            Err(denied_code(resource_type))
        }
    }

    /// [`Self::authorize`] on a config resource (DescribeConfigs, AlterConfigs,
    /// IncrementalAlterConfigs): a TOPIC (2) is the topic; a BROKER (4) or BROKER_LOGGER (8)
    /// is the cluster, as Kafka's `ConfigAdminManager` maps them. Other types pass here and
    /// are refused by the handler.
    ///
    /// # Errors
    /// TOPIC_AUTHORIZATION_FAILED or CLUSTER_AUTHORIZATION_FAILED with Kafka's message.
    pub fn authorize_config(
        &self,
        operation: AclOperation,
        resource_type: i8,
        name: &str,
    ) -> Result<(), (ErrorCode, String)> {
        const TOPIC: i8 = 2;
        const BROKER: i8 = 4;
        const BROKER_LOGGER: i8 = 8;
        let (allowed, code) = match resource_type {
            TOPIC => (
                self.authorize(operation, ResourceType::Topic, name),
                ErrorCode::TopicAuthorizationFailed,
            ),
            BROKER | BROKER_LOGGER => (
                self.authorize_cluster(operation),
                ErrorCode::ClusterAuthorizationFailed,
            ),
            _ => (true, ErrorCode::None),
        };
        if allowed {
            Ok(())
        } else {
            Err((code, code.name().to_owned()))
        }
    }

    /// Whether a topic named `name` may be auto-created for this request: CREATE on the
    /// cluster or on the topic (Kafka's rule for Metadata's auto-creation).
    #[must_use]
    pub fn may_create_topic(&self, name: &str) -> bool {
        self.authorize_silently(AclOperation::Create, ResourceType::Cluster, CLUSTER_NAME)
            || self.authorize(AclOperation::Create, ResourceType::Topic, name)
    }

    /// Whether the authorizer is on (handlers skip per-item work when it is off).
    #[must_use]
    pub fn authorizer_enabled(&self) -> bool {
        self.shard.config().authorizer.enabled
    }

    /// An idempotent producer's right (InitProducerId without a transactional id): IDEMPOTENT_WRITE
    /// on the cluster, or WRITE on some topic (Kafka 3's rule, KIP-679).
    #[must_use]
    pub fn authorize_idempotent_write(&self) -> bool {
        let some_topic = self.decide(acl::may_write_some_topic);
        some_topic || self.authorize_cluster(AclOperation::IdempotentWrite)
    }

    /// `decision` on this request's caller and the shard's ACLs; true without asking when the
    /// authorizer is off.
    fn decide(&self, decision: impl FnOnce(&Authorizer, &AclTable, Caller<'_>) -> bool) -> bool {
        let settings = &self.shard.config().authorizer;
        if !settings.enabled {
            return true;
        }
        let metadata = controller::metadata(&self.shard);
        let principal = self.session.principal().to_string();
        let host = self.peer.ip().to_string();
        let caller = Caller {
            principal: &principal,
            host: &host,
        };
        decision(settings, metadata.acls(), caller)
    }

    fn check(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
        log: bool,
    ) -> bool {
        self.decide(|settings, acls, caller| {
            let allowed = acl::authorize(settings, acls, caller, operation, (resource_type, name));
            if !allowed && log {
                audit::log_denial(&audit::Denial {
                    principal: caller.principal,
                    host: caller.host,
                    operation,
                    resource_type,
                    resource_name: name,
                    api: self.api_key,
                });
            }
            allowed
        })
    }
}

/// The code a denial on `resource_type` is answered with.
#[must_use]
pub const fn denied_code(resource_type: ResourceType) -> ErrorCode {
    match resource_type {
        ResourceType::Topic => ErrorCode::TopicAuthorizationFailed,
        ResourceType::Group => ErrorCode::GroupAuthorizationFailed,
        ResourceType::Cluster => ErrorCode::ClusterAuthorizationFailed,
        ResourceType::TransactionalId => ErrorCode::TransactionalIdAuthorizationFailed,
    }
}

/// A binding from CreateAcls' wire fields: codes `[resource_type, pattern_type, operation,
/// permission]`.
///
/// # Errors
/// An unknown, filter-only or unsupported code, or a binding `validate` refuses.
pub fn binding_from_wire(
    codes: [i8; 4],
    resource_name: &StrBytes,
    principal: &StrBytes,
    host: &StrBytes,
) -> Result<AclBinding, AclError> {
    let [resource_type, pattern_type, operation, permission] = codes;
    let binding = AclBinding {
        pattern: ResourcePattern {
            resource_type: code("resource type", resource_type, ResourceType::from_code)?,
            pattern_type: code("pattern type", pattern_type, PatternType::from_code)?,
            name: resource_name.as_str().to_owned(),
        },
        entry: AccessControlEntry {
            principal: principal.as_str().to_owned(),
            host: host.as_str().to_owned(),
            operation: code("operation", operation, AclOperation::from_code)?,
            permission: code("permission type", permission, AclPermission::from_code)?,
        },
    };
    binding.validate()?;
    Ok(binding)
}

/// `None` for ANY, else the value of `value`.
fn any_or<T>(
    field: &'static str,
    value: i8,
    from_code: fn(i8) -> Option<T>,
) -> Result<Option<T>, AclError> {
    if value == CODE_ANY {
        return Ok(None);
    }
    code(field, value, from_code).map(Some)
}

fn code<T>(field: &'static str, value: i8, from_code: fn(i8) -> Option<T>) -> Result<T, AclError> {
    from_code(value).ok_or(AclError::UnsupportedCode { field, code: value })
}

/// A filter's wire fields: codes `[resource_type, pattern_type, operation, permission]`.
pub struct WireFilter<'a> {
    pub codes: [i8; 4],
    pub resource_name: Option<&'a StrBytes>,
    pub principal: Option<&'a StrBytes>,
    pub host: Option<&'a StrBytes>,
}

/// A filter from DescribeAcls' / DeleteAcls' wire fields; ANY (1) matches every value.
///
/// # Errors
/// UNKNOWN (0) or an unsupported code.
pub fn filter_from_wire(wire: &WireFilter<'_>) -> Result<AclFilter, AclError> {
    let [resource_type, pattern_type, operation, permission] = wire.codes;
    let pattern = match pattern_type {
        CODE_ANY => PatternFilter::Any,
        CODE_MATCH => PatternFilter::Match,
        other => PatternFilter::Only(code("pattern type", other, PatternType::from_code)?),
    };
    let text = |value: Option<&StrBytes>| value.map(|text| text.as_str().to_owned());
    Ok(AclFilter {
        resource_type: any_or("resource type", resource_type, ResourceType::from_code)?,
        name: text(wire.resource_name),
        pattern,
        principal: text(wire.principal),
        host: text(wire.host),
        operation: any_or("operation", operation, AclOperation::from_code)?,
        permission: any_or("permission type", permission, AclPermission::from_code)?,
    })
}
