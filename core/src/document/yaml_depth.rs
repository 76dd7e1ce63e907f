//! A streaming nesting check run on YAML text before serde_yaml reads it.
//!
//! serde_yaml loads every event of a document before it deserializes (and
//! only then applies its depth limit), and libyaml's scanner does work in
//! proportion to the flow nesting depth for each token: 40,000 nested
//! `{a: ` take seconds, a mebibyte of them minutes. This pass drives the same
//! libyaml parser (unsafe-libyaml, the one serde_yaml uses) one event at a
//! time and stops at the first container nested too deep, so its cost stays
//! linear in the text. Syntax errors are left for serde_yaml to report.

use std::mem::MaybeUninit;

/// Line and column (from 1) of the first container nested deeper than
/// `max_containers`, if there is one.
pub(super) fn first_too_deep(text: &str, max_containers: usize) -> Option<(usize, usize)> {
    // The parser is large and must not move once initialized: keep it boxed.
    let mut parser: Box<MaybeUninit<unsafe_libyaml::yaml_parser_t>> = Box::new(MaybeUninit::uninit());
    let parser = parser.as_mut_ptr();
    // SAFETY: the same sequence serde_yaml's own parser uses. `parser` is
    // initialized before use and deleted on every path below; `text`
    // outlives it; each event is deleted after it has been read.
    unsafe {
        if unsafe_libyaml::yaml_parser_initialize(parser).fail {
            return None;
        }
        unsafe_libyaml::yaml_parser_set_encoding(parser, unsafe_libyaml::YAML_UTF8_ENCODING);
        unsafe_libyaml::yaml_parser_set_input_string(parser, text.as_ptr(), text.len() as _);
        let mut depth = 0usize;
        let mut found = None;
        let mut event = MaybeUninit::<unsafe_libyaml::yaml_event_t>::uninit();
        loop {
            if unsafe_libyaml::yaml_parser_parse(parser, event.as_mut_ptr()).fail {
                break;
            }
            let ev = event.as_mut_ptr();
            let kind = (*ev).type_;
            let mark = (*ev).start_mark;
            unsafe_libyaml::yaml_event_delete(ev);
            match kind {
                unsafe_libyaml::YAML_SEQUENCE_START_EVENT | unsafe_libyaml::YAML_MAPPING_START_EVENT => {
                    depth += 1;
                    if depth > max_containers {
                        found = Some((mark.line as usize + 1, mark.column as usize + 1));
                        break;
                    }
                }
                unsafe_libyaml::YAML_SEQUENCE_END_EVENT | unsafe_libyaml::YAML_MAPPING_END_EVENT => depth = depth.saturating_sub(1),
                unsafe_libyaml::YAML_STREAM_END_EVENT => break,
                _ => {}
            }
        }
        unsafe_libyaml::yaml_parser_delete(parser);
        found
    }
}
