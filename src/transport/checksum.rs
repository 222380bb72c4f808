//! Zaqar's message checksum (`enable_checksum`): `"MD5:<hex>"` of the body as Python's
//! `json.dumps` writes it (`zaqar/storage/utils.py`, `get_checksum`).
//!
//! Bodies are stored as the client sent them, so the text is rewritten the way Python
//! would write the value it parses from it: `", "` and `": "` between items, non-ASCII
//! as `\uXXXX` escapes, integers as written, floats in Python's `repr`. Keys keep their
//! order; a key given twice keeps its first place and last value, as a Python dict does.

use md5::{Digest, Md5};
use serde_json::Value;

/// `MD5:<hex>` of the body's JSON text, as Zaqar computes it.
pub fn checksum(body: &str) -> String {
    let mut text = String::with_capacity(body.len() + body.len() / 4);
    match serde_json::from_str::<Value>(body) {
        Ok(value) => python_dumps(&value, &mut text),
        // Stored bodies are JSON; should one not parse, its text is what is summed.
        Err(_) => text.push_str(body),
    }
    let digest = Md5::digest(text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("MD5:{hex}")
}

fn python_dumps(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&python_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => python_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_dumps(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_string(key, out);
                out.push_str(": ");
                python_dumps(item, out);
            }
            out.push('}');
        }
    }
}

/// `json.dumps` of a string with `ensure_ascii`: escapes as Python writes them.
fn python_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr` of a float: the shortest digits that read back (as Rust finds them),
/// positional from 1e-4 up to 1e16, else `d.ddde+XX`.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        return format!("{sign}{text}");
    }
    let (first, rest) = digits.split_at(1);
    let mantissa = if rest.is_empty() {
        first.to_owned()
    } else {
        format!("{first}.{rest}")
    };
    let exp_sign = if exp < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}e{exp_sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python 3.11: `json.dumps(json.loads(text))`.
    #[test]
    fn text_is_rewritten_as_python_writes_it() {
        let cases = [
            (
                r#"{"a":1,"b":[true,null,"x"]}"#,
                r#"{"a": 1, "b": [true, null, "x"]}"#,
            ),
            (r#""é€😀""#, r#""\u00e9\u20ac\ud83d\ude00""#),
            (r#""tab\t\u0001\u007f""#, r#""tab\t\u0001\u007f""#),
            (
                "[1.0, 1.5e3, 0.0001, 0.00001, 1e16, 123456789012345678, -0.0]",
                "[1.0, 1500.0, 0.0001, 1e-05, 1e+16, 123456789012345678, -0.0]",
            ),
            ("[2.5e-7, 1.25e+20, 3.14]", "[2.5e-07, 1.25e+20, 3.14]"),
            (r#"{"k": 1, "j": 2, "k": 3}"#, r#"{"k": 3, "j": 2}"#),
        ];
        for (body, python) in cases {
            let mut out = String::new();
            python_dumps(&serde_json::from_str(body).unwrap(), &mut out);
            assert_eq!(out, python, "{body}");
        }
    }

    /// `zaqar.storage.utils.get_checksum("hello")` and of `{"event": "one"}`.
    #[test]
    fn checksums_match_zaqar() {
        assert_eq!(
            checksum(r#""hello""#),
            "MD5:5deaee1c1332199e5b5bc7c5e4f7f0c2"
        );
        assert_eq!(
            checksum(r#"{"event":"one"}"#),
            checksum(r#"{"event": "one"}"#)
        );
    }
}
