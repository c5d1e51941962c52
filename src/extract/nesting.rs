//! Bounding how deeply HTML nests before html5ever parses it.
//!
//! html5ever's tree builder walks the stack of open elements for many
//! tokens (scope checks, implied end tags), so its time grows with the
//! square of the nesting depth. Measured with the debug helper: 4,096
//! nested `<div>`s parse in 0.08 s, 16,384 unclosed ones in 0.55 s, and a
//! 2.1 MB page of `<div>`s nested 100,000 deep in 48 s (an upload like it
//! blocked processing for about two minutes). Real pages nest a few dozen
//! levels.
//!
//! [`bound_nesting`] is one linear pass over the markup that keeps a cheap
//! model of html5ever's open elements and drops start tags that would open
//! deeper than [`MAX_DEPTH`], with their matching end tags. The text between
//! them stays (a dropped block-level tag becomes a `<br>`, so lines stay
//! apart); only structure below the limit is lost.
//!
//! The model must never think the page shallower than html5ever will, or
//! the bound could be bypassed; thinking it deeper only drops more tags. So
//! it pops an element only when html5ever certainly pops it too: an end tag
//! pops the nearest open element of its name, but not past a scope boundary
//! or (for names that are not block containers) a "special" element; a
//! formatting element (`<b>`, `<font>`, ...), `<form>` and `<select>` only
//! when they are the current one, since html5ever may keep or re-open them
//! otherwise. Elements whose end tag is optional (`p`, `li`, `td`, ...) are
//! not counted: each closes the previous one of its kind, so they cannot
//! pile up on their own, and the containers they nest in (`ul`, `table`)
//! are counted. Markup html5ever may read either as text or as tags (a
//! `<style>` inside SVG, CDATA) counts its start tags and ignores its end
//! tags. Should the model still be fooled, the helper's timeout holds.

use std::borrow::Cow;
use std::collections::HashMap;

/// Deepest nesting passed to html5ever. At this depth the quadratic cost
/// is below a millisecond, and no real page comes close.
pub(crate) const MAX_DEPTH: usize = 512;

const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img",
    "input", "keygen", "link", "meta", "param", "source", "track", "wbr",
];
/// End tag optional, and a start tag closes the previous one of its kind.
const SELF_CLOSING_KINDS: &[&str] = &[
    "p", "li", "dt", "dd", "option", "optgroup", "rb", "rt", "rtc", "rp", "tr", "td", "th",
    "tbody", "thead", "tfoot", "colgroup", "caption", "html", "head", "body",
];
/// In HTML content, their content is text up to their end tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript",
];
/// End tags html5ever may ignore or answer by re-opening elsewhere: they
/// pop only when their element is the current one.
const POP_ONLY_CURRENT: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt",
    "u", "form", "select",
];
/// Containers whose end tag closes them from anywhere in scope.
const BLOCK_END: &[&str] = &[
    "address",
    "applet",
    "article",
    "aside",
    "blockquote",
    "button",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "listing",
    "main",
    "marquee",
    "menu",
    "nav",
    "object",
    "ol",
    "pre",
    "search",
    "section",
    "summary",
    "table",
    "template",
    "ul",
];
/// Elements a block end tag's search does not pass.
const SCOPE_BOUNDARIES: &[&str] = &[
    "applet",
    "caption",
    "html",
    "table",
    "td",
    "th",
    "marquee",
    "object",
    "template",
    "svg",
    "math",
    "select",
    "button",
    "form",
    "foreignobject",
    "desc",
    "title",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
];
/// html5ever's "special" elements (and the boundaries above) that can be on
/// the counted stack: any other end tag (`</span>`) stops at them.
const SPECIAL: &[&str] = &[
    "address",
    "applet",
    "article",
    "aside",
    "blockquote",
    "button",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "iframe",
    "listing",
    "main",
    "marquee",
    "menu",
    "nav",
    "noembed",
    "noframes",
    "noscript",
    "object",
    "ol",
    "plaintext",
    "pre",
    "script",
    "search",
    "section",
    "select",
    "style",
    "summary",
    "table",
    "template",
    "textarea",
    "title",
    "ul",
    "xmp",
    "svg",
    "math",
    "foreignobject",
    "desc",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
];
/// Dropped tags of these names become a line break.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "div",
    "dl",
    "fieldset",
    "figure",
    "footer",
    "form",
    "header",
    "main",
    "nav",
    "ol",
    "pre",
    "section",
    "table",
    "ul",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// The markup with every tag deeper than [`MAX_DEPTH`] dropped, and
/// whether any was. Borrowed (no copy) when nothing had to go.
pub(crate) fn bound_nesting(html: &str) -> (Cow<'_, str>, bool) {
    let mut scan = Scan::new(html);
    scan.run();
    match scan.out {
        Some(mut out) => {
            out.push_str(&html[scan.copied..]);
            (Cow::Owned(out), true)
        }
        None => (Cow::Borrowed(html), false),
    }
}

struct Scan<'a> {
    html: &'a str,
    /// The rewritten markup, once a tag has been dropped, up to `copied`.
    out: Option<String>,
    copied: usize,
    /// Counted open elements, innermost last (at most MAX_DEPTH).
    open: Vec<String>,
    /// Where each name is open, innermost last, and where the elements that
    /// stop an end tag's search are: an end tag then finds its element in
    /// constant time instead of walking the stack (a walk per end tag made
    /// 300,000 `</svg>`s over 500 open `<span>`s take 48 s).
    positions: HashMap<String, Vec<usize>>,
    block_stops: Vec<usize>,
    other_stops: Vec<usize>,
    /// How many of them may take html5ever out of ordinary HTML rules
    /// (`svg`, `math`, `select`, `frameset`): while any is open, raw-text
    /// elements may be markup after all.
    unusual: usize,
    /// Up to here, markup may be text to html5ever: end tags are ignored.
    ambiguous_until: usize,
    /// Start tags dropped and not yet matched by an end tag, by name.
    dropped: HashMap<String, usize>,
    /// Searches that may be repeated from later and later offsets, cached
    /// so that the scan stays linear in the worst case.
    comment_end: Finder,
    bang_comment_end: Finder,
    cdata_end: Finder,
    raw_ends: HashMap<String, Finder>,
    last_script_end: Option<Option<usize>>,
}

/// Finds the next occurrence of one thing at or after an offset; asked
/// again from a later offset, it answers from its last search when it can.
struct Finder {
    prefix: &'static [u8],
    /// The tag name after `prefix`, for `</name`; empty for plain text.
    name: String,
    last: Option<(usize, Option<usize>)>,
}

impl Finder {
    fn text(needle: &'static [u8]) -> Finder {
        Finder {
            prefix: needle,
            name: String::new(),
            last: None,
        }
    }

    fn tag(prefix: &'static [u8], name: &str) -> Finder {
        Finder {
            prefix,
            name: name.to_string(),
            last: None,
        }
    }

    fn next(&mut self, bytes: &[u8], from: usize) -> Option<usize> {
        if let Some((searched_from, found)) = self.last
            && from >= searched_from
            && found.is_none_or(|at| at >= from)
        {
            return found;
        }
        let found = if self.name.is_empty() {
            find(bytes, from, self.prefix)
        } else {
            find_tag_name(bytes, from, self.prefix, &self.name)
        };
        self.last = Some((from, found));
        found
    }
}

/// One tag as the scanner reads it.
struct Tag {
    name: String,
    end: bool,
    /// Byte offset just past the `>`.
    after: usize,
}

impl<'a> Scan<'a> {
    fn new(html: &'a str) -> Self {
        Scan {
            html,
            out: None,
            copied: 0,
            open: Vec::new(),
            positions: HashMap::new(),
            block_stops: Vec::new(),
            other_stops: Vec::new(),
            unusual: 0,
            ambiguous_until: 0,
            dropped: HashMap::new(),
            comment_end: Finder::text(b"-->"),
            bang_comment_end: Finder::text(b"--!>"),
            cdata_end: Finder::text(b"]]>"),
            raw_ends: HashMap::new(),
            last_script_end: None,
        }
    }

    fn run(&mut self) {
        let bytes = self.html.as_bytes();
        let mut at = 0;
        while let Some(offset) = bytes[at..].iter().position(|b| *b == b'<') {
            let start = at + offset;
            let rest = &bytes[start..];
            if rest.starts_with(b"<!--") {
                // "<!-->" and "<!--->" are whole comments; "--!>" ends one.
                let dashes = self.comment_end.next(bytes, start + 2);
                let bang = self.bang_comment_end.next(bytes, start + 2);
                at = match (dashes, bang) {
                    (Some(d), Some(b)) if b < d => b + 4,
                    (Some(d), _) => d + 3,
                    (None, Some(b)) => b + 4,
                    (None, None) => bytes.len(),
                };
                continue;
            }
            if rest.starts_with(b"<![CDATA[") && self.unusual > 0 {
                // Text in SVG or MathML, a bogus comment in HTML.
                let end = self
                    .cdata_end
                    .next(bytes, start)
                    .map_or(bytes.len(), |i| i + 3);
                self.ambiguous_until = self.ambiguous_until.max(end);
                at = start + 9;
                continue;
            }
            if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
                at = find(bytes, start + 2, b">").map_or(bytes.len(), |i| i + 1);
                continue;
            }
            if rest.starts_with(b"</") && !rest.get(2).is_some_and(u8::is_ascii_alphabetic) {
                // "</>" is nothing, "</ x>" a bogus comment up to '>'.
                at = find(bytes, start + 2, b">").map_or(bytes.len(), |i| i + 1);
                continue;
            }
            let Some(tag) = read_tag(bytes, start) else {
                at = start + 1;
                continue;
            };
            at = tag.after;
            if tag.end {
                if start >= self.ambiguous_until {
                    self.end_tag(&tag, start);
                }
                continue;
            }
            let html_rules = self.unusual == 0;
            let kept = self.start_tag(&tag, start);
            let raw = RAW_TEXT.contains(&tag.name.as_str());
            if !html_rules {
                // <plaintext> and raw text may be ordinary markup here.
                if raw {
                    let end = self.ambiguous_raw_end(at, &tag.name);
                    self.ambiguous_until = self.ambiguous_until.max(end);
                }
                continue;
            }
            if tag.name == "plaintext" && kept {
                // Everything after <plaintext> is text; nothing nests.
                return;
            }
            if raw {
                let close = raw_text_end(bytes, at, &tag.name);
                if !kept {
                    // A dropped <script> must not turn its code into text.
                    let skip_to = close.map_or(bytes.len(), |(_, after)| after);
                    self.replace(at, skip_to, "");
                    if let Some(n) = self.dropped.get_mut(&tag.name) {
                        *n -= 1;
                    }
                    at = skip_to;
                    continue;
                }
                // Its end tag is read as a tag in the next round.
                at = close.map_or(bytes.len(), |(begin, _)| begin);
            }
        }
    }

    /// Where a raw-text element that html5ever may read either way ends, at
    /// the latest: the next `</name`, or for a script (whose `<!--` can hide
    /// `</script>`) the last `</script` in the file.
    fn ambiguous_raw_end(&mut self, from: usize, name: &str) -> usize {
        let bytes = self.html.as_bytes();
        let end = if name == "script" {
            *self.last_script_end.get_or_insert_with(|| {
                let mut finder = Finder::tag(b"</", "script");
                let mut last = None;
                while let Some(at) = finder.next(bytes, last.map_or(0, |l| l + 1)) {
                    last = Some(at);
                }
                last
            })
        } else {
            self.raw_ends
                .entry(name.to_string())
                .or_insert_with(|| Finder::tag(b"</", name))
                .next(bytes, from)
        };
        end.filter(|e| *e >= from).unwrap_or(bytes.len())
    }

    /// Handles a start tag; false when it was dropped.
    fn start_tag(&mut self, tag: &Tag, start: usize) -> bool {
        let name = tag.name.as_str();
        // `<x/>` is counted like `<x>`: the slash closes nothing in HTML,
        // and whether html5ever is in SVG here is not certain.
        if VOID.contains(&name) || SELF_CLOSING_KINDS.contains(&name) {
            return true;
        }
        if self.open.len() < MAX_DEPTH {
            let index = self.open.len();
            if is_unusual(name) {
                self.unusual += 1;
            }
            if SCOPE_BOUNDARIES.contains(&name) || POP_ONLY_CURRENT.contains(&name) {
                self.block_stops.push(index);
            }
            if SPECIAL.contains(&name) || POP_ONLY_CURRENT.contains(&name) {
                self.other_stops.push(index);
            }
            self.positions
                .entry(tag.name.clone())
                .or_default()
                .push(index);
            self.open.push(tag.name.clone());
            return true;
        }
        *self.dropped.entry(tag.name.clone()).or_insert(0) += 1;
        self.drop_tag(start, tag);
        false
    }

    fn end_tag(&mut self, tag: &Tag, start: usize) {
        let name = tag.name.as_str();
        if VOID.contains(&name) || SELF_CLOSING_KINDS.contains(&name) {
            return;
        }
        if let Some(count) = self.dropped.get_mut(name)
            && *count > 0
        {
            *count -= 1;
            self.drop_tag(start, tag);
            return;
        }
        if POP_ONLY_CURRENT.contains(&name) {
            if self.open.last().is_some_and(|n| n == name) {
                self.pop_to(self.open.len() - 1);
            }
            return;
        }
        // The innermost open element of this name (any heading closes any
        // heading), unless a stop lies between it and the current node; an
        // element that is both is found, as html5ever checks the name first.
        const HEADINGS: [&str; 6] = ["h1", "h2", "h3", "h4", "h5", "h6"];
        let innermost = |n: &str| self.positions.get(n).and_then(|p| p.last().copied());
        let nearest = if HEADINGS.contains(&name) {
            HEADINGS.iter().filter_map(|h| innermost(h)).max()
        } else {
            innermost(name)
        };
        let stops = if BLOCK_END.contains(&name) {
            &self.block_stops
        } else {
            &self.other_stops
        };
        if let Some(index) = nearest
            && stops.last().is_none_or(|stop| index >= *stop)
        {
            self.pop_to(index);
        }
    }

    /// Closes the open element at `index` and everything inside it.
    fn pop_to(&mut self, index: usize) {
        while self.open.len() > index {
            let Some(name) = self.open.pop() else {
                break;
            };
            if is_unusual(&name) {
                self.unusual -= 1;
            }
            if let Some(positions) = self.positions.get_mut(&name) {
                positions.pop();
            }
            for stops in [&mut self.block_stops, &mut self.other_stops] {
                if stops.last() == Some(&self.open.len()) {
                    stops.pop();
                }
            }
        }
    }

    fn drop_tag(&mut self, start: usize, tag: &Tag) {
        let replacement = if BLOCKS.contains(&tag.name.as_str()) {
            "<br>"
        } else {
            " "
        };
        self.replace(start, tag.after, replacement);
    }

    fn replace(&mut self, from: usize, to: usize, with: &str) {
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.html.len()));
        out.push_str(&self.html[self.copied..from]);
        out.push_str(with);
        self.copied = to;
    }
}

fn is_unusual(name: &str) -> bool {
    matches!(name, "svg" | "math" | "select" | "frameset")
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

/// Reads the tag at `start` (a `<` and a letter, or `</` and a letter)
/// the way html5ever's tokenizer does: attribute values in quotes may hold
/// `>`, unquoted ones end at whitespace or `>`. `None` when it is no tag.
fn read_tag(bytes: &[u8], start: usize) -> Option<Tag> {
    let mut at = start + 1;
    let end = bytes.get(at) == Some(&b'/');
    if end {
        at += 1;
    }
    if !bytes.get(at)?.is_ascii_alphabetic() {
        return None;
    }
    let name_start = at;
    while at < bytes.len() && !is_space(bytes[at]) && !matches!(bytes[at], b'>' | b'/') {
        at += 1;
    }
    let name = String::from_utf8_lossy(&bytes[name_start..at]).to_ascii_lowercase();
    let skip_spaces = |mut at: usize| {
        while at < bytes.len() && is_space(bytes[at]) {
            at += 1;
        }
        at
    };
    loop {
        at = skip_spaces(at);
        match bytes.get(at) {
            // A tag cut off by the end of the file: html5ever drops it, and
            // counting it open is the safe side.
            None => {
                return Some(Tag {
                    name,
                    end,
                    after: bytes.len(),
                });
            }
            Some(b'>') => {
                return Some(Tag {
                    name,
                    end,
                    after: at + 1,
                });
            }
            Some(b'/') => {
                at += 1;
                continue;
            }
            Some(_) => {}
        }
        // An attribute name (its first character may be anything, '=' too).
        at += 1;
        while at < bytes.len() && !is_space(bytes[at]) && !matches!(bytes[at], b'>' | b'/' | b'=') {
            at += 1;
        }
        at = skip_spaces(at);
        if bytes.get(at) != Some(&b'=') {
            continue;
        }
        at = skip_spaces(at + 1);
        match bytes.get(at) {
            Some(&quote @ (b'"' | b'\'')) => {
                at = find(bytes, at + 1, &[quote]).map_or(bytes.len(), |i| i + 1);
            }
            _ => {
                while at < bytes.len() && !is_space(bytes[at]) && bytes[at] != b'>' {
                    at += 1;
                }
            }
        }
    }
}

/// Where the raw text of `name` that starts at `from` ends: the start of
/// its end tag and the offset after it. A script's `<!--` and `<script>`
/// inside it can hide `</script>`, as html5ever's script data states do.
fn raw_text_end(bytes: &[u8], from: usize, name: &str) -> Option<(usize, usize)> {
    let closing = |at: usize| -> Option<(usize, usize)> {
        let tag = read_tag(bytes, at)?;
        Some((at, tag.after))
    };
    if name != "script" {
        let begin = find_tag_name(bytes, from, b"</", name)?;
        return closing(begin);
    }
    let mut end_tags = Finder::tag(b"</", "script");
    let mut comment_opens = Finder::text(b"<!--");
    let mut comment_closes = Finder::text(b"-->");
    let mut nested_scripts = Finder::tag(b"<", "script");
    // 0: script data, 1: escaped (after "<!--"), 2: double escaped (after
    // "<!--<script>").
    let mut state = 0;
    let mut at = from;
    loop {
        let end_tag = end_tags.next(bytes, at);
        let comment_open = (state == 0)
            .then(|| comment_opens.next(bytes, at))
            .flatten();
        let comment_close = (state > 0)
            .then(|| comment_closes.next(bytes, at))
            .flatten();
        let nested = (state == 1)
            .then(|| nested_scripts.next(bytes, at))
            .flatten();
        let next = [end_tag, comment_open, comment_close, nested]
            .into_iter()
            .flatten()
            .min()?;
        if Some(next) == comment_open {
            // "<!-->" both opens and closes: look for "-->" from its dashes.
            state = 1;
            at = next + 2;
        } else if Some(next) == comment_close {
            state = 0;
            at = next + 3;
        } else if Some(next) == nested {
            state = 2;
            at = next + 7;
        } else if state == 2 {
            state = 1;
            at = next + 8;
        } else {
            return closing(next);
        }
    }
}

/// The next `prefix` + `name` (any case) followed by whitespace, `/`, `>`
/// or the end of the file.
fn find_tag_name(bytes: &[u8], from: usize, prefix: &[u8], name: &str) -> Option<usize> {
    let mut at = from;
    while let Some(begin) = find(bytes, at, prefix) {
        let after_name = begin + prefix.len() + name.len();
        if bytes
            .get(begin + prefix.len()..after_name)
            .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            && bytes
                .get(after_name)
                .is_none_or(|b| is_space(*b) || matches!(b, b'/' | b'>'))
        {
            return Some(begin);
        }
        at = begin + 1;
    }
    None
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The deepest element of the tree html5ever builds from `html` once
    /// bounded, and how long bounding plus parsing took.
    fn parsed_depth(html: &str) -> (usize, std::time::Duration) {
        let started = std::time::Instant::now();
        let (bounded, _) = bound_nesting(html);
        let document = scraper::Html::parse_document(&bounded);
        let elapsed = started.elapsed();
        let (mut depth, mut deepest) = (0usize, 0usize);
        for edge in document.tree.root().traverse() {
            match edge {
                ego_tree::iter::Edge::Open(_) => {
                    depth += 1;
                    deepest = deepest.max(depth);
                }
                ego_tree::iter::Edge::Close(_) => depth -= 1,
            }
        }
        (deepest, elapsed)
    }

    #[test]
    fn shallow_pages_are_untouched() {
        let html = "<html><body><div><p>One<p>Two<ul><li>a<li>b</ul>\
            <script>if (a<b) {}</script><br><img src=x><span>x</span>\
            <svg><path d='M0'/><path/></svg><b>bold</b></div>";
        let (out, changed) = bound_nesting(html);
        assert!(!changed);
        assert!(matches!(out, Cow::Borrowed(_)));
    }

    #[test]
    fn deep_nesting_is_cut_and_text_kept() {
        let html = "<div>".repeat(10_000) + "deep text" + &"</div>".repeat(10_000) + "after";
        let (out, changed) = bound_nesting(&html);
        assert!(changed);
        assert_eq!(out.matches("<div>").count(), MAX_DEPTH);
        assert_eq!(out.matches("</div>").count(), MAX_DEPTH);
        assert!(out.contains("deep text") && out.ends_with("after"));
    }

    /// Markup that would make a naive tag counter think the page shallow:
    /// html5ever's own tree must stay near the limit (the few implied
    /// elements and re-opened formatting elements aside).
    #[test]
    fn tricks_do_not_hide_depth() {
        let cases = [
            "<div></span>",
            "<span><div></span>",
            "<b><div></b>",
            "<div/>",
            "<div><table></div>",
            "<form><div></form>",
            "<li><section>",
            "<p><button>",
            "<option><span>",
            "<svg><g>",
            "<div title='>'><!-- </div> -->",
            "<table><tr><td><div></td>",
            "<font><center>",
            "<!--><div>",
            "<div></ </div>",
            "<div x=b=\"></div>\">",
            "<div><script><!--<script></script></div>--></script>",
            "<svg><style><g>",
            "<svg><![CDATA[</g>]]><g>",
            "<select><style></select><div>",
            "<svg><plaintext><g>",
            "<div><svg><foreignObject><div></svg>",
        ];
        for unit in cases {
            let html = unit.repeat(20_000);
            let (depth, elapsed) = parsed_depth(&html);
            assert!(depth <= 2 * MAX_DEPTH + 8, "{unit}: depth {depth}");
            assert!(elapsed.as_secs() < 5, "{unit}: {elapsed:?}");
        }
    }

    #[test]
    fn dropped_scripts_take_their_code_along() {
        let html = "<div>".repeat(MAX_DEPTH) + "<script>var secret = 1;</script>text";
        let (out, _) = bound_nesting(&html);
        assert!(!out.contains("secret") && out.ends_with("text"));
    }
}
