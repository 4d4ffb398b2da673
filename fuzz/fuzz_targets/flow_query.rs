//! Reads arbitrary text as the query string of the flow endpoints (filters, selectors, policy,
//! time range, sort, paging). Any input must get an answer, never a panic, and what is
//! accepted stays within the caps.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    if let Ok(search) = flowlens_server::read_flow_query(text, 1_765_000_000) {
        assert!(search.filters.len() <= flowlens_server::MAX_FILTERS);
        assert!(search.sort.len() <= flowlens_server::MAX_SORT_KEYS);
        assert!(search.time.from < search.time.to);
    }
});
