//! Query-string parameters shared by the flow endpoints: time range, field filters,
//! selectors, policy, sort and paging, turned into a store [`FlowSearch`].

use crate::error::{ApiError, ApiResult};
use flowlens_model::FlowField;
use flowlens_store::{
    FieldFilter, FilterOp, FlowSearch, PolicyFilter, SortKey, StoreError, TimeRange, parse_duration,
};
use std::time::{Duration, UNIX_EPOCH};

/// Filters one query may hold: far more than a person writes, few enough that no query is
/// costly to plan.
pub const MAX_FILTERS: usize = 64;
/// Sort keys one query may hold.
pub const MAX_SORT_KEYS: usize = 8;
/// Values one `in:` list may hold.
pub const MAX_IN_ITEMS: usize = 256;

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
                readable_time(range.from),
                readable_time(range.to)
            )));
        }
        Ok(range)
    }

    /// Everything that narrows flows: filters, selectors, policy (the time range apart).
    pub fn flow_search(&self, time: TimeRange) -> ApiResult<FlowSearch> {
        let mut query = FlowSearch::new(time);
        let filters = self.all("filter").count();
        if filters > MAX_FILTERS {
            return Err(ApiError::bad_request(format!(
                "{filters} filters: a query takes at most {MAX_FILTERS}"
            )));
        }
        for f in self.all("filter") {
            let filter = FieldFilter::parse(f).map_err(|e| filter_error(f, e))?;
            if let FilterOp::In(values) | FilterOp::NotIn(values) = &filter.op
                && values.len() > MAX_IN_ITEMS
            {
                return Err(ApiError::bad_request(format!(
                    "filter on {}: {} values in one in: list, at most {MAX_IN_ITEMS}",
                    filter.field,
                    values.len()
                )));
            }
            check_domain(&filter)?;
            query.filters.push(filter);
        }
        query.source_selector = self.selector("source_selector")?;
        query.dest_selector = self.selector("dest_selector")?;
        query.policy = self.policy_filter()?;
        let sort_keys = self.all("sort").count();
        if sort_keys > MAX_SORT_KEYS {
            return Err(ApiError::bad_request(format!(
                "{sort_keys} sort keys: a query takes at most {MAX_SORT_KEYS}"
            )));
        }
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

/// Reads a query string as the flow endpoints do (parameters, time range, search, counting),
/// with `now` for relative ranges. Any input gets an answer, never a panic: the fuzz target
/// `flow_query` and a test over its seeds call this.
pub fn read_flow_query(query: &str, now: i64) -> ApiResult<FlowSearch> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|e| ApiError::bad_request(format!("not a query string: {e}")))?;
    let axum::extract::Query(pairs) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let params = Params(pairs);
    let mut search = params.flow_search(params.time_range(now)?)?;
    search.connections_once = params.connections_once()?;
    Ok(search)
}

/// Unix seconds as people read them (UTC), for messages.
fn readable_time(unix: i64) -> String {
    let Ok(secs) = u64::try_from(unix) else {
        return unix.to_string();
    };
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// A filter the store could not read, with the field it probably meant.
fn filter_error(text: &str, e: StoreError) -> ApiError {
    match &e {
        StoreError::UnknownField { name, valid } => {
            let hint =
                nearest(name, valid).map_or(String::new(), |n| format!("; did you mean {n}?"));
            ApiError::bad_request(format!(
                "filter {text:?}: unknown field {name:?}{hint} (fields: {})",
                valid.join(", ")
            ))
        }
        _ => e.into(),
    }
}

/// The values of fields that take a closed set. A value outside it would quietly match
/// nothing, so it is refused with the value it was probably meant to be.
fn domain(field: FlowField) -> Option<&'static [&'static str]> {
    match field {
        FlowField::Action => Some(&["allow", "deny"]),
        FlowField::Reporter => Some(&["src", "dst"]),
        FlowField::SourceType | FlowField::DestType => Some(&["wep", "hep", "ns", "net"]),
        _ => None,
    }
}

fn check_domain(filter: &FieldFilter) -> ApiResult<()> {
    let Some(values) = domain(filter.field) else {
        return Ok(());
    };
    let given: Vec<&str> = match &filter.op {
        FilterOp::Eq(v) | FilterOp::Ne(v) => vec![v.as_str()],
        FilterOp::In(vs) | FilterOp::NotIn(vs) => vs.iter().map(String::as_str).collect(),
        // Prefixes and comparisons are about text order: nothing to check.
        _ => return Ok(()),
    };
    for value in given {
        if values.contains(&value) || (value == "-" && filter.field.is_optional()) {
            continue;
        }
        let hint = nearest(value, values).map_or(String::new(), |n| format!("; did you mean {n}?"));
        return Err(ApiError::bad_request(format!(
            "{field}={value:?}: {field} is one of {}{hint}",
            values.join(", "),
            field = filter.field,
        )));
    }
    Ok(())
}

/// The candidate `word` most likely means: one it starts with (or that starts with it), else
/// the longest shared start of three letters or more, else one it abbreviates (`src` for
/// `source`), else the closest within two edits (case aside).
fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    if word.is_empty() {
        return None;
    }
    if let Some(c) = candidates
        .iter()
        .find(|c| word.starts_with(**c) || c.starts_with(word.as_str()))
    {
        return Some(c);
    }
    let shared = |c: &str| {
        c.chars()
            .zip(word.chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    if let Some(c) = candidates.iter().max_by_key(|c| shared(c))
        && shared(c) >= 3
    {
        return Some(c);
    }
    let abbreviates = |c: &str| {
        let mut wanted = c.chars().peekable();
        if c.chars().next() != word.chars().next() {
            return false;
        }
        for ch in word.chars() {
            if wanted.peek() == Some(&ch) {
                wanted.next();
            }
        }
        wanted.peek().is_none()
    };
    if let Some(c) = candidates.iter().find(|c| abbreviates(c)) {
        return Some(c);
    }
    candidates
        .iter()
        .map(|c| (edit_distance(&word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_model::{HitAction, PolicyKind};

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn filter_error_of(text: &str) -> String {
        params(&[("filter", text)])
            .flow_search(TimeRange::all())
            .err()
            .map(|e| e.message)
            .unwrap_or_default()
    }

    #[test]
    fn values_outside_a_fields_domain_are_refused_with_a_suggestion() {
        let e = filter_error_of("action=denied");
        assert!(e.contains("did you mean deny?"), "{e}");
        assert!(e.contains("allow, deny"), "{e}");
        assert!(filter_error_of("reporter=source").contains("did you mean src?"));
        assert!(filter_error_of("dest_type=pod").contains("one of wep, hep, ns, net"));
        assert!(filter_error_of("action=in:allow,dney").contains("did you mean deny?"));
        // Values in the domain, absent values of optional fields and prefixes pass.
        for ok in [
            "action=deny",
            "action!=allow",
            "reporter=in:src,dst",
            "dest_type=-",
            "action^=de",
        ] {
            assert_eq!(filter_error_of(ok), "", "{ok}");
        }
        let e = filter_error_of("dest_prot=80");
        assert!(e.contains("did you mean dest_port?"), "{e}");
    }

    #[test]
    fn filters_sort_keys_and_in_lists_are_capped() {
        let filters: Vec<String> = (0..=MAX_FILTERS)
            .map(|i| format!("dest_port!={i}"))
            .collect();
        let mut pairs: Vec<(&str, &str)> = filters.iter().map(|f| ("filter", f.as_str())).collect();
        let e = params(&pairs).flow_search(TimeRange::all()).unwrap_err();
        assert_eq!(e.message, "65 filters: a query takes at most 64");
        pairs.pop();
        assert!(params(&pairs).flow_search(TimeRange::all()).is_ok());

        let keys = vec![("sort", "bytes_in:desc"); MAX_SORT_KEYS + 1];
        let e = params(&keys).flow_search(TimeRange::all()).unwrap_err();
        assert!(e.message.contains("at most 8"), "{}", e.message);

        let values: Vec<String> = (0..=MAX_IN_ITEMS).map(|i| i.to_string()).collect();
        let list = format!("dest_port=in:{}", values.join(","));
        let e = params(&[("filter", &list)])
            .flow_search(TimeRange::all())
            .unwrap_err();
        assert!(e.message.contains("at most 256"), "{}", e.message);
        let list = format!("dest_port=in:{}", values[..MAX_IN_ITEMS].join(","));
        assert!(
            params(&[("filter", &list)])
                .flow_search(TimeRange::all())
                .is_ok()
        );
    }

    #[test]
    fn an_empty_range_is_reported_in_readable_time() {
        let e = params(&[("from", "1765029600"), ("to", "1765026000")])
            .time_range(0)
            .unwrap_err()
            .message;
        assert_eq!(
            e,
            "the time range is empty: from 2025-12-06T14:00:00Z is not before to 2025-12-06T13:00:00Z"
        );
    }

    #[test]
    fn nearest_words() {
        assert_eq!(nearest("denied", &["allow", "deny"]), Some("deny"));
        assert_eq!(nearest("Allowed", &["allow", "deny"]), Some("allow"));
        assert_eq!(nearest("dts", &["src", "dst"]), Some("dst"));
        assert_eq!(nearest("xyzzy", &["src", "dst"]), None);
        assert_eq!(nearest("destination", &["src", "dst"]), Some("dst"));
        assert_eq!(
            nearest("dest_prot", &["dest_ip", "dest_port"]),
            Some("dest_port")
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

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
