//! "Firefox on Windows": a session's browser and system in words, read from
//! its User-Agent header by woothee (a maintained, table-driven parser:
//! browsers change their strings every few months, and a hand-written
//! table here would fall behind). The raw string stays available to show
//! on hover; a string nothing recognises reads "Unknown browser".

/// The browser and its system, for people: "Chrome on Android", "Safari on
/// iPhone", "Edge on Windows", "Firefox" (no system known), or "Unknown
/// browser".
pub fn describe(user_agent: &str) -> String {
    const UNKNOWN: &str = "UNKNOWN";
    let Some(found) = woothee::parser::Parser::new().parse(user_agent) else {
        return "Unknown browser".to_string();
    };
    let browser = match found.name {
        "" | UNKNOWN => return "Unknown browser".to_string(),
        "SamsungBrowser" => "Samsung Internet",
        "Webview" => "An app's browser",
        "HTTP Library" => "A program",
        name => name,
    };
    let system = match found.os {
        "" | UNKNOWN => None,
        os if os.starts_with("Windows Phone") => Some("Windows Phone"),
        os if os.starts_with("Windows") => Some("Windows"),
        "Mac OSX" => Some("macOS"),
        "Mac OS Classic" => Some("Mac OS"),
        os => Some(os),
    };
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[track_caller]
    fn check(user_agent: &str, expected: &str) {
        assert_eq!(describe(user_agent), expected, "{user_agent}");
    }

    #[test]
    fn browsers_and_systems_are_named() {
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Windows",
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome on Windows",
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            "Edge on Windows",
        );
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            "Safari on macOS",
        );
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on macOS",
        );
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome on macOS",
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
            "Chrome on iPhone",
        );
        check(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        );
        check(
            "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
            "Firefox on Android",
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            "Firefox on Linux",
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            "Chrome on Linux",
        );
    }

    #[test]
    fn what_nothing_recognises_is_an_unknown_browser() {
        check("", "Unknown browser");
        check("hello", "Unknown browser");
        check("Mozilla/5.0 (compatible; Frobnicator)", "Unknown browser");
    }
}
