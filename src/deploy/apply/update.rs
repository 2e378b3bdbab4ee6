//! Changes the engine makes in place, without a restart: `container update` for the restart
//! policy and the limits, `network connect` and `disconnect` for attachments and aliases. This is
//! how the incident's missing restart policy is repaired on a running container.

use super::task::TaskCtx;
use super::Step;
use crate::deploy::engine::EngineError;
use crate::deploy::field::Repair;
use crate::deploy::mapping;
use crate::model::Service;

use bollard::models::{NetworkConnectRequest, NetworkDisconnectRequest};
use bollard::query_parameters::StartContainerOptions;

impl TaskCtx {
    pub(super) async fn update(&self, cname: &str, svc: &Service) -> Result<(), EngineError> {
        let e = &self.rollout.engine;
        let fields: Vec<String> = self
            .plan
            .changes
            .iter()
            .map(|c| c.field.to_string())
            .collect();
        self.step(Step::UpdatingInPlace, &fields.join(", "));
        let body = mapping::update_body(svc);
        if self
            .plan
            .changes
            .iter()
            .any(|c| c.field.repair() == Repair::Update)
        {
            e.mutate("update container", cname, |d| {
                d.update_container(cname, body)
            })
            .await?;
        }
        let have = self.plan.actual.clone().unwrap_or_default();
        for (net, want) in &svc.networks {
            let h = have.networks.get(net);
            if h.map(|h| &h.aliases) == Some(&want.aliases) {
                continue;
            }
            let full_name = mapping::network_name(&self.rollout.desired.compose, net);
            if h.is_some() {
                e.mutate("disconnect network", &full_name, |d| {
                    d.disconnect_network(
                        &full_name,
                        NetworkDisconnectRequest {
                            container: cname.to_string(),
                            force: Some(true),
                        },
                    )
                })
                .await?;
            }
            let endpoint = mapping::endpoint(&self.plan.name, svc, want);
            e.mutate("connect network", &full_name, |d| {
                d.connect_network(
                    &full_name,
                    NetworkConnectRequest {
                        container: cname.to_string(),
                        endpoint_config: Some(endpoint),
                    },
                )
            })
            .await?;
        }
        for net in have
            .networks
            .keys()
            .filter(|n| !svc.networks.contains_key(*n))
        {
            let full_name = mapping::network_name(&self.rollout.desired.compose, net);
            e.mutate("disconnect network", &full_name, |d| {
                d.disconnect_network(
                    &full_name,
                    NetworkDisconnectRequest {
                        container: cname.to_string(),
                        force: Some(true),
                    },
                )
            })
            .await?;
        }
        if self.plan.state.as_deref() != Some("running") {
            e.mutate("start container", cname, |d| {
                d.start_container(cname, None::<StartContainerOptions>)
            })
            .await?;
        }
        Ok(())
    }
}
