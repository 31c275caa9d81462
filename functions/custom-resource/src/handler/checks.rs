//! The resource types that only compute or check: `Custom::PortAlarmWindow` and
//! `Custom::PortPreflight`. Neither changes anything; their Delete does nothing.

use shared::core::Declared;
use shared::ports::{ChangeFeed, Clock, IdentityApi, OrganizationsApi, StackSetApi};

use super::continuation::Step;
use super::request::{Common, RequestType};
use super::{Handler, Reinvoker, Responder};
use crate::alarm_window;
use crate::preflight_only;
use crate::response::{response, Status};

impl<O, S, I, C, P, R, F> Handler<O, S, I, C, P, R, F>
where
    O: OrganizationsApi,
    S: StackSetApi,
    I: IdentityApi,
    C: Clock,
    P: Responder,
    R: Reinvoker,
    F: ChangeFeed,
{
    /// `Custom::PortAlarmWindow`: Create/Update compute, Delete does nothing; no AWS call.
    pub(super) fn alarm_window(&self, c: &Common) -> Step {
        let outcome = match c.request_type {
            RequestType::Delete => Ok(Default::default()),
            _ => alarm_window::data(&c.props),
        };
        match outcome {
            Ok(data) => {
                let mut r = response(
                    Status::Success,
                    c.physical_resource_id
                        .clone()
                        .unwrap_or_else(|| alarm_window::PHYSICAL_ID.into()),
                    c.stack_id.clone(),
                    c.request_id.clone(),
                    c.logical_resource_id.clone(),
                );
                r.data = data.into_iter().collect();
                Step::answer(r)
            }
            Err(reason) => Step::answer(self.failed(c, reason)),
        }
    }

    /// `Custom::PortPreflight`: Create/Update check, Delete does nothing; never a change.
    /// The tag filter and Port's role's policies and boundary are checked first, without any
    /// AWS call.
    pub(super) async fn preflight_only(&self, c: &Common, declared: &Declared) -> Step {
        let outcome = match c.request_type {
            RequestType::Delete => Ok(()),
            _ => match preflight_only::tag_filter(&c.props)
                .and_then(|_| preflight_only::role_policies(&c.props, &c.stack_id))
            {
                Err(reason) => Err(reason),
                Ok(_) => preflight_only::run(&self.org, &self.identity, declared).await,
            },
        };
        match outcome {
            Ok(()) => Step::answer(response(
                Status::Success,
                c.physical_resource_id
                    .clone()
                    .unwrap_or_else(|| preflight_only::PHYSICAL_ID.into()),
                c.stack_id.clone(),
                c.request_id.clone(),
                c.logical_resource_id.clone(),
            )),
            Err(reason) => Step::answer(self.failed(c, reason)),
        }
    }
}
