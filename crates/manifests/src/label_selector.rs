//! Kubernetes `LabelSelector`s (`matchLabels`, `matchExpressions`) as Calico selectors,
//! term for term as Calico's `k8sSelectorToCalico` writes them.

use crate::errors::Diag;
use crate::read::Field;
use flowlens_model::well_known_labels::ORCHESTRATOR;
use flowlens_selector::Selector;

/// The terms of a LabelSelector AND-ed: `matchLabels` sorted by key, then `matchExpressions`
/// in order. An empty selector is `all()`.
pub(crate) fn label_selector(d: &mut Diag, f: &Field) -> Option<Selector> {
    let f = d.map(f.clone())?;
    let errors_before = d.error_count();
    let mut terms = Vec::new();
    if let Some(labels) = f.get("matchLabels") {
        for (k, v) in d.labels(&labels) {
            terms.push(Selector::label_equals(k, v));
        }
    }
    for expr in d.opt_list(&f, "matchExpressions") {
        let Some(expr) = d.map(expr) else { continue };
        let key = d.required(&expr, "key").and_then(|k| d.string(&k));
        let operator_field = d.required(&expr, "operator");
        let operator = operator_field.as_ref().and_then(|o| d.string(o));
        let values = d.string_list(&expr, "values");
        let (Some(key), Some(operator), Some(operator_field)) = (key, operator, operator_field)
        else {
            continue;
        };
        if !matches!(
            operator.as_str(),
            "In" | "NotIn" | "Exists" | "DoesNotExist"
        ) {
            d.error(
                operator_field.node,
                &operator_field.path,
                format!(
                    "unknown operator {operator:?}: expected In, NotIn, Exists or DoesNotExist"
                ),
            );
            continue;
        }
        let needs_values = matches!(operator.as_str(), "In" | "NotIn");
        if needs_values && values.is_empty() {
            d.error(
                expr.node,
                &expr.path.key("values"),
                format!("operator {operator} needs at least one value"),
            );
            continue;
        }
        if !needs_values && !values.is_empty() {
            d.error(
                expr.node,
                &expr.path.key("values"),
                format!("operator {operator} takes no values"),
            );
            continue;
        }
        terms.push(match operator.as_str() {
            "In" => Selector::label_in(key, values),
            "NotIn" => Selector::label_not_in(key, values),
            "Exists" => Selector::has_label(key),
            _ => Selector::lacks_label(key),
        });
    }
    if d.error_count() > errors_before {
        return None;
    }
    let selector = Selector::all_of(terms);
    if !selector.is_expressible() {
        d.error(f.node, &f.path, "a label key or value here cannot be written as a selector (keys may use letters, digits, '_', '.', '/' and '-')");
        return None;
    }
    Some(selector)
}

/// `projectcalico.org/orchestrator == "k8s"`: what Calico puts first in every selector it
/// derives from a pod selector, so host endpoints and network sets never match.
pub(crate) fn orchestrator_k8s() -> Selector {
    Selector::label_equals(ORCHESTRATOR, "k8s")
}

/// A pod selector as Calico converts it: the orchestrator term AND the selector's terms
/// (only the orchestrator term when the selector is absent).
pub(crate) fn pod_selector(d: &mut Diag, f: Option<&Field>) -> Option<Selector> {
    let terms = match f {
        Some(f) => label_selector(d, f)?,
        None => Selector::all(),
    };
    Some(orchestrator_k8s().and(terms))
}

/// A namespace selector: `None` when absent (same namespace), `all()` when empty.
pub(crate) fn namespace_selector(d: &mut Diag, f: Option<&Field>) -> Result<Option<Selector>, ()> {
    match f {
        None => Ok(None),
        Some(f) => label_selector(d, f).map(Some).ok_or(()),
    }
}
