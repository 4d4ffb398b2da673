//! Which of the watched kinds the cluster serves, read from the API's resource lists (one
//! request per group and version, not the whole discovery tree).

use crate::kinds::{CalicoApi, Group, Kind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::core::{ApiResource, GroupVersionKind};
use std::collections::{BTreeMap, HashMap};

/// The served kinds and where; the others and why not.
#[derive(Clone, Debug, Default)]
pub struct Served {
    pub resources: BTreeMap<Kind, ApiResource>,
    pub calico: Option<CalicoApi>,
    pub not_served: BTreeMap<Kind, String>,
}

impl Served {
    pub fn resource(&self, kind: Kind) -> Option<&ApiResource> {
        self.resources.get(&kind)
    }

    /// The Calico API to convert Calico objects from (v3 when nothing is served).
    pub fn calico_api(&self) -> CalicoApi {
        self.calico.unwrap_or(CalicoApi::V3)
    }
}

/// Fetches the resource list of a group and version; `Ok(None)` when it is not served.
async fn resource_list(
    client: &kube::Client,
    group: &str,
    version: &str,
) -> Result<Option<APIResourceList>, kube::Error> {
    let result = if group.is_empty() {
        client.list_core_api_resources(version).await
    } else {
        client
            .list_api_group_resources(&format!("{group}/{version}"))
            .await
    };
    match result {
        Ok(list) => Ok(Some(list)),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Finds where the cluster serves each of `kinds`. Calico's kinds come from
/// `projectcalico.org/v3` when that is served, else from `crd.projectcalico.org/v1`.
pub async fn discover(client: &kube::Client, kinds: &[Kind]) -> Result<Served, kube::Error> {
    let mut lists: HashMap<(String, String), Option<APIResourceList>> = HashMap::new();
    let mut served = Served::default();
    let wants_calico = kinds.iter().any(|k| k.is_calico());
    if wants_calico {
        for api in [CalicoApi::V3, CalicoApi::CrdV1] {
            let list = resource_list(client, api.group(), api.version()).await?;
            let found = list.is_some();
            lists.insert((api.group().into(), api.version().into()), list);
            if found {
                served.calico = Some(api);
                break;
            }
        }
    }
    for &kind in kinds {
        let (group, version) = match kind.group() {
            Group::Fixed { group, version } => (group, version),
            Group::Calico => match served.calico {
                Some(api) => (api.group(), api.version()),
                None => {
                    served.not_served.insert(
                        kind,
                        "Calico's API is not served (neither projectcalico.org/v3 nor crd.projectcalico.org/v1)".into(),
                    );
                    continue;
                }
            },
        };
        let key = (group.to_string(), version.to_string());
        if !lists.contains_key(&key) {
            let list = resource_list(client, group, version).await?;
            lists.insert(key.clone(), list);
        }
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let entry = lists
            .get(&key)
            .and_then(Option::as_ref)
            .and_then(|list| list.resources.iter().find(|r| r.name == kind.plural()));
        match entry {
            Some(r) if r.verbs.iter().any(|v| v == "watch") || r.verbs.is_empty() => {
                let gvk = GroupVersionKind::gvk(group, version, kind.kind_name());
                served
                    .resources
                    .insert(kind, ApiResource::from_gvk_with_plural(&gvk, kind.plural()));
            }
            Some(_) => {
                served.not_served.insert(
                    kind,
                    format!("{api_version} {} cannot be watched", kind.plural()),
                );
            }
            None if lists.get(&key).is_some_and(Option::is_some) => {
                served
                    .not_served
                    .insert(kind, format!("{api_version} has no {}", kind.plural()));
            }
            None => {
                served
                    .not_served
                    .insert(kind, format!("{api_version} is not served"));
            }
        }
    }
    Ok(served)
}
