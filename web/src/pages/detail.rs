//! An audit row's detail as people read it: the JSON object flattened into keys and values
//! (nested objects as `outer.inner`, lists joined, times as UTC to the second), shown as one
//! line that ends in an ellipsis and opens into the full list. The row keeps the height of
//! one line whatever the detail holds; only a reader who opens it makes it taller.

use super::format;
use maud::{html, Markup};
use serde_json::Value;

/// `detail` flattened into `(key, text)` pairs, in the order of the object.
pub fn pairs(detail: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match detail {
        Value::Object(_) => flatten("", detail, &mut out),
        Value::Null => {}
        other => out.push(("value".to_owned(), scalar(other))),
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            if map.is_empty() && !prefix.is_empty() {
                out.push((prefix.to_owned(), "—".to_owned()));
            }
            for (k, inner) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, inner, out);
            }
        }
        Value::Number(n) if is_time_key(prefix) => {
            let text = n.as_i64().and_then(format::unix_seconds).unwrap_or_else(|| n.to_string());
            out.push((prefix.to_owned(), text));
        }
        other => out.push((prefix.to_owned(), scalar(other))),
    }
}

/// Keys whose numbers are Unix times (`ends_at`, `old.starts_at`, …).
fn is_time_key(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    last.ends_with("_at") || last == "until" || last == "since"
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "—".to_owned(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format::utc_seconds_if_time(s),
        Value::Array(items) if items.is_empty() => "—".to_owned(),
        Value::Array(items) => items.iter().map(scalar).collect::<Vec<_>>().join(", "),
        Value::Object(_) => {
            let mut inner = Vec::new();
            flatten("", v, &mut inner);
            inner.iter().map(|(k, t)| format!("{k}: {t}")).collect::<Vec<_>>().join(", ")
        }
    }
}

/// The detail cell's content: one line (the pairs in a row) that opens into the list.
pub fn cell(detail: &Value) -> Markup {
    let pairs = pairs(detail);
    if pairs.is_empty() {
        return html! { span.muted { "—" } };
    }
    let line = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(" · ");
    html! {
        details {
            summary title="Show every field" { (line) }
            dl.kv {
                @for (k, v) in &pairs {
                    dt { (k) }
                    dd { (v) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use serde_json::json;

    #[test]
    fn nested_objects_lists_and_times_read_as_keys_and_values() {
        let d = json!({
            "device": "pump-12",
            "old": { "address": "10.0.0.5:22", "ports": [22, 104] },
            "until": "2026-11-29T11:30:59.123Z",
            "ends_at": 1_796_086_476,
            "count_at": "pump",
            "two_person": true,
            "note": null,
            "tags": [],
        });
        assert_eq!(
            pairs(&d),
            vec![
                ("count_at".to_owned(), "pump".to_owned()),
                ("device".to_owned(), "pump-12".to_owned()),
                ("ends_at".to_owned(), "2026-12-01 00:54:36 UTC".to_owned()),
                ("note".to_owned(), "—".to_owned()),
                ("old.address".to_owned(), "10.0.0.5:22".to_owned()),
                ("old.ports".to_owned(), "22, 104".to_owned()),
                ("tags".to_owned(), "—".to_owned()),
                ("two_person".to_owned(), "yes".to_owned()),
                ("until".to_owned(), "2026-11-29 11:30:59 UTC".to_owned()),
            ]
        );
    }

    #[test]
    fn text_that_only_looks_like_markup_or_a_time_is_kept_as_text() {
        let d = json!({ "reason": "<script>alert(1)</script>", "ticket": "2026-11-29" });
        let html = cell(&d).into_string();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("ticket: 2026-11-29"), "a date without a time is not reformatted: {html}");
    }

    #[test]
    fn an_empty_detail_is_a_dash() {
        assert!(cell(&json!({})).into_string().contains('—'));
        assert!(cell(&Value::Null).into_string().contains('—'));
    }
}
