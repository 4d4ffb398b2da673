//! The web UI's list of flow-log fields and filter operators, checked in as
//! `ui/src/api/flowFields.generated.ts`, is generated from the one definition of the fields
//! (`flowlens_model::FlowField`) and the store's filter syntax. This test fails when the
//! checked-in file is not what they give; it rewrites the file when run with
//! `FLOWLENS_REGENERATE=1`.

use flowlens_model::{FieldKind, FlowField};
use flowlens_store::{
    ABSENT, FILTER_OPERATORS, FieldFilter, FilterOp, FlowSearch, IN_LIST_PREFIX, Store, TimeRange,
};
use std::fmt::Write;
use std::path::PathBuf;

const KINDS: [FieldKind; 6] = [
    FieldKind::Text,
    FieldKind::OptionalText,
    FieldKind::Int,
    FieldKind::OptionalInt,
    FieldKind::Counter,
    FieldKind::List,
];

const REGENERATE: &str = "FLOWLENS_REGENERATE=1 cargo test -p flowlens-store --test ui_flow_fields";

fn quoted(items: impl IntoIterator<Item = impl std::fmt::Display>) -> String {
    items
        .into_iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The TypeScript module.
fn generated() -> String {
    let mut ts = String::new();
    let w = &mut ts;
    let _ = writeln!(
        w,
        "// Generated from the flow-log fields of crates/model/src/flow_field.rs and the store's\n\
         // filter syntax (crates/store/src/parse.rs) by crates/store/tests/ui_flow_fields.rs.\n\
         // Do not edit; after changing either, run:\n\
         //   {REGENERATE}\n"
    );
    let _ = writeln!(
        w,
        "/** How a field's values look, which decides the operators a filter can use on it. */\n\
         export type FieldKind = {};\n",
        KINDS
            .iter()
            .map(|k| format!("\"{}\"", k.as_str()))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        w,
        "/** A stored field, as the API's filters and sorts, the JSON and CSV exports name it\n \
         * (Calico's spelling). */\n\
         export type FlowFieldName =\n  | {};\n",
        FlowField::ALL
            .iter()
            .map(|f| format!("\"{}\"", f.name()))
            .collect::<Vec<_>>()
            .join("\n  | ")
    );
    let _ = writeln!(
        w,
        "export interface FlowFieldInfo {{\n  \
           name: FlowFieldName;\n  \
           kind: FieldKind;\n  \
           /** Where the value sits in the API's JSON for a flow: the name, `policies.NAME` for the traces, `id` for `record_id`. */\n  \
           path: string;\n  \
           /** The column's name in SQL (`flowlens sql`); it differs from `name` only for the traces. */\n  \
           column: string;\n  \
           /** False for `record_id`, the store's number for a record (`id` in the API's JSON). */\n  \
           inFlowLog: boolean;\n\
         }}\n"
    );
    let _ = writeln!(
        w,
        "/** Every stored field, in storage order (Calico's flow-log fields in the order of CSV\n \
         * exports, then `record_id`), `as const` so that each field's kind and path are known\n \
         * to the type checker. */\n\
         export const FLOW_FIELDS = ["
    );
    for f in FlowField::ALL {
        let _ = writeln!(
            w,
            "  {{ name: \"{}\", kind: \"{}\", path: \"{}\", column: \"{}\", inFlowLog: {} }},",
            f.name(),
            f.kind().as_str(),
            json_path(*f),
            f.column(),
            f.in_flow_log()
        );
    }
    let _ = writeln!(w, "] as const satisfies readonly FlowFieldInfo[];\n");
    let _ = writeln!(
        w,
        "/** The fields of a Calico flow log, by name, in order. */\n\
         export const FLOW_LOG_FIELD_NAMES: readonly FlowFieldName[] = [{}];\n",
        quoted(FlowField::flow_log_fields().map(FlowField::name))
    );
    let _ = writeln!(
        w,
        "/** Filter operators (`FIELD OP VALUE`), longest first so that parsing finds `!=` before\n \
         * `=`. */\n\
         export const FILTER_OPS = [{}] as const;\n\
         export type FilterOp = (typeof FILTER_OPS)[number];\n",
        quoted(FILTER_OPERATORS)
    );
    let _ = writeln!(
        w,
        "/** The operators each kind of field takes. On lists, `=` and `!=` test whether an entry\n \
         * equals the value, `^=` and `!^=` whether one starts with it. */\n\
         export const OPS_BY_KIND: Readonly<Record<FieldKind, readonly FilterOp[]>> = {{"
    );
    for kind in KINDS {
        let _ = writeln!(
            w,
            "  {}: [{}],",
            kind.as_str(),
            quoted(FilterOp::operators_for(kind))
        );
    }
    let _ = writeln!(w, "}};\n");
    let _ = writeln!(
        w,
        "/** After `=` or `!=`, a value starting with this lists alternatives: `action=in:allow,deny`. */\n\
         export const IN_LIST_PREFIX = \"{IN_LIST_PREFIX}\";\n\n\
         /** The value that stands for \"absent\" on optional fields, as in Calico's flow logs. */\n\
         export const ABSENT = \"{ABSENT}\";"
    );
    ts
}

/// Where the API's JSON for a flow holds the field: Calico's record, plus `id`.
fn json_path(field: FlowField) -> String {
    match field {
        FlowField::RecordId => "id".to_string(),
        _ => field.record_path(),
    }
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/api/flowFields.generated.ts")
}

#[test]
fn the_ui_field_module_is_generated_from_the_definitions() {
    let want = generated();
    let path = path();
    if std::env::var_os("FLOWLENS_REGENERATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale (or missing): regenerate it with\n  {REGENERATE}",
        path.display()
    );
}

/// The operators the module lists for a kind are those the store takes on its fields.
#[tokio::test]
async fn every_field_takes_the_operators_of_its_kind() {
    let dir = tempfile::tempdir().unwrap();
    let store = flowlens_store::EmbeddedStore::open(dir.path(), Default::default()).unwrap();
    for &field in FlowField::ALL {
        for op in FILTER_OPERATORS {
            let value = match field.kind() {
                FieldKind::Text | FieldKind::OptionalText | FieldKind::List => "x",
                _ => "1",
            };
            let text = format!("{field}{op}{value}");
            let filter = FieldFilter::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let query = FlowSearch::new(TimeRange::all()).filter(filter);
            let taken = store.query_flows(&query).await.is_ok();
            let listed = FilterOp::operators_for(field.kind()).contains(&op);
            assert_eq!(taken, listed, "{text}");
        }
    }
}
