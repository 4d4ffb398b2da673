//! Query-string parameters shared by the flow endpoints: time range, field filters,
//! selectors, policy, sort and paging, turned into a store [`FlowQuery`].

use crate::error::{ApiError, ApiResult};
use flowlens_store::{FieldFilter, FlowQuery, PolicyFilter, SortKey, TimeRange, parse_duration};

/// The raw `key=value` pairs of a query string, in order (keys may repeat).
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    pub fn number<T: std::str::FromStr>(&self, key: &str) -> ApiResult<Option<T>> {
        self.get(key)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| ApiError::bad_request(format!("{key}={v:?} is not a number")))
            })
            .transpose()
    }

    /// The time range: `from`/`to` (unix seconds), or `since` back from `now`, or all.
    pub fn time_range(&self, now: i64) -> ApiResult<TimeRange> {
        let from = self.number::<i64>("from")?;
        let to = self.number::<i64>("to")?;
        if let Some(since) = self.get("since") {
            if from.is_some() {
                return Err(ApiError::bad_request(
                    "give either since or from/to, not both",
                ));
            }
            let d = parse_duration(since)?;
            return Ok(TimeRange::since(d, now));
        }
        let all = TimeRange::all();
        let range = TimeRange::new(from.unwrap_or(all.from), to.unwrap_or(all.to));
        if range.from >= range.to {
            return Err(ApiError::bad_request(format!(
                "the time range is empty: from {} is not before to {}",
                range.from, range.to
            )));
        }
        Ok(range)
    }

    /// Everything that narrows flows: filters, selectors, policy (the time range apart).
    pub fn flow_query(&self, time: TimeRange) -> ApiResult<FlowQuery> {
        let mut query = FlowQuery::new(time);
        for f in self.all("filter") {
            query.filters.push(FieldFilter::parse(f)?);
        }
        query.source_selector = self.selector("source_selector")?;
        query.dest_selector = self.selector("dest_selector")?;
        query.policy = self.policy_filter()?;
        for s in self.all("sort") {
            query.sort.push(SortKey::parse(s)?);
        }
        if let Some(limit) = self.number::<usize>("limit")? {
            query.limit = Some(limit.min(flowlens_store::MAX_LIMIT));
        }
        query.page_token = self.get("page_token").map(str::to_string);
        Ok(query)
    }

    /// Whether to count each connection once (`count=connections`, the default for
    /// aggregates and the graph) or every record (`count=records`, both reporters).
    pub fn connections_once(&self) -> ApiResult<bool> {
        match self.get("count") {
            None | Some("connections") => Ok(true),
            Some("records") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "count={other:?}: expected connections or records"
            ))),
        }
    }

    fn selector(&self, key: &str) -> ApiResult<Option<flowlens_selector::Selector>> {
        self.get(key)
            .map(|text| {
                flowlens_selector::Selector::parse(text)
                    .map_err(|e| ApiError::bad_request(format!("{key}: {e}")))
            })
            .transpose()
    }

    /// `policy` with optional `policy_action` and `policy_rule`, as
    /// [`PolicyFilter::parse`] reads them.
    pub fn policy_filter(&self) -> ApiResult<Option<PolicyFilter>> {
        Ok(PolicyFilter::parse(
            self.get("policy"),
            self.get("policy_action"),
            self.get("policy_rule"),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_model::{HitAction, PolicyKind};

    fn policy(pairs: &[(&str, &str)]) -> ApiResult<Option<PolicyFilter>> {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .policy_filter()
    }

    #[test]
    fn policy_filters_name_tier_kind_namespace_action_and_rule() {
        let f = policy(&[
            ("policy", "default/np:fme/engine"),
            ("policy_action", "deny"),
            ("policy_rule", "-1"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(f.tier.as_deref(), Some("default"));
        assert_eq!(f.kind, Some(PolicyKind::NetworkPolicy));
        assert_eq!(
            (f.namespace.as_deref(), f.name.as_deref()),
            (Some("fme"), Some("engine"))
        );
        assert_eq!((f.action, f.rule), (Some(HitAction::Deny), Some(-1)));
        // The tier tells the admin kinds apart, as in stored hits.
        let f = policy(&[("policy", "kube-baseline/kcnp:default-deny")])
            .unwrap()
            .unwrap();
        assert_eq!(f.kind, Some(PolicyKind::BaselineAdminNetworkPolicy));
        let f = policy(&[("policy", "security/block")]).unwrap().unwrap();
        assert_eq!((f.kind, f.name.as_deref()), (None, Some("block")));
        assert!(policy(&[("policy", "default/xx:a/b")]).is_err());
        assert!(policy(&[("policy_action", "deny")]).is_err());
        assert!(policy(&[]).unwrap().is_none());
    }
}
