//! Flow-log policy hits are held to Calico's own hit-parser rules: a malformed hit rejects
//! its line with the line number and the reason, so it is never stored.

use flowlens_pipeline::decode::{DecodeError, Decoded, InputFormat, decode_line};

fn line_with(hits: &str) -> String {
    format!(
        r#"{{"start_time":1,"end_time":2,"proto":"tcp","action":"deny","reporter":"src","policies":{{"enforced_policies":[{hits}],"pending_policies":[{hits}]}}}}"#
    )
}

#[test]
fn malformed_hits_reject_the_line_with_number_and_reason() {
    for (hits, why) in [
        (r#""1|_|snp:namespace/tier.name|deny|0""#, "tier \"_\""),
        (r#""0|default|np:Shop/web|allow|0""#, "namespace \"Shop\""),
        (r#""0|default|gnp:web_1|allow|0""#, "policy name \"web_1\""),
        (r#""0|default|gnp:web|allow""#, "expected 5 fields"),
    ] {
        match decode_line(&line_with(hits), 41, InputFormat::Calico) {
            Err(DecodeError { line, reason }) => {
                assert_eq!(line, 41);
                assert!(reason.contains(why), "{reason:?} should mention {why:?}");
                assert!(reason.contains("enforced_policies"), "{reason:?}");
            }
            other => panic!("{hits} should be rejected, got {other:?}"),
        }
    }
}

#[test]
fn well_formed_hits_of_both_spellings_load() {
    let hits =
        r#""0|security|gnp:security.block|pass|1","1|default|storefront/default.dmz|allow|0""#;
    let Ok(Decoded::Calico(log)) = decode_line(&line_with(hits), 1, InputFormat::Calico) else {
        panic!("should decode");
    };
    assert_eq!(log.enforced_policies.len(), 2);
}
