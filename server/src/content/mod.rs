//! Lessons, quizzes and tracks: loaded from `content/`, validated and
//! rendered once at start-up (never per request).

pub mod commands;
pub mod exercises;
pub mod highlight;
pub mod labs;
pub mod load;
pub mod loader;
pub mod model;
pub mod render;

use std::collections::{BTreeMap, HashMap};

use drydock_app::api_lessons::SearchResult;

use model::{Exercise, Lab, Lesson, Track};

/// Everything the content directory holds, ready to serve.
#[derive(Debug, Default)]
pub struct Catalog {
    pub tracks: Vec<Track>,
    pub lessons: Vec<Lesson>,
    /// Lab definitions by id.
    pub labs: BTreeMap<String, Lab>,
    /// Exercise definitions by id.
    pub exercises: BTreeMap<String, Exercise>,
    /// The lab images (tag, description) a Docker lab offers, by tag.
    pub images: Vec<(String, String)>,
    by_key: HashMap<String, usize>,
    /// Stylesheet for highlighted code, generated once.
    pub highlight_css: String,
}

impl Catalog {
    fn new(
        tracks: Vec<Track>,
        lessons: Vec<Lesson>,
        labs: BTreeMap<String, Lab>,
        exercises: BTreeMap<String, Exercise>,
        images: Vec<(String, String)>,
    ) -> Self {
        let by_key = lessons
            .iter()
            .enumerate()
            .map(|(i, l)| (l.key(), i))
            .collect();
        Self {
            tracks,
            lessons,
            labs,
            exercises,
            images,
            by_key,
            highlight_css: highlight::stylesheet(),
        }
    }

    /// The lesson `track/slug`.
    pub fn lesson(&self, track: &str, slug: &str) -> Option<&Lesson> {
        self.by_key
            .get(&format!("{track}/{slug}"))
            .map(|&i| &self.lessons[i])
    }

    /// The lessons before and after `lesson` within its track.
    pub fn neighbours(&self, lesson: &Lesson) -> (Option<&Lesson>, Option<&Lesson>) {
        let Some(track) = self.tracks.iter().find(|t| t.def.id == lesson.track) else {
            return (None, None);
        };
        let Some(pos) = track
            .lessons
            .iter()
            .position(|&i| self.lessons[i].slug == lesson.slug)
        else {
            return (None, None);
        };
        let prev = pos.checked_sub(1).map(|p| &self.lessons[track.lessons[p]]);
        let next = track.lessons.get(pos + 1).map(|&i| &self.lessons[i]);
        (prev, next)
    }

    /// Sections whose lesson title, heading or text contain every word of
    /// `query` (case-insensitive), best first.
    pub fn search(&self, query: &str, limit: usize) -> Vec<SearchResult> {
        let terms: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric() && c != '-' && c != '_')
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
            .take(8)
            .collect();
        if terms.is_empty() {
            return Vec::new();
        }
        let mut hits = Vec::new();
        for lesson in &self.lessons {
            let title = lesson.meta.title.to_lowercase();
            for section in &lesson.sections {
                let heading = section.heading.to_lowercase();
                let text = section.text.to_lowercase();
                let mut score = 0;
                let mut all = true;
                for term in &terms {
                    let found = title.matches(term.as_str()).count() * 5
                        + heading.matches(term.as_str()).count() * 3
                        + text.matches(term.as_str()).count();
                    if found == 0 {
                        all = false;
                        break;
                    }
                    score += found;
                }
                if all {
                    hits.push((
                        score,
                        SearchResult {
                            track: lesson.track.clone(),
                            slug: lesson.slug.clone(),
                            lesson_title: lesson.meta.title.clone(),
                            anchor: section.anchor.clone(),
                            heading: if section.heading.is_empty() {
                                lesson.meta.title.clone()
                            } else {
                                section.heading.clone()
                            },
                            snippet: snippet(&section.text, &terms[0]),
                        },
                    ));
                }
            }
        }
        hits.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
        hits.into_iter().take(limit).map(|(_, hit)| hit).collect()
    }
}

/// About 200 characters of `text` around the first occurrence of `term`.
fn snippet(text: &str, term: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = flat.to_lowercase();
    let at = lower.find(term).unwrap_or(0);
    // Work in characters so multi-byte text is never cut mid-character.
    let chars: Vec<char> = flat.chars().collect();
    let at_char = lower[..at].chars().count();
    let start = at_char.saturating_sub(80);
    let end = (at_char + 120).min(chars.len());
    let mut out: String = chars[start..end].iter().collect();
    if start > 0 {
        out.insert(0, '…');
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}
