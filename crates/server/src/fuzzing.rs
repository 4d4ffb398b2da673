//! Entry points for the fuzz targets (`fuzz/harness/`), not an API.

use crate::roles::Scope;
use flowlens_store::{FlowPage, FlowSearch, Store};

/// One page of `search` as `scope` sees it, as `/api/flows` reads it (page tokens
/// included): the page, or the error's HTTP status and message.
pub async fn flow_page(
    store: &dyn Store,
    scope: &Scope,
    search: &FlowSearch,
) -> Result<FlowPage, (u16, String)> {
    crate::scoped::query_flows(store, scope, search)
        .await
        .map_err(|e| (e.status.as_u16(), e.message))
}
