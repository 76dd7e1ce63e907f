//! Durations in policies (`sla`, `expires_after`, `on_breach.every`): a compact
//! `1d12h`, `8h`, `30m`, `45s` form. Kept to one obvious syntax so that a typo
//! is an error, never a silently different timer.

/// Parses `"1d12h30m"` style durations into seconds. Every unit at most once,
/// in the order d, h, m, s; the total must be positive.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    const UNITS: [(char, i64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
    let err = || format!("\"{text}\" is not a duration like \"30m\", \"8h\", \"1d12h\"");
    if text.is_empty() || text.len() > 32 {
        return Err(err());
    }
    let mut total: i64 = 0;
    let mut next_unit = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let pos = UNITS[next_unit..].iter().position(|(u, _)| *u == c).ok_or_else(err)?;
        let (_, secs) = UNITS[next_unit + pos];
        next_unit += pos + 1;
        let n: i64 = digits.parse().map_err(|_| err())?;
        total = n.checked_mul(secs).and_then(|v| total.checked_add(v)).ok_or_else(err)?;
        digits.clear();
    }
    if !digits.is_empty() || total <= 0 {
        return Err(err());
    }
    // Ten years is plenty for any approval timer and keeps timestamps in range.
    if total > 10 * 365 * 86_400 {
        return Err(format!("\"{text}\" is longer than 10 years"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("45s"), Ok(45));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("8h"), Ok(28_800));
        assert_eq!(parse_duration("30d"), Ok(2_592_000));
        assert_eq!(parse_duration("1d12h30m5s"), Ok(131_405));
    }

    #[test]
    fn refuses_ambiguous_or_empty_forms() {
        for bad in ["", "8", "h", "0m", "1h1d", "1h1h", "8 h", "-1h", "1.5h", "PT8H", "99999999999999999999d", "4000d"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }
}
