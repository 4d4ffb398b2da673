//! Opens a data directory whose `manifest.json` and one data file hold arbitrary bytes, then
//! reads every flow: what recovery does with a damaged directory. Input: `[u16 manifest
//! length, little-endian][manifest][data file]`. Opening may refuse with an error; nothing
//! may panic, and a store that opens must answer a query (with rows or an error).

use flowlens_store::{EmbeddedOptions, EmbeddedStore, FlowSearch, Store, TimeRange};

pub fn run(input: &[u8]) {
    let Some((len, rest)) = input.split_first_chunk::<2>() else {
        return;
    };
    let (manifest, data) = rest.split_at(usize::from(u16::from_le_bytes(*len)).min(rest.len()));
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("data")).expect("data directory");
    let format = format!("flowlens-store format {}\n", flowlens_store::FORMAT_VERSION);
    std::fs::write(dir.path().join("FORMAT"), format).expect("FORMAT");
    std::fs::write(dir.path().join("manifest.json"), manifest).expect("manifest");
    let data_file = dir.path().join("data/flows-00000000-0-100.parquet");
    std::fs::write(data_file, data).expect("data file");
    let options = EmbeddedOptions {
        background_flush: false,
        ..EmbeddedOptions::default()
    };
    let Ok(store) = EmbeddedStore::open(dir.path(), options) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _ = runtime.block_on(store.query_flows(&FlowSearch::new(TimeRange::all())));
}
