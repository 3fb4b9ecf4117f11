//! Server-side syntax highlighting with syntect (and bat's extra syntaxes,
//! for Dockerfiles, TOML and friends). Output is classed HTML; the colours
//! come from `/highlight.css`, light and dark.

use std::sync::OnceLock;

use syntect::{
    html::{css_for_theme_with_class_style, ClassStyle, ClassedHTMLGenerator},
    parsing::SyntaxSet,
    util::LinesWithEndings,
};

const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(two_face::syntax::extra_newlines)
}

/// Highlighted HTML for `code` in `lang`; plain escaped text when the
/// language is unknown (or `text`).
pub fn highlight(code: &str, lang: &str) -> String {
    let token = match lang {
        "sh" | "shell" | "console" | "bash" => "bash",
        "" | "text" | "plain" | "output" => return escape(code),
        other => other,
    };
    let set = syntaxes();
    let Some(syntax) = set.find_syntax_by_token(token) else {
        return escape(code);
    };
    let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, set, CLASS_STYLE);
    for line in LinesWithEndings::from(code) {
        if generator
            .parse_html_for_line_which_includes_newline(line)
            .is_err()
        {
            return escape(code);
        }
    }
    generator.finalize()
}

/// Whether a fence language is one the highlighter knows.
pub fn knows(lang: &str) -> bool {
    matches!(
        lang,
        "" | "text" | "plain" | "output" | "sh" | "shell" | "console" | "bash"
    ) || syntaxes().find_syntax_by_token(lang).is_some()
}

/// The stylesheet for highlighted code: a light theme, and a dark one when
/// the reader's system prefers it.
pub fn stylesheet() -> String {
    let themes = two_face::theme::extra();
    let light = css_for_theme_with_class_style(
        themes.get(two_face::theme::EmbeddedThemeName::InspiredGithub),
        CLASS_STYLE,
    )
    .unwrap_or_default();
    let dark = css_for_theme_with_class_style(
        themes.get(two_face::theme::EmbeddedThemeName::OneHalfDark),
        CLASS_STYLE,
    )
    .unwrap_or_default();
    format!("{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n")
}

/// HTML-escapes text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
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
    fn known_languages_get_classes_and_unknown_ones_are_escaped() {
        let html = highlight("docker run --rm -it busybox sh\n", "sh");
        assert!(html.contains("class=\"hl-"), "{html}");
        let docker = highlight("FROM scratch\nUSER 1000\n", "dockerfile");
        assert!(docker.contains("hl-"), "{docker}");
        assert_eq!(
            highlight("<b>&</b>", "no-such-language"),
            "&lt;b&gt;&amp;&lt;/b&gt;"
        );
        assert!(stylesheet().contains("prefers-color-scheme: dark"));
    }
}
