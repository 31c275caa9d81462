//! The domain core: pure, no SDK types, no I/O, no clock.

pub mod advice;
pub mod change;
pub mod error;
pub mod expand;
pub mod ids;
pub mod mode;
pub mod operations;
pub mod org;
pub mod plan;
pub mod policy_eval;
pub mod preview;
pub mod regions;
pub mod role_policies;
pub mod schedule;
pub mod scope;
pub mod slice;
pub mod tags;

pub use advice::{
    advise, is_execution_role_denied, is_existing_oidc_provider, missing_policy, reuse_oidc_note,
    STACK_INSTANCE_QUOTA, STACK_INSTANCE_QUOTA_CODE, STACK_INSTANCE_QUOTA_SERVICE,
};
pub use change::{
    change_event, AccountChange, Acted, ChangeContext, ChangeCounts, ChangeDetail, ChangeEvent,
    ChangeKind, ScopeChange,
};
pub use error::ScopeError;
pub use expand::{
    candidates, expand, expand_slice, tags_decide, Entry, ExpandError, Expansion, Reason,
};
pub use ids::{AccountId, TargetId};
pub use mode::{
    decide, CallAs, Declared, DeployMode, ModeError, ModeFacts, Registration, STACKSETS_PRINCIPAL,
    TRUSTED_ACCESS_FIX, TRUSTED_ACCESS_OFF,
};
pub use org::{Account, AccountState, OrgNode, OrgTree};
pub use plan::{
    decided_instances, fit_ous, oidc_reuse, plan, plan_reaching, Batch, Desired, DetailedStatus,
    DriftStatus, Held, InstanceStatus, PlanPolicy, ReconcilePlan, StackInstance,
    MAX_OUS_PER_OPERATION, REUSE_OIDC_OVERRIDE,
};
pub use preview::{preview, Effect, Outside, Preview, PreviewRow, NOT_IN_ORGANIZATION};
pub use regions::{
    allowed_regions, region_allowed, DELEGATED_ADMIN_REGIONS, EVENTS_REGION, OPT_IN_REGIONS,
};
pub use role_policies::{
    known_cloudformation_document, parse_role_policies, partition_of, RolePolicies, RolePolicy,
    RolePolicyError, CLOUD_CONTROL_READ, MAX_MANAGED_POLICIES_PER_ROLE, SHORT_NAMES,
};
pub use schedule::{alarm_window, schedule_interval, AlarmWindow, ScheduleError};
pub use scope::{
    parse_regions, parse_stack_set_name, tag_parameters, AccountScope, Filtered, LeavePolicy,
    RawList, Scope,
};
pub use slice::{
    schedule_tick, slices_for, TagReads, TagSlice, CUSTOM_RESOURCE_TAG_READS_PER_STEP,
    DEFAULT_TAG_READS_PER_RUN, TAG_READS_PER_RUN_RANGE,
};
pub use tags::{TagFilter, TagFilterError, TagTerm, TagTerms, TagVerdict, Tags};

#[cfg(test)]
mod proptests;
