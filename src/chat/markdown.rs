//! Temporary stand-in until the Markdown renderer lands.
pub fn render(markdown: &str) -> String {
    format!(
        "<p>{}</p>",
        markdown
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    )
}
