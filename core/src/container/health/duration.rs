//! Durations as Docker's CLI writes and reads them (Go's `time.Duration`): "1m30s", "500ms",
//! "1.5s" in, and Go's `String()` out, so messages read as Docker's do.

use anyhow::{Result, bail};

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a duration as Go's `time.ParseDuration` does, to nanoseconds (negative allowed,
/// so the caller can refuse it with its own message).
pub fn parse(text: &str) -> Result<i64> {
    let invalid = || anyhow::anyhow!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after) = rest.split_at(int_len);
        let (frac_digits, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            bail!("time: missing unit in duration {text:?}");
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            bail!("time: unknown unit {unit:?} in duration {text:?}");
        };
        let whole: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        // Digits past nanosecond precision change nothing.
        let frac = &frac_digits[..frac_digits.len().min(20)];
        if !frac.is_empty() {
            let f: u128 = frac.parse().map_err(|_| invalid())?;
            value += f * scale / 10u128.pow(frac.len() as u32);
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        rest = after;
    }
    let limit = if negative {
        i64::MAX as u128 + 1
    } else {
        i64::MAX as u128
    };
    if total > limit {
        return Err(invalid());
    }
    Ok(if negative {
        (total as i128).wrapping_neg() as i64
    } else {
        total as i64
    })
}

/// Go's `Duration.String()`: "0s", "500ms", "1.5s", "1m30s", "1h0m0s".
pub fn format(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let body = if u < 1_000_000_000 {
        let (unit, div) = match u {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("\u{b5}s", 1_000),
            _ => ("ms", 1_000_000),
        };
        format!("{}{unit}", decimal(u, div))
    } else {
        let seconds = decimal(u % 60_000_000_000, 1_000_000_000);
        let minutes = u / 60_000_000_000;
        match (minutes / 60, minutes % 60) {
            (0, 0) => format!("{seconds}s"),
            (0, m) => format!("{m}m{seconds}s"),
            (h, m) => format!("{h}h{m}m{seconds}s"),
        }
    };
    format!("{sign}{body}")
}

/// `value / div` with its fraction, trailing zeros dropped.
fn decimal(value: u64, div: u64) -> String {
    let (int, rem) = (value / div, value % div);
    if rem == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let frac = format!("{rem:0width$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("1s").unwrap(), 1_000_000_000);
        assert_eq!(parse("1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(parse("500ms").unwrap(), 500_000_000);
        assert_eq!(parse("2h").unwrap(), 7_200_000_000_000);
        assert_eq!(parse("10us").unwrap(), 10_000);
        assert_eq!(parse(".5s").unwrap(), 500_000_000);
        assert_eq!(parse("-1s").unwrap(), -1_000_000_000);
        for bad in ["", "abc", "1", "s", "1x", "-", "1.s.", "99999999999h"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("abc").unwrap_err().to_string(),
            "time: invalid duration \"abc\""
        );
        assert_eq!(
            parse("5").unwrap_err().to_string(),
            "time: missing unit in duration \"5\""
        );
    }

    #[test]
    fn formats_as_go_does() {
        assert_eq!(format(0), "0s");
        assert_eq!(format(1_000_000), "1ms");
        assert_eq!(format(1_500_000_000), "1.5s");
        assert_eq!(format(30_000_000_000), "30s");
        assert_eq!(format(90_000_000_000), "1m30s");
        assert_eq!(format(3_600_000_000_000), "1h0m0s");
        assert_eq!(format(1_500), "1.5\u{b5}s");
        assert_eq!(format(12), "12ns");
        assert_eq!(format(-2_000_000_000), "-2s");
    }
}
