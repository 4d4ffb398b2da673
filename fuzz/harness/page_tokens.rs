//! Reads arbitrary text as the `page_token` of flow searches over a small store: the
//! administrator's (the store's own tokens, hex of JSON holding the sort and the last row's
//! values) and a namespace reader's (whose pages merge two searches, `scoped.A.B`, or are the
//! store's when one search is enough), under two sort orders. Every answer is a page or a
//! 400, never a panic or a 500; a page holds at most its limit of rows, a reader's rows each
//! have a readable end, and a next token the server issued is accepted in turn.

use flowlens_model::{Action, EndpointType, FlowEnd, FlowField, FlowLog, Protocol, Reporter};
use flowlens_server::{Access, Grants, Scope};
use flowlens_store::{
    EmbeddedOptions, EmbeddedStore, FieldFilter, FilterOp, FlowSearch, SortKey, Store,
};
use std::sync::OnceLock;

/// Rows per page in the searches of [`run`]: small, so that the fixture has many pages.
const PAGE: usize = 3;

/// A store of a few flows between three namespaces, on a runtime of its own, made once.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    store: EmbeddedStore,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let options = EmbeddedOptions {
            background_flush: false,
            ..EmbeddedOptions::default()
        };
        let store = runtime.block_on(async {
            let store = EmbeddedStore::open(dir.path().join("data"), options)
                .expect("an empty store opens");
            let namespaces = ["shop", "vault", "ledger"];
            let logs: Vec<FlowLog> = (0..24u64)
                .map(|i| {
                    flow(
                        i,
                        namespaces[i as usize % 3],
                        namespaces[(i as usize / 3) % 3],
                    )
                })
                .collect();
            store.append(logs).await.expect("the fixture is stored");
            store
        });
        Fixture {
            runtime,
            store,
            _dir: dir,
        }
    })
}

fn flow(i: u64, from: &str, to: &str) -> FlowLog {
    let end = |ns: &str, app: u64| FlowEnd {
        ip: None,
        name: None,
        name_aggr: format!("app-{app}-*"),
        namespace: Some(ns.to_string()),
        port: Some(80),
        endpoint_type: Some(EndpointType::Wep),
        labels: [("app".to_string(), format!("app-{app}"))].into(),
    };
    FlowLog {
        // Some flows share an end time, so that pages break ties by record id.
        start_time: 1_000 + (i / 2) as i64 - 10,
        end_time: 1_000 + (i / 2) as i64,
        source: end(from, i % 4),
        dest: end(to, i % 5),
        dest_service: None,
        proto: Protocol::Tcp,
        action: if i.is_multiple_of(3) {
            Action::Deny
        } else {
            Action::Allow
        },
        reporter: if i.is_multiple_of(2) {
            Reporter::Src
        } else {
            Reporter::Dst
        },
        enforced_policies: Vec::new(),
        pending_policies: Vec::new(),
        bytes_in: i * 7 % 11,
        bytes_out: i,
        packets_in: 1,
        packets_out: 1,
        num_flows: 1,
        num_flows_started: 1,
        num_flows_completed: 1,
        process_name: None,
        process_id: None,
        host: None,
    }
}

pub fn run(input: &[u8]) {
    accepted(input);
}

/// Runs the searches with `input` as their token; returns how many answered its token with
/// a page (the others refused it with a 400).
pub fn accepted(input: &[u8]) -> usize {
    let Ok(token) = std::str::from_utf8(input) else {
        return 0;
    };
    let mut pages = 0;
    let fixture = fixture();
    let reader = Scope::Scoped {
        tiers: Grants::default(),
        namespaces: Grants {
            all: None,
            named: [("shop".to_string(), Access::Read)].into(),
        },
    };
    let sorts = [
        vec![SortKey::desc(FlowField::EndTime)],
        vec![
            SortKey::asc(FlowField::SourceNameAggr),
            SortKey::desc(FlowField::BytesIn),
        ],
    ];
    let mut searches = Vec::new();
    for sort in &sorts {
        let mut search = FlowSearch::new(flowlens_store::TimeRange::all());
        search.sort.clone_from(sort);
        search.limit = Some(PAGE);
        // A search on the source's name needs the source visible: one part, the store's
        // tokens, for the reader too.
        let by_source = search.clone().filter(FieldFilter::new(
            FlowField::SourceNameAggr,
            FilterOp::NotIn(vec!["nothing".into()]),
        ));
        searches.push(search);
        searches.push(by_source);
    }
    for scope in [Scope::Admin, reader] {
        for search in &searches {
            let mut search = search.clone();
            search.page_token = Some(token.to_string());
            let answered = fixture
                .runtime
                .block_on(follow(&fixture.store, &scope, search));
            pages += usize::from(answered);
        }
    }
    pages
}

/// Reads pages from `search`'s token on, a few at most, checking each answer; whether the
/// first token was answered with a page.
async fn follow(store: &dyn Store, scope: &Scope, mut search: FlowSearch) -> bool {
    // Whether the token in `search` is one the server issued.
    let mut issued = false;
    for _ in 0..3 {
        match flowlens_server::fuzzing::flow_page(store, scope, &search).await {
            Ok(page) => {
                assert!(page.flows.len() <= PAGE, "{} rows", page.flows.len());
                assert_eq!(page.flows.len(), page.record_ids.len());
                if !scope.is_admin() {
                    for log in &page.flows {
                        let seen = [&log.source, &log.dest]
                            .iter()
                            .any(|end| end.namespace.as_deref() == Some("shop"));
                        assert!(seen, "a flow without a readable end: {log:?}");
                    }
                }
                match page.next_page_token {
                    Some(next) => search.page_token = Some(next),
                    None => return true,
                }
                issued = true;
            }
            Err((status, message)) => {
                assert_eq!(
                    status, 400,
                    "a page token gets a page or a 400, not {status}: {message}"
                );
                assert!(!issued, "a token the server issued was refused: {message}");
                return issued;
            }
        }
    }
    true
}
