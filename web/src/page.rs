//! The landing page: static HTML, no script, no external assets.

use crate::WebState;

/// The landing page for this broker.
pub(crate) fn landing(state: &WebState) -> String {
    format!(
        "<!DOCTYPE html>\n\
<html lang=\"en\">\n\
<head>\n\
<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>Portcullis</title>\n\
</head>\n\
<body>\n\
<h1>Portcullis</h1>\n\
<p>The vendor remote-access broker <strong>{name}</strong> is running (version {version}).</p>\n\
<p>Access requests are approved on the command line for now, with \
<code>portcullis request approve</code>.</p>\n\
</body>\n\
</html>\n",
        name = escape(&state.name),
        version = escape(state.version),
    )
}

/// Escape text for use in HTML content or attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn page_mentions_approve_command_and_has_no_script() {
        let state = WebState {
            version: "1.2.3",
            name: "ward <3>".into(),
        };
        let html = landing(&state);
        assert!(html.contains("<title>Portcullis</title>"));
        assert!(html.contains("portcullis request approve"));
        assert!(html.contains("ward &lt;3&gt;"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("http"));
    }
}
