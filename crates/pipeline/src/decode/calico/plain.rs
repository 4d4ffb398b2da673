//! A parser for the plain shape Felix writes: one JSON object per line, strings without
//! escapes, integers, `null`, labels as `{"labels": [...]}`. It reads a line in one pass
//! with no visitor layers, several times faster than the serde route.
//!
//! It gives up (`None`) on anything else — an escape, a float, a duplicate key, a label map,
//! a missing required field, a value it cannot take — and the line then goes through serde,
//! which decides and words the error. So for every line it accepts it must build exactly the
//! `Record` serde builds; `tests` and the `flow_lines` fuzz target check that.

use super::{Policies, Record};
use crate::decode::lenient::{LabelTexts, OptInt, OptText, Text, is_absent};
use flowlens_model::FlowField;
use std::borrow::Cow;

/// Parses `line`, or `None` when it is not in the plain shape (or not valid). `order` is
/// what the previous line's keys were (see [`KeyOrder`]); it is updated for the next line.
#[cfg(any(test, fuzzing))]
pub(super) fn parse<'a>(line: &'a str, order: &mut KeyOrder) -> Option<Record<'a>> {
    let mut record = Record::default();
    parse_into(line, order, &mut record).then_some(record)
}

/// [`parse`] into `record` (a default one), which holds the line's fields when it returns
/// true and is to be dropped otherwise. Filling the caller's record spares copying it
/// (several hundred bytes) on the way out.
pub(super) fn parse_into<'a>(line: &'a str, order: &mut KeyOrder, record: &mut Record<'a>) -> bool {
    let mut p = Parser {
        text: line,
        bytes: line.as_bytes(),
        at: 0,
    };
    if p.record(order, record).is_none() {
        return false;
    }
    p.skip_space();
    p.at == p.bytes.len()
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

/// The fields serde requires (no `#[serde(default)]`), as bits of `seen`.
const REQUIRED: u64 = {
    let mut mask = 0;
    let mut i = 0;
    while i < KEYS {
        if matches!(
            FIELD_OF[i],
            FlowField::StartTime
                | FlowField::EndTime
                | FlowField::Proto
                | FlowField::Action
                | FlowField::Reporter
        ) {
            mask |= 1 << i;
        }
        i += 1;
    }
    mask
};

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips white space and takes `byte`.
    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Skips white space and takes `byte` if it is next.
    fn eat_if(&mut self, byte: u8) -> bool {
        self.skip_space();
        let found = self.peek() == Some(byte);
        self.at += usize::from(found);
        found
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        self.at += stop(&self.bytes[start..])?;
        if self.bytes[self.at] != b'"' {
            return None;
        }
        // SAFETY: `start` follows a quote and `at` is one, both ASCII and so character
        // boundaries of `text`, and `start <= at <= len`. This runs some thirty times a line,
        // so the two ends are not checked again.
        let text = unsafe { self.text.get_unchecked(start..self.at) };
        self.at += 1;
        Some(text)
    }

    /// `null`, if it is next.
    fn null(&mut self) -> bool {
        self.skip_space();
        let found = self.bytes[self.at..].starts_with(b"null");
        if found {
            self.at += 4;
        }
        found
    }

    /// An integer of at most 18 digits (so it fits an `i64` whatever its sign) with no
    /// fraction or exponent; others are left to serde, which reads some of them as floats.
    fn integer(&mut self) -> Option<i64> {
        self.skip_space();
        let negative = self.eat_if(b'-');
        let start = self.at;
        // The digits are read and added up in one pass.
        let mut value = 0i64;
        for &byte in &self.bytes[start..] {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            if self.at - start == 18 {
                return None;
            }
            value = value * 10 + i64::from(digit);
            self.at += 1;
        }
        let digits = &self.bytes[start..self.at];
        let plain = !digits.is_empty()
            && (digits[0] != b'0' || (digits.len() == 1 && !negative))
            && !matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        plain.then_some(if negative { -value } else { value })
    }

    fn opt_int(&mut self) -> Option<OptInt> {
        if self.null() {
            return Some(OptInt(None));
        }
        self.skip_space();
        if self.peek()? != b'"' {
            return self.integer().map(|n| OptInt(Some(n)));
        }
        let text = self.string()?.trim();
        if is_absent(text) {
            return Some(OptInt(None));
        }
        text.parse().ok().map(|n| OptInt(Some(n)))
    }

    fn opt_text(&mut self) -> Option<OptText<'a>> {
        if self.null() {
            return Some(OptText(None));
        }
        let text = self.string()?;
        Some(OptText((!is_absent(text)).then_some(Cow::Borrowed(text))))
    }

    /// `[ "…", … ]` of plain strings.
    fn texts(&mut self, mut each: impl FnMut(&'a str) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat_if(b']') {
            return Some(());
        }
        loop {
            each(self.string()?)?;
            if !self.eat_if(b',') {
                return self.eat(b']');
            }
        }
    }

    fn opt_texts(&mut self) -> Option<Option<Vec<Text<'a>>>> {
        if self.null() {
            return Some(None);
        }
        let mut texts = Vec::new();
        self.texts(|t| {
            texts.push(Text(Cow::Borrowed(t)));
            Some(())
        })?;
        Some(Some(texts))
    }

    /// Labels as `{"labels": [...]}` (or null inside), a list, `null`, `-` or `""`.
    fn labels(&mut self) -> Option<LabelTexts<'a>> {
        let mut labels = LabelTexts::default();
        if self.null() {
            return Some(labels);
        }
        self.skip_space();
        let mut add = |pair: &'a str| {
            labels
                .add::<serde::de::value::Error>(Cow::Borrowed(pair))
                .ok()
        };
        match self.peek()? {
            b'"' => return is_absent(self.string()?).then_some(LabelTexts::default()),
            b'[' => self.texts(&mut add)?,
            b'{' => {
                self.at += 1;
                if self.string()? != "labels" {
                    return None;
                }
                self.eat(b':')?;
                if !self.null() {
                    self.texts(&mut add)?;
                }
                self.eat(b'}')?;
            }
            _ => return None,
        }
        Some(labels.normalize())
    }

    fn policies(&mut self) -> Option<Option<Policies<'a>>> {
        if self.null() {
            return Some(None);
        }
        let mut policies = Policies::default();
        let mut seen = 0u8;
        self.object(|p, key| {
            let (bit, slot) = match key {
                "all_policies" => (1, &mut policies.all_policies),
                k if Some(k) == FlowField::PoliciesEnforced.record_member() => {
                    (2, &mut policies.enforced_policies)
                }
                k if Some(k) == FlowField::PoliciesPending.record_member() => {
                    (4, &mut policies.pending_policies)
                }
                _ => return None,
            };
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
            *slot = p.opt_texts()?;
            Some(())
        })?;
        Some(Some(policies))
    }

    /// `{ "key": value, … }`, handing each key to `field`, which reads its value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat_if(b'}') {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            field(self, key)?;
            if !self.eat_if(b',') {
                return self.eat(b'}');
            }
        }
    }

    /// Skips any JSON value, checking it as strictly as serde does (or giving up).
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        // Far below serde's recursion limit.
        if depth > 32 {
            return None;
        }
        self.skip_space();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|p, _| p.skip_value(depth + 1)),
            b'[' => {
                self.at += 1;
                if self.eat_if(b']') {
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if !self.eat_if(b',') {
                        return self.eat(b']');
                    }
                }
            }
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        self.eat_if(b'-');
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    /// One or more digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// The record, its keys predicted from `order` and the order kept for the next line.
    fn record(&mut self, order: &mut KeyOrder, r: &mut Record<'a>) -> Option<()> {
        let mut seen = 0u64;
        self.eat(b'{')?;
        if !self.eat_if(b'}') {
            for position in 0.. {
                let field = match self.predicted_key(order.at(position)) {
                    Some(field) => Some(field),
                    None => field_named(self.string()?),
                };
                order.set(position, field);
                self.eat(b':')?;
                match field {
                    Some(field) => {
                        // serde refuses a repeated field.
                        if seen & (1 << field) != 0 {
                            return None;
                        }
                        seen |= 1 << field;
                        self.value(field, r)?;
                    }
                    // Fields flowlens does not keep (Felix writes several: HTTP counts,
                    // original source IPs…) are skipped, as serde skips them.
                    None => self.skip_value(0)?,
                }
                if !self.eat_if(b',') {
                    self.eat(b'}')?;
                    break;
                }
            }
        }
        (seen & REQUIRED == REQUIRED).then_some(())
    }

    /// Takes the key `field` names if it is next, written plainly (quotes, the name, quotes).
    fn predicted_key(&mut self, field: Option<u32>) -> Option<u32> {
        let key = &QUOTED_KEYS[field? as usize];
        self.skip_space();
        key.begins(&self.bytes[self.at..]).then(|| {
            self.at += key.len;
            field
        })?
    }

    /// Reads the value of key number `field` into `r`.
    fn value(&mut self, field: u32, r: &mut Record<'a>) -> Option<()> {
        use FlowField as F;
        match FIELD_OF.get(field as usize)? {
            F::StartTime => r.start_time = self.opt_int()?,
            F::EndTime => r.end_time = self.opt_int()?,
            F::SourceIp => r.source_ip = self.opt_text()?,
            F::SourceName => r.source_name = self.opt_text()?,
            F::SourceNameAggr => r.source_name_aggr = self.opt_text()?,
            F::SourceNamespace => r.source_namespace = self.opt_text()?,
            F::SourcePort => r.source_port = self.opt_int()?,
            F::SourceType => r.source_type = self.opt_text()?,
            F::SourceLabels => r.source_labels = self.labels()?,
            F::DestIp => r.dest_ip = self.opt_text()?,
            F::DestName => r.dest_name = self.opt_text()?,
            F::DestNameAggr => r.dest_name_aggr = self.opt_text()?,
            F::DestNamespace => r.dest_namespace = self.opt_text()?,
            F::DestPort => r.dest_port = self.opt_int()?,
            F::DestType => r.dest_type = self.opt_text()?,
            F::DestLabels => r.dest_labels = self.labels()?,
            F::DestServiceNamespace => r.dest_service_namespace = self.opt_text()?,
            F::DestServiceName => r.dest_service_name = self.opt_text()?,
            F::DestServicePort => r.dest_service_port = self.opt_text()?,
            F::DestServicePortNum => r.dest_service_port_num = self.opt_int()?,
            F::Proto => r.proto = self.opt_text()?,
            F::Action => r.action = self.opt_text()?,
            F::Reporter => r.reporter = self.opt_text()?,
            // Both traces are members of the one `policies` object.
            F::PoliciesEnforced | F::PoliciesPending => r.policies = self.policies()?,
            F::BytesIn => r.bytes_in = self.opt_int()?,
            F::BytesOut => r.bytes_out = self.opt_int()?,
            F::PacketsIn => r.packets_in = self.opt_int()?,
            F::PacketsOut => r.packets_out = self.opt_int()?,
            F::NumFlows => r.num_flows = self.opt_int()?,
            F::NumFlowsStarted => r.num_flows_started = self.opt_int()?,
            F::NumFlowsCompleted => r.num_flows_completed = self.opt_int()?,
            F::ProcessName => r.process_name = self.opt_text()?,
            F::ProcessId => r.process_id = self.opt_int()?,
            F::Host => r.host = self.opt_text()?,
            F::RecordId => return None,
        }
        Some(())
    }
}

/// Whether field `i` of [`FlowField::ALL`] is the first of a flow-log key (the two traces
/// share theirs).
const fn starts_a_key(i: usize) -> bool {
    let field = FlowField::ALL[i];
    if !field.in_flow_log() {
        return false;
    }
    if i == 0 {
        return true;
    }
    let (a, b) = (
        FlowField::ALL[i - 1].record_key().as_bytes(),
        field.record_key().as_bytes(),
    );
    if a.len() != b.len() {
        return true;
    }
    let mut k = 0;
    while k < a.len() {
        if a[k] != b[k] {
            return true;
        }
        k += 1;
    }
    false
}

/// The number of flow-log keys flowlens keeps.
const KEYS: usize = {
    let (mut n, mut i) = (0, 0);
    while i < FlowField::ALL.len() {
        n += starts_a_key(i) as usize;
        i += 1;
    }
    n
};

/// The field whose key each key number is (the enforced trace for `policies`).
const FIELD_OF: [FlowField; KEYS] = {
    let mut fields = [FlowField::StartTime; KEYS];
    let (mut n, mut i) = (0, 0);
    while i < FlowField::ALL.len() {
        if starts_a_key(i) {
            fields[n] = FlowField::ALL[i];
            n += 1;
        }
        i += 1;
    }
    fields
};

/// The keys flowlens keeps, by number (the bit of each in `seen`): each field's
/// [`FlowField::record_key`].
const FIELDS: [&str; KEYS] = {
    let mut keys = [""; KEYS];
    let mut i = 0;
    while i < KEYS {
        keys[i] = FIELD_OF[i].record_key();
        i += 1;
    }
    keys
};

/// Bytes of the longest key of [`FIELDS`] with its quotes (`"dest_service_namespace"`).
const QUOTED_KEY_BYTES: usize = 24;

/// A key of [`FIELDS`] as a line spells it, quotes included, in little-endian words: comparing
/// three masked words instead of calling `memcmp` for every key of every line.
struct QuotedKey {
    bytes: [u8; QUOTED_KEY_BYTES],
    words: [u64; QUOTED_KEY_BYTES / 8],
    /// Per word, the bytes that belong to the key.
    masks: [u64; QUOTED_KEY_BYTES / 8],
    len: usize,
}

impl QuotedKey {
    const fn new(name: &str) -> QuotedKey {
        let name = name.as_bytes();
        let len = name.len() + 2;
        assert!(
            len <= QUOTED_KEY_BYTES,
            "a key longer than QUOTED_KEY_BYTES"
        );
        let mut key = QuotedKey {
            bytes: [0; QUOTED_KEY_BYTES],
            words: [0; QUOTED_KEY_BYTES / 8],
            masks: [0; QUOTED_KEY_BYTES / 8],
            len,
        };
        key.bytes[0] = b'"';
        key.bytes[len - 1] = b'"';
        let mut i = 0;
        while i < name.len() {
            key.bytes[i + 1] = name[i];
            i += 1;
        }
        let mut i = 0;
        while i < len {
            key.words[i / 8] |= (key.bytes[i] as u64) << (8 * (i % 8));
            key.masks[i / 8] |= 0xff << (8 * (i % 8));
            i += 1;
        }
        key
    }

    /// Whether `text` starts with this key.
    fn begins(&self, text: &[u8]) -> bool {
        let Some(head) = text.first_chunk::<QUOTED_KEY_BYTES>() else {
            // Only near the end of a line.
            return text.starts_with(&self.bytes[..self.len]);
        };
        let (words, _) = head.as_chunks::<8>();
        let mut differ = 0;
        for ((word, expected), mask) in words.iter().zip(self.words).zip(self.masks) {
            differ |= (u64::from_le_bytes(*word) & mask) ^ expected;
        }
        differ == 0
    }
}

/// [`FIELDS`] as [`QuotedKey`]s, by number: a table in one place, looked up by index.
static QUOTED_KEYS: [QuotedKey; FIELDS.len()] = {
    let mut keys = [const { QuotedKey::new("") }; FIELDS.len()];
    let mut i = 0;
    while i < FIELDS.len() {
        keys[i] = QuotedKey::new(FIELDS[i]);
        i += 1;
    }
    keys
};

/// The number of the field `key` names; `None` for fields flowlens does not keep.
fn field_named(key: &str) -> Option<u32> {
    FIELDS.iter().position(|f| *f == key).map(|i| i as u32)
}

/// The fields of the last line in the order its keys came. Felix writes every line's keys in
/// the same order, so the key at each position is nearly always the one seen there last time,
/// and comparing the bytes with it replaces scanning and looking up the key.
#[derive(Clone)]
pub(super) struct KeyOrder([u8; KeyOrder::POSITIONS]);

impl Default for KeyOrder {
    fn default() -> Self {
        KeyOrder([KeyOrder::NONE; KeyOrder::POSITIONS])
    }
}

impl KeyOrder {
    /// Positions remembered; keys beyond are looked up each time.
    const POSITIONS: usize = 64;
    /// No prediction: a field flowlens does not keep, or nothing seen yet.
    const NONE: u8 = u8::MAX;

    fn at(&self, position: usize) -> Option<u32> {
        let field = *self.0.get(position)?;
        (field != Self::NONE).then_some(u32::from(field))
    }

    fn set(&mut self, position: usize, field: Option<u32>) {
        if let Some(slot) = self.0.get_mut(position) {
            *slot = field.map_or(Self::NONE, |f| f as u8);
        }
    }
}

/// Where the first `"`, `\\` or control character of `bytes` is: sixteen bytes at a time with
/// SSE2 (part of every x86-64), so that most strings are one step.
#[cfg(target_arch = "x86_64")]
fn stop(bytes: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 16) {
        // SAFETY: SSE2 is always there on x86-64, and the unaligned load reads the 16 bytes
        // of `chunk`.
        let mask = unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // v ≤ 0x1f exactly where min(v, 0x1f) is v.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
        };
        if mask != 0 {
            return Some(at + mask.trailing_zeros() as usize);
        }
        at += 16;
    }
    Some(at + stop_by_words(&bytes[at..])?)
}

#[cfg(not(target_arch = "x86_64"))]
fn stop(bytes: &[u8]) -> Option<usize> {
    stop_by_words(bytes)
}

/// [`stop`] eight bytes at a time in plain integer arithmetic.
fn stop_by_words(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte that is zero; bytes above the first such byte may be flagged
    // wrongly (borrows), which the lowest set bit is not affected by.
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let v = u64::from_le_bytes(chunk.try_into().ok()?);
        let hits = zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')))
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGH);
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let rest = chunks.remainder();
    let found = rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(at + found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Felix writes it, with the fields flowlens skips.
    const FELIX: &str = r#"{"start_time":1597169700,"end_time":1597170000,"source_ip":null,"source_name":"-","source_name_aggr":"frontend-864f4fcdfd-*","source_namespace":"storefront","source_port":null,"source_type":"wep","source_labels":{"labels":["app=frontend","fw-zone=dmz"]},"dest_ip":"10.0.0.7","dest_name":"-","dest_name_aggr":"microservice1-794cf77b9d-*","dest_namespace":"storefront","dest_port":80,"dest_type":"wep","dest_labels":{"labels":["fw-zone=trusted","app=microservice1","app=ms1"]},"dest_service_namespace":"storefront","dest_service_name":"microservice1","dest_service_port":"http","dest_service_port_num":80,"proto":"tcp","action":"allow","reporter":"src","policies":{"all_policies":["0|security|security.block-threatfeed|pass|1","2|default|storefront/default.staged:tighten|deny|-1"]},"bytes_in":48310,"bytes_out":21540,"num_flows":12,"num_flows_started":4,"num_flows_completed":3,"packets_in":212,"packets_out":198,"http_requests_allowed_in":0,"process_name":"-","num_process_names":0,"process_id":"-","original_source_ips":null,"extra":{"a":[1,-2.5e3,true,false,null,"x",{}],"b":[]},"host":"worker-1"}"#;
    /// What `simulate --calico` writes: sorted keys, Calico ≥ 3.32 hits.
    const NEWER: &str = r#"{"action":"deny","bytes_in":0,"bytes_out":677,"dest_ip":"10.128.3.12","dest_labels":{"labels":null},"dest_name":"api-0-c5t9tkbgkj-mjdkq","dest_name_aggr":"api-0-c5t9tkbgkj-*","dest_namespace":"ns-0188","dest_port":"9090","dest_service_name":"-","dest_service_namespace":"-","dest_service_port":"-","dest_service_port_num":null,"dest_type":"wep","end_time":1763700015,"host":"-","num_flows":1,"num_flows_completed":0,"num_flows_started":1,"packets_in":0,"packets_out":4,"policies":{"enforced_policies":["0|security|gnp:security.block-threat-feed|deny|1"],"pending_policies":[]},"process_id":" 42 ","process_name":"nginx","proto":"6","reporter":"dst","source_ip":"10.128.1.125","source_labels":["role=web","app=web-0"],"source_name":"web-0-d2pxps7wjj-pm6np","source_name_aggr":"web-0-d2pxps7wjj-*","source_namespace":"ns-0188","source_port":-1,"source_type":"wep","start_time":1763700000}"#;
    const SPACED: &str = " { \"start_time\" : 1 ,\t\"end_time\": 2, \"proto\": \"udp\", \"action\": \"allow\", \"reporter\": \"src\", \"source_labels\": \"-\", \"dest_labels\": [ ], \"policies\": null } \r\n";

    fn parse(line: &str) -> Option<Record<'_>> {
        super::parse(line, &mut KeyOrder::default())
    }

    fn serde(line: &str) -> Option<Record<'_>> {
        serde_json::from_str::<Record>(line).ok()
    }

    /// The names of the fields serde reads `T` with.
    fn serde_fields<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
        use serde::de::{Error, Visitor};
        struct Fields(&'static [&'static str]);
        impl<'de> serde::Deserializer<'de> for &mut Fields {
            type Error = serde::de::value::Error;
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _name: &'static str,
                fields: &'static [&'static str],
                _visitor: V,
            ) -> Result<V::Value, Self::Error> {
                self.0 = fields;
                Err(Error::custom("fields taken"))
            }
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(Error::custom("not a struct"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }
        let mut fields = Fields(&[]);
        let _ = T::deserialize(&mut fields);
        fields.0
    }

    /// The keys the parser reads are the fields serde reads a record with: both come from
    /// the flow-log fields of the model.
    #[test]
    fn the_keys_are_those_of_the_serde_record() {
        let mut serde_keys = serde_fields::<Record>().to_vec();
        let mut keys = FIELDS.to_vec();
        serde_keys.sort_unstable();
        keys.sort_unstable();
        assert_eq!(keys, serde_keys);
        let members = serde_fields::<Policies>();
        for field in [FlowField::PoliciesEnforced, FlowField::PoliciesPending] {
            assert_eq!(field.record_key(), "policies");
            assert!(members.contains(&field.record_member().unwrap()), "{field}");
        }
        assert_eq!(REQUIRED.count_ones(), 5);
    }

    #[test]
    fn a_quoted_key_begins_only_the_texts_that_start_with_it() {
        for (key, name) in QUOTED_KEYS.iter().zip(FIELDS) {
            let quoted = format!("\"{name}\"");
            for after in [
                "",
                ":",
                ": 1",
                ":\"a long enough value to fill the words\"}",
            ] {
                let text = format!("{quoted}{after}");
                assert!(key.begins(text.as_bytes()), "{text}");
                // Any one byte of the key changed, or the key cut short, is not it.
                for at in 0..quoted.len() {
                    let mut other = text.clone().into_bytes();
                    other[at] ^= 0x20;
                    assert!(!key.begins(&other), "{}", String::from_utf8_lossy(&other));
                    let cut = format!("{}{after}", &quoted[..at]);
                    assert!(!key.begins(cut.as_bytes()), "{cut}");
                }
            }
        }
    }

    #[test]
    fn felix_lines_are_read_as_serde_reads_them() {
        for line in [FELIX, NEWER, SPACED] {
            let plain = parse(line).unwrap_or_else(|| panic!("not taken: {line}"));
            assert_eq!(Some(&plain), serde(line).as_ref(), "{line}");
        }
        let labels = parse(FELIX).unwrap().dest_labels.0;
        assert_eq!(labels, ["app=ms1", "fw-zone=trusted"]);
    }

    #[test]
    fn what_it_cannot_take_is_left_to_serde() {
        for line in [
            FELIX.replace("worker-1", r"worker\u002d1"),
            FELIX.replace(":80,", ":80.0,"),
            FELIX.replace(":80,", ":080,"),
            FELIX.replace(
                "\"start_time\":1597169700",
                "\"start_time\":1597169700,\"start_time\":1",
            ),
            FELIX.replace(
                "{\"labels\":[\"app=frontend\",\"fw-zone=dmz\"]}",
                "{\"app\":\"frontend\"}",
            ),
            FELIX.replace("\"proto\":\"tcp\",", ""),
            FELIX.replace("\"proto\":\"tcp\"", "\"proto\":6"),
            FELIX.replace("\"bytes_in\":48310", "\"bytes_in\":123456789012345678901"),
            FELIX.replace("\"bytes_in\":48310", "\"bytes_in\":-0"),
            format!("{{\"_source\":{NEWER}}}"),
            format!("{NEWER} x"),
        ] {
            assert!(parse(&line).is_none(), "{line}");
        }
    }

    #[test]
    fn lines_in_other_key_orders_are_read_whatever_was_predicted() {
        let mut order = KeyOrder::default();
        for line in [FELIX, NEWER, FELIX, SPACED, NEWER, NEWER, FELIX] {
            let plain = super::parse(line, &mut order);
            assert_eq!(plain.as_ref(), serde(line).as_ref(), "{line}");
            assert!(plain.is_some(), "{line}");
        }
    }

    proptest::proptest! {
        /// Stops, whatever the length and wherever the byte, exactly where a byte-by-byte
        /// search does: at the first quote, backslash or control character.
        #[test]
        fn stop_finds_the_first_byte_a_string_cannot_hold(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => 0x20u8..0x7f,
                    1 => proptest::prelude::any::<u8>(),
                    1 => proptest::sample::select(vec![b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff]),
                ],
                0..80,
            )
        ) {
            let expected = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            proptest::prop_assert_eq!(stop(&bytes), expected);
            proptest::prop_assert_eq!(stop_by_words(&bytes), expected);
        }
    }

    #[test]
    fn integers_up_to_eighteen_digits_are_read_and_longer_ones_left_to_serde() {
        let line = |n: &str| SPACED.replace("\"start_time\" : 1 ", &format!("\"start_time\":{n}"));
        for (n, taken) in [
            ("0", true),
            ("7", true),
            ("-7", true),
            ("123456789012345678", true),
            ("-123456789012345678", true),
            ("1234567890123456789", false),
            ("9223372036854775807", false),
            ("-0", false),
            ("01", false),
            ("1.5", false),
            ("1e3", false),
            ("-", false),
        ] {
            let line = line(n);
            let plain = parse(&line);
            assert_eq!(plain.is_some(), taken, "{line}");
            if let Some(plain) = plain {
                assert_eq!(Some(plain), serde(&line), "{line}");
            }
        }
    }

    /// Every line one edit away from a good one: whenever the plain parser takes it, serde
    /// reads the same record.
    #[test]
    fn one_edit_away_it_agrees_with_serde() {
        let edits = [
            "", "\"", "\\", "-", "0", "1", "9", ".", "e", "{", "}", "[", "]", ",", ":", " ", "n",
            "\t", "é", "=", "null", "\"\"",
        ];
        let mut taken = 0;
        for line in [FELIX, NEWER, SPACED] {
            for at in (0..line.len()).filter(|&i| line.is_char_boundary(i)) {
                let next = (at + 1..=line.len()).find(|&i| line.is_char_boundary(i));
                for edit in edits {
                    let mut variants = vec![format!("{}{edit}{}", &line[..at], &line[at..])];
                    if let Some(next) = next {
                        variants.push(format!("{}{edit}{}", &line[..at], &line[next..]));
                    }
                    for variant in variants {
                        // Read with no prediction, and with the keys predicted from the line
                        // before the edit (so an edited key meets a prediction it breaks).
                        let mut primed = KeyOrder::default();
                        super::parse(line, &mut primed);
                        for mut order in [KeyOrder::default(), primed] {
                            if let Some(plain) = super::parse(&variant, &mut order) {
                                taken += 1;
                                assert_eq!(Some(&plain), serde(&variant).as_ref(), "{variant}");
                            }
                        }
                    }
                }
            }
        }
        // Most single edits inside texts still leave a plain line.
        assert!(taken > 10_000, "{taken}");
    }
}
