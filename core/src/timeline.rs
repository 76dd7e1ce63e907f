//! The per-request hash chain over events. Each event's hash covers the
//! previous hash and every stored field, so editing, deleting or reordering
//! any event (even with triggers disabled) is detected by `verify_chain`.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The fields of an event that the chain covers.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainedEvent {
    pub seq: i32,
    pub event_id: String,
    pub kind: String,
    pub actor: String,
    pub stage_index: Option<i32>,
    pub task_id: Option<String>,
    pub status: String,
    pub data: Value,
    /// Unix microseconds.
    pub created_at: i64,
}

/// JSON with object keys sorted at every level and no spaces, so the same
/// value always hashes the same however it was stored. `-0.0` is written as
/// `0` because jsonb (numeric) has no negative zero.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Number(n) if n.as_f64() == Some(0.0) && n.is_f64() => out.push('0'),
        other => out.push_str(&other.to_string()),
    }
}

/// Hex SHA-256 of a value's canonical JSON: how events vouch for a
/// request's context without repeating it.
pub fn context_digest(v: &Value) -> String {
    Sha256::digest(canonical_json(v).as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 over the previous hash and the event's fields, each
/// length-prefixed so no two different events share an input.
pub fn event_hash(prev: Option<&[u8]>, e: &ChainedEvent) -> Vec<u8> {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(prev.unwrap_or(&[]));
    field(e.seq.to_string().as_bytes());
    field(e.event_id.as_bytes());
    field(e.kind.as_bytes());
    field(e.actor.as_bytes());
    field(e.stage_index.map(|s| s.to_string()).unwrap_or_default().as_bytes());
    field(e.task_id.as_deref().unwrap_or("").as_bytes());
    field(e.status.as_bytes());
    field(e.created_at.to_string().as_bytes());
    field(canonical_json(&e.data).as_bytes());
    h.finalize().to_vec()
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i32,
    pub reason: String,
}

/// Checks stored events (in seq order, with their stored prev/hash) and the
/// request's recorded head (`last_seq`, `last_hash`).
pub fn verify_chain(
    events: &[(ChainedEvent, Option<Vec<u8>>, Vec<u8>)],
    last_seq: i32,
    last_hash: Option<&[u8]>,
) -> Result<usize, ChainBreak> {
    let mut prev: Option<Vec<u8>> = None;
    for (i, (e, stored_prev, stored_hash)) in events.iter().enumerate() {
        let expected_seq = i as i32 + 1;
        if e.seq != expected_seq {
            return Err(ChainBreak { seq: e.seq, reason: format!("expected seq {expected_seq}: an event is missing") });
        }
        if stored_prev.as_deref() != prev.as_deref() {
            return Err(ChainBreak { seq: e.seq, reason: "prev_hash does not match the previous event".into() });
        }
        let h = event_hash(prev.as_deref(), e);
        if &h != stored_hash {
            return Err(ChainBreak { seq: e.seq, reason: "hash does not match the event's contents".into() });
        }
        prev = Some(h);
    }
    if events.len() as i32 != last_seq || prev.as_deref() != last_hash {
        return Err(ChainBreak { seq: events.len() as i32, reason: format!("the request records {last_seq} events; the chain ends differently (events were removed or added)") });
    }
    Ok(events.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(seq: i32, data: Value) -> ChainedEvent {
        ChainedEvent { seq, event_id: format!("e{seq}"), kind: "task.decided".into(), actor: "a".into(), stage_index: Some(0),
            task_id: None, status: "in_review".into(), data, created_at: 1_700_000_000_000_000 + seq as i64 }
    }

    fn chain(events: Vec<ChainedEvent>) -> Vec<(ChainedEvent, Option<Vec<u8>>, Vec<u8>)> {
        let mut prev: Option<Vec<u8>> = None;
        events.into_iter().map(|e| {
            let h = event_hash(prev.as_deref(), &e);
            let row = (e, prev.clone(), h.clone());
            prev = Some(h);
            row
        }).collect()
    }

    #[test]
    fn canonical_form_sorts_keys_and_is_stable() {
        assert_eq!(canonical_json(&json!({"b": 1, "a": {"d": [1, "x"], "c": null}})), r#"{"a":{"c":null,"d":[1,"x"]},"b":1}"#);
        assert_eq!(canonical_json(&json!(-0.0)), "0");
        assert_eq!(canonical_json(&json!(1.5)), "1.5");
    }

    #[test]
    fn intact_chain_verifies_and_any_change_is_detected() {
        let rows = chain(vec![ev(1, json!({"x": 1})), ev(2, json!({})), ev(3, json!({"c": "ok"}))]);
        let head = rows.last().unwrap().2.clone();
        assert_eq!(verify_chain(&rows, 3, Some(&head)), Ok(3));

        let mut edited = rows.clone();
        edited[1].0.actor = "mallory".into();
        assert_eq!(verify_chain(&edited, 3, Some(&head)).unwrap_err().seq, 2);

        let mut data = rows.clone();
        data[2].0.data = json!({"c": "changed"});
        assert_eq!(verify_chain(&data, 3, Some(&head)).unwrap_err().seq, 3);

        let mut gap = rows.clone();
        gap.remove(1);
        assert_eq!(verify_chain(&gap, 3, Some(&head)).unwrap_err().seq, 3);

        let truncated = rows[..2].to_vec();
        assert!(verify_chain(&truncated, 3, Some(&head)).is_err());
    }
}
