//! Who a Kubernetes bearer token belongs to (`TokenReview`) and what RBAC lets that user do
//! (`SubjectAccessReview`), asked of the API server with Flowlens' own credentials, as an
//! API server's webhook authenticator and authorizer would. The server turns the answers
//! into its own scope; this module only asks.

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;

/// The Calico API group whose tiered-policy pseudo-resources RBAC rules name.
pub const CALICO_GROUP: &str = "projectcalico.org";

/// A user the API server vouched for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewedUser {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// One thing to ask about: `verb` on `resource` of `group` (`""`: the core group), in
/// `namespace` (`None`: cluster-wide, or every namespace), named `name` (`None`: any).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceAccess {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl ResourceAccess {
    pub fn new(verb: &str, group: &str, resource: &str) -> ResourceAccess {
        ResourceAccess {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            namespace: None,
            name: None,
        }
    }

    pub fn in_namespace(mut self, namespace: Option<&str>) -> ResourceAccess {
        self.namespace = namespace.map(str::to_string);
        self
    }

    pub fn named(mut self, name: &str) -> ResourceAccess {
        self.name = Some(name.into());
        self
    }

    /// The name Calico's RBAC gives every policy of `tier` in its tiered-policy
    /// pseudo-resources (`tier.networkpolicies`, `tier.globalnetworkpolicies`): `TIER.*`.
    pub fn tier_policies(verb: &str, resource: &str, tier: &str) -> ResourceAccess {
        ResourceAccess::new(verb, CALICO_GROUP, resource).named(&format!("{tier}.*"))
    }
}

/// What RBAC calls `verb` on a policy of `kind` in `tier` and `namespace`: Calico's tiered
/// pseudo-resources (`tier.networkpolicies`, `tier.globalnetworkpolicies` and their staged
/// kinds, named `TIER.*`), the Kubernetes kinds as themselves.
pub fn policy_access(
    verb: &str,
    kind: flowlens_model::PolicyKind,
    tier: &str,
    namespace: Option<&str>,
) -> ResourceAccess {
    use flowlens_model::PolicyKind as P;
    let tiered = |resource: &str| ResourceAccess::tier_policies(verb, resource, tier);
    let access = match kind {
        P::NetworkPolicy => tiered("tier.networkpolicies"),
        P::GlobalNetworkPolicy => tiered("tier.globalnetworkpolicies"),
        P::StagedNetworkPolicy => tiered("tier.stagednetworkpolicies"),
        P::StagedGlobalNetworkPolicy => tiered("tier.stagedglobalnetworkpolicies"),
        P::StagedKubernetesNetworkPolicy => {
            ResourceAccess::new(verb, CALICO_GROUP, "stagedkubernetesnetworkpolicies")
        }
        P::KubernetesNetworkPolicy => {
            ResourceAccess::new(verb, "networking.k8s.io", "networkpolicies")
        }
        P::AdminNetworkPolicy => {
            ResourceAccess::new(verb, "policy.networking.k8s.io", "adminnetworkpolicies")
        }
        P::BaselineAdminNetworkPolicy => ResourceAccess::new(
            verb,
            "policy.networking.k8s.io",
            "baselineadminnetworkpolicies",
        ),
        P::ClusterNetworkPolicy => {
            ResourceAccess::new(verb, "policy.networking.k8s.io", "clusternetworkpolicies")
        }
    };
    access.in_namespace(namespace)
}

impl std::fmt::Display for ResourceAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None => write!(f, " in every namespace"),
        }
    }
}

/// Why a review gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The API server does not know the token (or it expired, or is for another audience).
    #[error("the API server does not accept this token{}", .0.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    Unauthenticated(Option<String>),
    /// The review itself failed: the API server is unreachable, or Flowlens may not create
    /// reviews (its service account needs `create` on `tokenreviews` and
    /// `subjectaccessreviews`).
    #[error("the cluster could not review the request: {0}")]
    Api(#[source] kube::Error),
}

/// Asks the API server about tokens and permissions.
#[derive(Clone)]
pub struct Reviewer {
    client: kube::Client,
}

impl Reviewer {
    pub fn new(client: kube::Client) -> Reviewer {
        Reviewer { client }
    }

    /// The user whose token `token` is (`TokenReview`).
    pub async fn authenticate(&self, token: &str) -> Result<ReviewedUser, ReviewError> {
        let reviews = Api::<TokenReview>::all(self.client.clone());
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                ..TokenReviewSpec::default()
            },
            ..TokenReview::default()
        };
        let answer = reviews
            .create(&PostParams::default(), &review)
            .await
            .map_err(ReviewError::Api)?;
        let status = answer.status.unwrap_or_default();
        let user = status.user.unwrap_or_default();
        match (status.authenticated, user.username) {
            (Some(true), Some(username)) if !username.is_empty() => Ok(ReviewedUser {
                username,
                uid: user.uid,
                groups: user.groups.unwrap_or_default(),
                extra: user.extra.unwrap_or_default(),
            }),
            _ => Err(ReviewError::Unauthenticated(status.error)),
        }
    }

    /// Whether `user` may do `access` (`SubjectAccessReview`). An authorizer that could not
    /// decide (`evaluationError`) did not allow: the answer is no.
    pub async fn allowed(
        &self,
        user: &ReviewedUser,
        access: &ResourceAccess,
    ) -> Result<bool, ReviewError> {
        let reviews = Api::<SubjectAccessReview>::all(self.client.clone());
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.username.clone()),
                uid: user.uid.clone(),
                groups: Some(user.groups.clone()),
                extra: (!user.extra.is_empty()).then(|| user.extra.clone()),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(access.verb.clone()),
                    group: Some(access.group.clone()),
                    resource: Some(access.resource.clone()),
                    namespace: access.namespace.clone(),
                    name: access.name.clone(),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let answer = reviews
            .create(&PostParams::default(), &review)
            .await
            .map_err(ReviewError::Api)?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}
