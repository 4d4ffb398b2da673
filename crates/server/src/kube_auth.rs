//! Kubernetes users of the API (`serve --kube`): a bearer token (or session cookie) that is
//! none of Flowlens' own is checked with the cluster (`TokenReview`), and what its user may
//! see and change comes from Kubernetes RBAC (`SubjectAccessReview`s), as the same
//! [`Scope`] a roles file gives:
//!
//! - the administrator: `*` on everything (`cluster-admin`);
//! - flows of a namespace: `list pods` there (`list pods` cluster-wide: every namespace);
//! - policies of a tier: Calico's tiered pseudo-resources `tier.networkpolicies` (and, for
//!   a cluster-wide user, `tier.globalnetworkpolicies`) named `TIER.*`, `get` to read,
//!   `create` and `patch` to write; Kubernetes `networkpolicies` count for the `default`
//!   tier, where Calico puts them.
//!
//! A scope is a product (tiers × namespaces), so a tier counts only where it is granted in
//! every namespace the user may see (or write): RBAC that grants a tier in one namespace and
//! not another gives less here, never more. Every change is also checked against RBAC for
//! the exact policy kind, tier and namespace before it is written ([`KubeIdentity::may`]).
//!
//! Answers are kept for [`REVIEW_TTL`] per token (refusals for [`REFUSAL_TTL`]); a review
//! that cannot be made is a 503 and is not kept. Nothing falls back to the administrator.

use crate::auth::{Authenticated, Principal};
use crate::error::{ApiError, ApiResult};
use crate::roles::{Access, Grants, Scope};
use crate::state::AppState;
use axum::http::StatusCode;
use flowlens_kube::{ResourceAccess, ReviewError, ReviewedUser, Reviewer};
use flowlens_model::PolicyKind;
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a reviewed token's user and scope are kept: RBAC changes reach Flowlens within
/// this time.
pub const REVIEW_TTL: Duration = Duration::from_secs(30);
/// How long a refused token is remembered, so that a client retrying a bad token does not
/// turn each request into a TokenReview.
pub const REFUSAL_TTL: Duration = Duration::from_secs(10);
/// Tokens remembered at once; past it, expired ones are forgotten, then all.
const CACHE_ENTRIES: usize = 4096;
/// SubjectAccessReviews in flight at once for one user's scope.
const CONCURRENT_REVIEWS: usize = 8;
/// The tier Calico puts Kubernetes network policies in.
const DEFAULT_TIER: &str = flowlens_model::Tier::DEFAULT;

/// Checks Kubernetes tokens and turns their users' RBAC into scopes.
pub struct KubeAuth {
    reviewer: Reviewer,
    /// Where the tiers and namespaces to ask about come from (the cluster's inventory).
    state: AppState,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Cached)>>,
}

impl std::fmt::Debug for KubeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeAuth")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Cached {
    User(Principal, ReviewedUser),
    Refused(String),
}

/// The Kubernetes user behind a request (a request extension beside its [`Principal`]), for
/// the RBAC check of a change.
#[derive(Clone)]
pub struct KubeIdentity {
    pub user: ReviewedUser,
    auth: Arc<KubeAuth>,
}

impl KubeAuth {
    pub fn new(reviewer: Reviewer, state: AppState) -> KubeAuth {
        KubeAuth {
            reviewer,
            state,
            ttl: REVIEW_TTL,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps reviewed users for `ttl` instead of [`REVIEW_TTL`].
    pub fn with_ttl(mut self, ttl: Duration) -> KubeAuth {
        self.ttl = ttl;
        self
    }

    /// The principal whose Kubernetes token `token` is: 401 when the cluster does not
    /// accept it, 503 when it cannot be asked.
    pub async fn principal(self: &Arc<Self>, token: &str) -> ApiResult<(Principal, KubeIdentity)> {
        let identity = |user: ReviewedUser| KubeIdentity {
            user,
            auth: Arc::clone(self),
        };
        if let Some(cached) = self.cached(token) {
            return match cached {
                Cached::User(who, user) => Ok((who, identity(user))),
                Cached::Refused(message) => Err(unauthorized(message)),
            };
        }
        match self.review(token).await {
            Ok((who, user)) => {
                self.remember(token, Cached::User(who.clone(), user.clone()));
                Ok((who, identity(user)))
            }
            Err(ReviewError::Unauthenticated(why)) => {
                let message = format!(
                    "the cluster does not accept this bearer token{}: use a token of this server, or a Kubernetes token the API server accepts (kubectl create token …)",
                    why.map(|w| format!(" ({w})")).unwrap_or_default()
                );
                self.remember(token, Cached::Refused(message.clone()));
                Err(unauthorized(message))
            }
            Err(e @ ReviewError::Api(_)) => Err(unavailable(&e)),
        }
    }

    fn cached(&self, token: &str) -> Option<Cached> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (at, cached) = cache.get(token)?;
        let ttl = match cached {
            Cached::User(..) => self.ttl,
            Cached::Refused(_) => REFUSAL_TTL.min(self.ttl),
        };
        (at.elapsed() < ttl).then(|| cached.clone())
    }

    fn remember(&self, token: &str, cached: Cached) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            let ttl = self.ttl.max(REFUSAL_TTL);
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(token.to_string(), (Instant::now(), cached));
    }

    async fn review(&self, token: &str) -> Result<(Principal, ReviewedUser), ReviewError> {
        let user = self.reviewer.authenticate(token).await?;
        let scope = self.scope_of(&user).await?;
        tracing::debug!(user = %user.username, "a Kubernetes user was reviewed");
        let who = Principal {
            name: user.username.clone(),
            how: Authenticated::Kubernetes,
            scope,
        };
        Ok((who, user))
    }

    /// Whether `user` may do each of `accesses`, in order.
    async fn ask(
        &self,
        user: &ReviewedUser,
        accesses: Vec<ResourceAccess>,
    ) -> Result<Vec<bool>, ReviewError> {
        futures::stream::iter(accesses)
            .map(|access| async move { self.reviewer.allowed(user, &access).await })
            .buffered(CONCURRENT_REVIEWS)
            .try_collect()
            .await
    }

    /// `user`'s scope over the tiers and namespaces the inventory has now.
    async fn scope_of(&self, user: &ReviewedUser) -> Result<Scope, ReviewError> {
        let world = self.state.world();
        let mut tiers: BTreeSet<String> = world
            .inventory
            .tiers
            .iter()
            .map(|t| t.name.clone())
            .collect();
        tiers.insert(DEFAULT_TIER.to_string());
        let namespaces: Vec<String> = world
            .inventory
            .namespaces
            .iter()
            .map(|n| n.name.clone())
            .collect();
        let pods = |ns: Option<&str>| ResourceAccess::new("list", "", "pods").in_namespace(ns);
        let first = self
            .ask(user, vec![ResourceAccess::new("*", "*", "*"), pods(None)])
            .await?;
        if first[0] {
            return Ok(Scope::Admin);
        }
        let every_namespace = first[1];
        // Where tiers are asked about: cluster-wide, or in each readable namespace.
        let places: Vec<Option<String>> = if every_namespace {
            vec![None]
        } else {
            let readable = self
                .ask(user, namespaces.iter().map(|ns| pods(Some(ns))).collect())
                .await?;
            namespaces
                .iter()
                .zip(readable)
                .filter(|(_, ok)| *ok)
                .map(|(ns, _)| Some(ns.clone()))
                .collect()
        };
        // (tier, place) → (read, write).
        let mut grants: BTreeMap<(String, Option<String>), (bool, bool)> = BTreeMap::new();
        for place in &places {
            let ns = place.as_deref();
            let mut questions = Vec::new();
            for tier in &tiers {
                let mut resources = vec!["tier.networkpolicies"];
                if ns.is_none() {
                    resources.push("tier.globalnetworkpolicies");
                }
                for resource in resources {
                    for verb in ["get", "create", "patch"] {
                        questions.push((
                            tier.clone(),
                            verb,
                            ResourceAccess::tier_policies(verb, resource, tier).in_namespace(ns),
                        ));
                    }
                }
                if tier == DEFAULT_TIER {
                    for verb in ["get", "create", "patch"] {
                        questions.push((
                            tier.clone(),
                            verb,
                            ResourceAccess::new(verb, "networking.k8s.io", "networkpolicies")
                                .in_namespace(ns),
                        ));
                    }
                }
            }
            let answers = self
                .ask(user, questions.iter().map(|q| q.2.clone()).collect())
                .await?;
            // Per tier and resource: read with get; write with create and patch.
            let mut per: BTreeMap<(String, String), [bool; 3]> = BTreeMap::new();
            for ((tier, verb, access), ok) in questions.iter().zip(answers) {
                let slot = per
                    .entry((
                        tier.clone(),
                        format!("{}.{}", access.resource, access.group),
                    ))
                    .or_default();
                let i = match *verb {
                    "get" => 0,
                    "create" => 1,
                    _ => 2,
                };
                slot[i] = ok;
            }
            for ((tier, _), [get, create, patch]) in per {
                let entry = grants.entry((tier, place.clone())).or_default();
                entry.0 |= get;
                entry.1 |= create && patch;
            }
        }
        let writable: Vec<&Option<String>> = places
            .iter()
            .filter(|p| tiers.iter().any(|t| grants[&(t.clone(), (*p).clone())].1))
            .collect();
        let mut tier_grants = Grants::default();
        for tier in &tiers {
            let at = |p: &Option<String>| grants[&(tier.clone(), p.clone())];
            let read = !places.is_empty() && places.iter().all(|p| at(p).0 || at(p).1);
            let write = !writable.is_empty() && writable.iter().all(|p| at(p).1);
            let access = match (read, write) {
                (_, true) => Some(Access::Write),
                (true, false) => Some(Access::Read),
                _ => None,
            };
            if let Some(access) = access {
                tier_grants.named.insert(tier.clone(), access);
            }
        }
        let mut namespace_grants = Grants::default();
        for place in &places {
            let access = if writable.contains(&place) {
                Access::Write
            } else {
                Access::Read
            };
            match place {
                None => namespace_grants.all = Some(access),
                Some(ns) => {
                    namespace_grants.named.insert(ns.clone(), access);
                }
            }
        }
        Ok(Scope::Scoped {
            tiers: tier_grants,
            namespaces: namespace_grants,
        })
    }
}

impl KubeIdentity {
    /// 403 unless RBAC lets this user do each of `verbs` to a policy of `kind` in `tier`
    /// and `namespace` (503 when the cluster cannot be asked).
    pub async fn may(
        &self,
        verbs: &[&str],
        kind: PolicyKind,
        tier: &str,
        namespace: Option<&str>,
    ) -> ApiResult<()> {
        let accesses: Vec<ResourceAccess> = verbs
            .iter()
            .map(|verb| flowlens_kube::policy_access(verb, kind, tier, namespace))
            .collect();
        let answers = self
            .auth
            .ask(&self.user, accesses.clone())
            .await
            .map_err(|e| unavailable(&e))?;
        match accesses.iter().zip(answers).find(|(_, ok)| !ok) {
            None => Ok(()),
            Some((access, _)) => Err(ApiError::forbidden(format!(
                "Kubernetes RBAC does not let {} {access}",
                self.user.username
            ))),
        }
    }
}

fn unauthorized(message: String) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

fn unavailable(e: &ReviewError) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("cannot check this Kubernetes user with the cluster now ({e}); try again"),
    )
}
