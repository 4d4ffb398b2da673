//! Decodes arbitrary bytes as a Goldmane `Flow` message (what Felix pushes and Goldmane
//! streams) and turns it into a Calico flow log. Neither step may panic; a flow log it
//! accepts carries hit strings Flowlens reads back as the same hits.

use flowlens_model::PolicyHit;
use flowlens_sources::calico::flow_log;
use flowlens_sources::proto::goldmane::Flow;
use prost::Message;

pub fn run(input: &[u8]) {
    let Ok(flow) = Flow::decode(input) else {
        return;
    };
    if let Ok(log) = flow_log(flow) {
        assert!(log.start_time <= log.end_time);
        for hit in log.enforced_policies.iter().chain(&log.pending_policies) {
            assert_eq!(&PolicyHit::parse(&hit.to_string()).unwrap(), hit);
        }
    }
}
