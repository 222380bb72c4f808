//! Output: JSON with `--json`, else tables padded to their widest cell.

use serde::Serialize;
use serde_json::Value;

use crate::client::Message;

pub struct Out {
    pub json: bool,
}

impl Out {
    /// `value` as JSON with --json, else the table or text `human` makes.
    pub fn show<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
            );
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }
}

/// Columns padded to their widest cell.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

pub fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn messages_table(messages: &[Message]) -> String {
    if messages.is_empty() {
        return "(no messages)".into();
    }
    table(
        &["ID", "AGE", "TTL", "BODY"],
        messages
            .iter()
            .map(|m| {
                vec![
                    m.id.clone(),
                    m.age.to_string(),
                    m.ttl.to_string(),
                    compact(&m.body),
                ]
            })
            .collect(),
    )
}

pub fn object_table(v: &Value) -> String {
    let Some(o) = v.as_object() else {
        return compact(v);
    };
    table(
        &["KEY", "VALUE"],
        o.iter().map(|(k, v)| vec![k.clone(), compact(v)]).collect(),
    )
}
