//! The plain-text form of an [`Explanation`], as `flowlens explain` prints it and the UI
//! shows it next to a flow.

use crate::{
    Action, DirectionTrace, Explanation, PeerView, ServiceTarget, TraceStep, format_labels,
};

fn peer_line(p: &PeerView) -> String {
    let who = match &p.namespace {
        Some(ns) => format!("{ns}/{}", p.name),
        None if p.endpoint_type == "net" => p.name_aggr.clone(),
        None => p.name.clone(),
    };
    format!(
        "{who} ({} {}, {})",
        p.endpoint_type,
        p.ip,
        format_labels(&p.labels)
    )
}

/// The explanation as text: the flow, each direction's steps, the verdict and who decided it.
pub fn render_explanation(e: &Explanation, service: Option<&ServiceTarget>) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Flow:  {}\n   →  {}\n",
        peer_line(&e.source),
        peer_line(&e.destination)
    ));
    out.push_str(&format!("       {} port {}", e.protocol, e.dst_port));
    if e.src_port != 0 {
        out.push_str(&format!(" (source port {})", e.src_port));
    }
    out.push('\n');
    if let Some(t) = service {
        out.push_str(&format!(
            "       via service {}/{} port {} → target port {} (policy is evaluated after DNAT)\n",
            t.namespace, t.name, t.port, t.target_port
        ));
    }
    for note in &e.notes {
        out.push_str(&format!("Note: {note}\n"));
    }
    out.push('\n');
    for d in [&e.egress, &e.ingress].into_iter().flatten() {
        render_direction(&mut out, d);
    }
    if e.egress.is_none() {
        out.push_str("Egress: the source is not a cluster endpoint; no egress policy applies.\n\n");
    }
    if e.ingress.is_none() {
        out.push_str(
            "Ingress: the destination is not a cluster endpoint; no ingress policy applies.\n\n",
        );
    }
    out.push_str(&format!("Verdict: {}", e.action.as_str().to_uppercase()));
    let blame = [&e.egress, &e.ingress]
        .into_iter()
        .flatten()
        .find(|d| d.action == Action::Deny && d.reached)
        .and_then(|d| {
            d.policies
                .last()
                .map(|p| format!(" — denied at {} of {} by {p}", d.direction, d.endpoint))
        });
    out.push_str(&blame.unwrap_or_default());
    out.push('\n');
    if e.undecidable {
        out.push_str("Note: a rule that decided depends on data flows do not carry (HTTP or ICMP type); it was applied on its L3/L4 part.\n");
    }
    if let Some(p) = &e.pending {
        out.push_str(&format!(
            "\nWith staged policies enforced, the verdict would be: {}\n",
            p.action.as_str().to_uppercase()
        ));
        for d in [&p.egress, &p.ingress].into_iter().flatten() {
            let not_reached = if d.reached { "" } else { " (not reached)" };
            out.push_str(&format!(
                "  pending {}{not_reached}: {} — {}\n",
                d.direction,
                d.action,
                d.policies.join(", ")
            ));
        }
    }
    out
}

fn render_direction(out: &mut String, d: &DirectionTrace) {
    let title = if d.direction == "egress" {
        "Egress"
    } else {
        "Ingress"
    };
    if d.reached {
        out.push_str(&format!(
            "{title} at {}: {}\n",
            d.endpoint,
            d.action.as_str().to_uppercase()
        ));
    } else {
        out.push_str(&format!(
            "{title} at {}: NOT REACHED (would be {})\n  egress denied the flow at the source, so the packet never arrives and no destination record is logged; below is what the destination's policy would do if it did\n",
            d.endpoint,
            d.action.as_str().to_uppercase()
        ));
    }
    if !d.tiers_not_applicable.is_empty() {
        out.push_str(&format!(
            "  tiers with no {} policy for this endpoint: {}\n",
            d.direction,
            d.tiers_not_applicable.join(", ")
        ));
    }
    for step in &d.steps {
        match step {
            TraceStep::Stage { stage } => out.push_str(&format!("  stage: {stage} policy\n")),
            TraceStep::Tier { tier, policies } => {
                out.push_str(&format!("  tier {tier}: {}\n", policies.join(", ")));
            }
            TraceStep::Rule {
                policy,
                index,
                rule,
                matched,
                undecidable,
                clauses,
            } => {
                let verdict = match (matched, undecidable) {
                    (true, true) => "MATCH (undecidable part assumed)",
                    (true, false) => "MATCH",
                    (false, _) => "no match",
                };
                out.push_str(&format!("    {policy} rule {index}: {rule} — {verdict}\n"));
                for c in clauses {
                    out.push_str(&format!(
                        "        {} {}\n",
                        if c.matched { "✓" } else { "✗" },
                        c.text
                    ));
                }
            }
            TraceStep::EndOfTier {
                tier,
                policy,
                action,
            } => {
                out.push_str(&format!("    end of tier {tier}: no rule matched → {action} (attributed to {policy}, rule -1)\n"));
            }
            TraceStep::Profile {
                profile: Some(p),
                action,
            } => {
                out.push_str(&format!("  no tier decided → profile {p}: {action}\n"));
            }
            TraceStep::Profile {
                profile: None,
                action,
            } => {
                out.push_str(&format!(
                    "  no tier decided and the host endpoint has no profile → {action}\n"
                ));
            }
        }
    }
    out.push_str(&format!("  policies: {}\n\n", d.policies.join(", ")));
}
