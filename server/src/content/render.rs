//! Markdown to safe HTML, once per lesson at load time.
//!
//! On top of CommonMark: tables, footnotes, task lists, GitHub callouts,
//! heading anchors with a table of contents, server-side highlighting and
//! runnable `sh run` blocks. Raw HTML from the source is never passed
//! through (it is shown as text and reported), and links may only use
//! safe schemes.

use std::collections::HashMap;

use pulldown_cmark::{
    BlockQuoteKind, CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd,
};

use super::{
    highlight::{escape, highlight},
    model::{Section, TocEntry},
};

/// What rendering one Markdown body produced.
#[derive(Debug, Default)]
pub struct Rendered {
    pub html: String,
    pub toc: Vec<TocEntry>,
    pub sections: Vec<Section>,
    /// Site-internal link targets with the byte offset they appear at.
    pub links: Vec<(usize, String)>,
    /// Image sources with their offsets.
    pub images: Vec<(usize, String)>,
    /// Problems found while rendering, with offsets.
    pub problems: Vec<(usize, String)>,
    /// How many runnable code blocks there are.
    pub runnable: usize,
    /// The runnable blocks, in order.
    pub run_blocks: Vec<RunBlock>,
}

/// A `sh run` block: what the Run button types into the lab terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunBlock {
    /// Byte offset of the block in the Markdown body.
    pub offset: usize,
    /// Line in the lesson file (set by the loader; 0 until then).
    pub line: usize,
    pub command: String,
    /// Fenced `sh run refused`: the lesson shows the lab refusing it, so it
    /// must fail.
    pub refused: bool,
}

/// Where a lesson lives, for its relative links (`./03-x.md`, `#anchor`).
#[derive(Debug, Clone, Copy)]
pub struct LinkBase<'a> {
    pub track: &'a str,
    pub slug: &'a str,
}

/// A relative link target in a lesson as a site path: `./NN-slug.md#a`
/// and `NN-slug.md` name a lesson of the same track, `../track/NN-slug.md`
/// one of another track. `None` for anything else.
fn lesson_path(target: &str, base: LinkBase<'_>) -> Option<String> {
    let (path, anchor) = match target.split_once('#') {
        Some((p, a)) => (p, format!("#{a}")),
        None => (target, String::new()),
    };
    let path = path.strip_prefix("./").unwrap_or(path);
    let (track, file) = match path.strip_prefix("../") {
        Some(rest) => rest.split_once('/')?,
        None => (base.track, path),
    };
    let stem = file.strip_suffix(".md")?;
    let slug = stem
        .split_once('-')
        .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .map_or(stem, |(_, s)| s);
    let plain = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (plain(track) && plain(slug)).then(|| format!("/lessons/{track}/{slug}{anchor}"))
}

/// The anchor id of a heading: lowercase letters and digits, words joined by `-`.
pub fn slugify(text: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else if c.is_whitespace() || c == '-' {
            dash = true;
        }
    }
    if out.is_empty() {
        "section".into()
    } else {
        out
    }
}

/// Whether a link target is allowed: http(s), mailto, site paths, anchors, relative.
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        Some((scheme, _))
            if !scheme.contains('/') && !scheme.contains('#') && !scheme.contains('?') =>
        {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

fn callout(kind: BlockQuoteKind) -> (&'static str, &'static str) {
    match kind {
        BlockQuoteKind::Note => ("note", "Note"),
        BlockQuoteKind::Tip => ("tip", "Tip"),
        BlockQuoteKind::Important => ("important", "Important"),
        BlockQuoteKind::Warning => ("warning", "Warning"),
        BlockQuoteKind::Caution => ("caution", "Caution"),
    }
}

/// Renders Markdown that is not a lesson (exercise instructions): relative
/// links to lesson files are reported, anchors are not checked.
pub fn render(markdown: &str) -> Rendered {
    render_at(markdown, None)
}

/// Renders a lesson body; relative links are resolved against `base`.
pub fn render_at(markdown: &str, base: Option<LinkBase<'_>>) -> Rendered {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_GFM;
    let mut out = Rendered::default();
    let mut events: Vec<Event> = Vec::new();
    let mut used_ids: HashMap<String, usize> = HashMap::new();

    // Heading being collected: (level, start index in `events`, text).
    let mut heading: Option<(HeadingLevel, usize, String)> = None;
    // Code block being collected: (info string, code, offset).
    let mut code: Option<(String, String, usize)> = None;
    let mut section = Section {
        anchor: None,
        heading: String::new(),
        text: String::new(),
    };

    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        if let Some((_, _, ref mut text)) = heading {
            match &event {
                Event::Text(t) | Event::Code(t) => text.push_str(t),
                _ => {}
            }
        }
        if let Some((_, ref mut body, _)) = code {
            match event {
                Event::Text(t) => {
                    body.push_str(&t);
                    continue;
                }
                Event::End(TagEnd::CodeBlock) => {}
                _ => continue,
            }
        }
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some((level, events.len(), String::new()));
            }
            Event::End(TagEnd::Heading(level)) => {
                let (_, start, text) =
                    heading
                        .take()
                        .unwrap_or((level, events.len(), String::new()));
                let base = slugify(&text);
                let n = used_ids.entry(base.clone()).or_insert(0);
                *n += 1;
                let id = if *n == 1 { base } else { format!("{base}-{n}") };
                let inner = events.split_off(start);
                let lvl = level as u8;
                if matches!(level, HeadingLevel::H1) {
                    out.problems.push((
                        range.start,
                        "use ## and ### headings: the title comes from the front matter".into(),
                    ));
                }
                if matches!(level, HeadingLevel::H2 | HeadingLevel::H3) {
                    out.toc.push(TocEntry {
                        level: lvl,
                        id: id.clone(),
                        text: text.clone(),
                    });
                }
                out.sections.push(std::mem::replace(
                    &mut section,
                    Section {
                        anchor: Some(id.clone()),
                        heading: text,
                        text: String::new(),
                    },
                ));
                events.push(Event::Html(CowStr::from(format!("<h{lvl} id=\"{id}\">"))));
                events.extend(inner);
                events.push(Event::Html(CowStr::from(format!(
                    "<a class=\"anchor\" href=\"#{id}\" aria-label=\"Link to this section\">#</a></h{lvl}>"
                ))));
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                let info = match kind {
                    CodeBlockKind::Fenced(info) => info.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((info, String::new(), range.start));
            }
            Event::End(TagEnd::CodeBlock) => {
                let (info, body, offset) = code.take().unwrap_or_default();
                let mut words = info.split_whitespace();
                let lang = words.next().unwrap_or("").to_ascii_lowercase();
                let flags: Vec<&str> = words.collect();
                let runnable = flags.contains(&"run");
                section.text.push_str(&body);
                section.text.push('\n');
                let highlighted = highlight(&body, &lang);
                let lang_attr = escape(&lang);
                // A runnable block carries its command for the lab terminal.
                let (class, label, command, run) = if runnable {
                    out.runnable += 1;
                    out.run_blocks.push(RunBlock {
                        offset,
                        line: 0,
                        command: body.trim_end().to_string(),
                        refused: flags.contains(&"refused"),
                    });
                    (
                        " runnable",
                        "Runs in your lab".to_string(),
                        format!(" data-command=\"{}\"", escape(body.trim_end())),
                        "<button type=\"button\" class=\"run-in-terminal\" title=\"Send this command to your lab terminal\">▶ Run</button>",
                    )
                } else {
                    ("", lang_attr.clone(), String::new(), "")
                };
                let html = format!(
                    "<div class=\"code-block{class}\" data-lang=\"{lang_attr}\"{command}>\
                     <div class=\"code-bar\"><span class=\"code-label\">{label}</span>\
                     {run}<button type=\"button\" class=\"copy-code\">Copy</button></div>\
                     <pre class=\"code\"><code>{highlighted}</code></pre></div>"
                );
                events.push(Event::Html(CowStr::from(html)));
            }
            Event::Start(Tag::BlockQuote(Some(kind))) => {
                let (class, title) = callout(kind);
                events.push(Event::Html(CowStr::from(format!(
                    "<div class=\"callout callout-{class}\" role=\"note\"><p class=\"callout-title\">{title}</p>"
                ))));
            }
            Event::End(TagEnd::BlockQuote(Some(_))) => {
                events.push(Event::Html(CowStr::from("</div>")))
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let relative = !dest_url.starts_with('/') && !dest_url.contains(':');
                let dest = if dest_url.starts_with('#') {
                    if let Some(base) = base {
                        out.links.push((
                            range.start,
                            format!("/lessons/{}/{}{}", base.track, base.slug, dest_url),
                        ));
                    }
                    dest_url
                } else if relative {
                    match base.and_then(|b| lesson_path(&dest_url, b)) {
                        Some(path) => {
                            out.links.push((range.start, path.clone()));
                            CowStr::from(path)
                        }
                        None => {
                            out.problems.push((
                                range.start,
                                format!(
                                    "relative link {:?}: link a lesson as ./NN-slug.md (same track) or ../track/NN-slug.md, or a site page as /path",
                                    dest_url.as_ref()
                                ),
                            ));
                            CowStr::from("#")
                        }
                    }
                } else if safe_url(&dest_url) {
                    if dest_url.starts_with('/') {
                        out.links.push((range.start, dest_url.to_string()));
                    }
                    dest_url
                } else {
                    out.problems.push((
                        range.start,
                        format!(
                            "link target {:?} uses a scheme that is not allowed",
                            dest_url.as_ref()
                        ),
                    ));
                    CowStr::from("#")
                };
                events.push(Event::Start(Tag::Link {
                    link_type,
                    dest_url: dest,
                    title,
                    id,
                }));
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                let dest = if safe_url(&dest_url) {
                    out.images.push((range.start, dest_url.to_string()));
                    dest_url
                } else {
                    out.problems.push((
                        range.start,
                        format!("image source {:?} is not allowed", dest_url.as_ref()),
                    ));
                    CowStr::from("")
                };
                events.push(Event::Start(Tag::Image {
                    link_type,
                    dest_url: dest,
                    title,
                    id,
                }));
            }
            Event::Html(raw) | Event::InlineHtml(raw) => {
                out.problems.push((
                    range.start,
                    "raw HTML is not allowed in lessons; it is shown as text".into(),
                ));
                events.push(Event::Text(raw));
            }
            Event::Text(ref t) | Event::Code(ref t) => {
                if heading.is_none() {
                    section.text.push_str(t);
                    section.text.push(' ');
                }
                events.push(event);
            }
            other => events.push(other),
        }
    }
    out.sections.push(section);
    out.sections
        .retain(|s| !s.text.trim().is_empty() || !s.heading.is_empty());
    pulldown_cmark::html::push_html(&mut out.html, events.into_iter());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_links_become_lesson_paths_and_anchors_are_kept_for_checking() {
        let base = LinkBase {
            track: "fundamentals",
            slug: "docker-api",
        };
        let r = render_at(
            "[a](./03-images-and-containers.md#layers) [b](../security/04-container-privileges.md) [c](#top) [d](notes.txt) [e](06-postgresql-in-docker.md)",
            Some(base),
        );
        assert_eq!(
            r.links.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(),
            [
                "/lessons/fundamentals/images-and-containers#layers",
                "/lessons/security/container-privileges",
                "/lessons/fundamentals/docker-api#top",
                "/lessons/fundamentals/postgresql-in-docker",
            ]
        );
        assert!(r
            .html
            .contains("href=\"/lessons/fundamentals/images-and-containers#layers\""));
        assert!(r.html.contains("href=\"#top\""));
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].1.contains("notes.txt"));
        // Outside a lesson, a relative file link has nothing to resolve against.
        assert_eq!(render("[a](./x.md)").problems.len(), 1);
    }

    #[test]
    fn refused_run_blocks_are_marked() {
        let r = render("```sh run\nid\n```\n\n```sh run refused\ndocker run --privileged x\n```\n");
        assert_eq!(r.runnable, 2);
        assert_eq!(
            r.run_blocks
                .iter()
                .map(|b| (b.command.as_str(), b.refused))
                .collect::<Vec<_>>(),
            [("id", false), ("docker run --privileged x", true)]
        );
    }

    #[test]
    fn headings_get_unique_anchors_and_a_toc() {
        let r =
            render("## Why it matters\n\ntext\n\n### Why it matters\n\n## Flags: `--cap-drop`!\n");
        let ids: Vec<&str> = r.toc.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            ["why-it-matters", "why-it-matters-2", "flags-cap-drop"]
        );
        assert!(r.html.contains(
            "<h2 id=\"why-it-matters\">Why it matters<a class=\"anchor\" href=\"#why-it-matters\""
        ));
        assert_eq!(r.toc[2].text, "Flags: --cap-drop!");
        assert_eq!(r.toc[1].level, 3);
    }

    #[test]
    fn tables_footnotes_task_lists_and_callouts_render() {
        let r = render(
            "| a | b |\n|---|---|\n| 1 | 2 |\n\nSee this[^n].\n\n[^n]: The note.\n\n- [x] done\n- [ ] todo\n\n> [!WARNING]\n> Careful.\n",
        );
        assert!(r.html.contains("<table>"), "{}", r.html);
        assert!(r.html.contains("footnote-definition"), "{}", r.html);
        assert!(r.html.contains("type=\"checkbox\""), "{}", r.html);
        assert!(r.html.contains("<div class=\"callout callout-warning\" role=\"note\"><p class=\"callout-title\">Warning</p>"), "{}", r.html);
        assert!(!r.html.contains("[!WARNING]"));
    }

    #[test]
    fn code_is_highlighted_and_runnable_blocks_are_marked() {
        let r = render("```sh run\nid -u\n```\n\n```dockerfile\nFROM scratch\n```\n");
        assert_eq!(r.runnable, 1);
        assert!(r.html.contains("class=\"code-block runnable\""));
        assert!(r.html.contains("data-command=\"id -u\""));
        assert!(r.html.contains("hl-"), "{}", r.html);
    }

    #[test]
    fn raw_html_and_script_links_never_reach_the_page() {
        let r = render(
            "<script>alert(1)</script>\n\nHi <img src=x onerror=alert(1)> there\n\n[click](javascript:alert(1)) [ok](/lessons/a/b#c) ![i](data:image/svg+xml,x)\n",
        );
        assert!(!r.html.contains("<script"), "{}", r.html);
        assert!(!r.html.contains("<img src=\"x\""), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;"), "{}", r.html);
        assert!(!r.html.to_lowercase().contains("javascript:"), "{}", r.html);
        assert!(!r.html.contains("data:image"), "{}", r.html);
        assert_eq!(r.problems.len(), 4, "{:?}", r.problems);
        assert_eq!(r.links, vec![(r.links[0].0, "/lessons/a/b#c".to_string())]);
    }

    #[test]
    fn sections_carry_their_heading_and_text_for_search() {
        let r = render("Intro words.\n\n## Namespaces\n\nEach process has a PID namespace.\n");
        assert_eq!(r.sections.len(), 2);
        assert_eq!(r.sections[1].anchor.as_deref(), Some("namespaces"));
        assert!(r.sections[1].text.contains("PID namespace"));
    }
}
