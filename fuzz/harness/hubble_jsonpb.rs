//! Decodes arbitrary text as `hubble observe -o jsonpb` lines. Decoding must never panic;
//! a flow it accepts is one packet event in the connection's direction.

use flowlens_sources::hubble::{HubbleEvent, decode_jsonpb_line};

pub fn run(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    for line in text.lines() {
        if let Ok(HubbleEvent::Flow(flow)) = decode_jsonpb_line(line) {
            let raw = &flow.raw;
            assert_eq!(raw.start_time, raw.end_time);
            assert_eq!(raw.packets_out + raw.packets_in, 1);
            assert_eq!(raw.bytes_out + raw.bytes_in, 0);
            assert_eq!(flow.observation.is_reply == Some(true), raw.packets_in == 1);
        }
    }
}
