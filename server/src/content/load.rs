//! Reading the content directory: parse, validate, render — all at once, so
//! the checker and the server see exactly the same problems.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    fs,
    path::{Path, PathBuf},
};

use super::{
    commands::image_use,
    loader::{line_at, toml_problem, Loader},
    model::{FrontMatter, Lesson, Problem, Question, QuizFile, QuizKind, Track, TracksFile},
    render::{render_at, LinkBase},
    Catalog,
};
use crate::docker::{images::LabImage, proxy::with_tag};

fn ids_in(dir: &Path, ext: &str) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(ext).map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn media_files(dir: &Path, root: &Path, out: &mut HashSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.is_dir() {
            media_files(&path, root, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// Splits `+++` front matter from the body; returns (front matter, body,
/// line number where the body starts minus one).
fn split_front_matter(text: &str) -> Option<(&str, &str, usize)> {
    let rest = text
        .strip_prefix("+++\n")
        .or_else(|| text.strip_prefix("+++\r\n"))?;
    let end = rest.find("\n+++")?;
    let front = &rest[..end + 1];
    let after = &rest[end + 4..];
    let body = after
        .strip_prefix("\r\n")
        .or_else(|| after.strip_prefix('\n'))
        .unwrap_or(after);
    let body_line = text.len() - body.len();
    Some((front, body, line_at(text, body_line) - 1))
}

/// Loads everything under `dir` (normally `content/`). Any problem at all
/// fails the load, listing every problem found.
pub fn load(dir: &Path) -> Result<Catalog, Vec<Problem>> {
    let mut loader = Loader::new(dir);
    let tracks_path = dir.join("lessons/tracks.toml");
    let shown_tracks = loader.rel(&tracks_path);
    let tracks_text = match fs::read_to_string(&tracks_path) {
        Ok(t) => t,
        Err(e) => {
            loader.problem(
                &shown_tracks,
                1,
                format!("cannot read the track index: {e}"),
            );
            return Err(loader.problems);
        }
    };
    let tracks_file: TracksFile = match toml::from_str(&tracks_text) {
        Ok(t) => t,
        Err(e) => return Err(vec![toml_problem(&shown_tracks, &tracks_text, &e, 0)]),
    };
    let mut labs = super::labs::load_labs(&mut loader, dir);
    let exercises = ids_in(&dir.join("exercises"), ".toml");
    let lab_ids: Vec<String> = ids_in(&dir.join("labs"), ".toml").into_iter().collect();
    let docker_labs = labs
        .iter()
        .map(|(id, lab)| (id.clone(), lab.def.docker))
        .collect();
    // Problems of the image definitions themselves are the labs' to report.
    let images = LabImage::load_all(&dir.join("images")).unwrap_or_default();
    let mut exercise_defs =
        super::exercises::load_exercises(&mut loader, dir, &images, &lab_ids, &docker_labs);
    let mut media = HashSet::new();
    media_files(&dir.join("media"), &dir.join("media"), &mut media);
    let image_list: Vec<(String, String)> = images
        .iter()
        .map(|i| (i.tag.clone(), i.description.clone()))
        .collect();
    let lab_images: HashSet<String> = image_list.iter().map(|(t, _)| with_tag(t)).collect();

    let mut lessons: Vec<Lesson> = Vec::new();
    let mut tracks: Vec<Track> = Vec::new();
    // Link checks wait until every lesson's anchors are known: (file, line, target).
    let mut pending_links: Vec<(PathBuf, usize, String)> = Vec::new();
    let mut seen_track_ids = HashSet::new();

    for def in tracks_file.tracks {
        if !seen_track_ids.insert(def.id.clone()) {
            loader.problem(
                &shown_tracks,
                1,
                format!("track {:?} is listed twice", def.id),
            );
            continue;
        }
        let track_dir = dir.join("lessons").join(&def.id);
        let mut names: Vec<String> = match fs::read_dir(&track_dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) => {
                loader.problem(
                    &shown_tracks,
                    1,
                    format!(
                        "track {:?} has no folder {}: {e}",
                        def.id,
                        track_dir.display()
                    ),
                );
                continue;
            }
        };
        names.sort();
        let mut track = Track {
            def: def.clone(),
            lessons: Vec::new(),
        };
        let mut slugs = HashSet::new();
        let mut orders = HashMap::new();
        for name in &names {
            let path = track_dir.join(name);
            let shown = loader.rel(&path);
            if let Some(stem) = name.strip_suffix(".quiz.toml") {
                if !names.contains(&format!("{stem}.md")) {
                    loader.problem(
                        &shown,
                        1,
                        format!("quiz without a lesson: expected {stem}.md beside it"),
                    );
                }
                continue;
            }
            let Some(stem) = name.strip_suffix(".md") else {
                loader.problem(
                    &shown,
                    1,
                    "unexpected file: lessons are NN-slug.md with an optional NN-slug.quiz.toml",
                );
                continue;
            };
            let Some((number, slug)) = stem.split_once('-').filter(|(n, s)| {
                n.len() == 2 && n.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty()
            }) else {
                loader.problem(
                    &shown,
                    1,
                    "lesson files are named NN-slug.md (two digits, a dash, a slug)",
                );
                continue;
            };
            if !slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                loader.problem(
                    &shown,
                    1,
                    format!("slug {slug:?} may use only lowercase letters, digits and '-'"),
                );
                continue;
            }
            if !slugs.insert(slug.to_string()) {
                loader.problem(
                    &shown,
                    1,
                    format!("duplicate slug {slug:?} in track {:?}", def.id),
                );
                continue;
            }
            let text = match fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) => {
                    loader.problem(&shown, 1, format!("cannot read: {e}"));
                    continue;
                }
            };
            let Some((front, body, body_line)) = split_front_matter(&text) else {
                loader.problem(&shown, 1, "missing front matter: the file must start with a +++ line, TOML keys, and a closing +++ line");
                continue;
            };
            let meta: FrontMatter = match toml::from_str(front) {
                Ok(m) => m,
                Err(e) => {
                    loader.problems.push(toml_problem(&shown, front, &e, 1));
                    continue;
                }
            };
            let key_line = |key: &str| -> usize {
                front
                    .lines()
                    .position(|l| l.trim_start().starts_with(key))
                    .map(|i| i + 2)
                    .unwrap_or(1)
            };
            if meta.title.trim().is_empty() {
                loader.problem(&shown, key_line("title"), "title must not be empty");
            }
            if meta.summary.trim().is_empty() {
                loader.problem(&shown, key_line("summary"), "summary must not be empty");
            }
            if !(1..=240).contains(&meta.minutes) {
                loader.problem(
                    &shown,
                    key_line("minutes"),
                    "minutes must be between 1 and 240",
                );
            }
            if meta.objectives.is_empty()
                || meta.objectives.len() > 8
                || meta.objectives.iter().any(|o| o.trim().is_empty())
            {
                loader.problem(
                    &shown,
                    key_line("objectives"),
                    "objectives must list 1 to 8 non-empty items",
                );
            }
            if number.parse::<u32>().ok() != Some(meta.order) {
                loader.problem(
                    &shown,
                    key_line("order"),
                    format!(
                        "order = {} does not match the file number {number}",
                        meta.order
                    ),
                );
            }
            if let Some(other) = orders.insert(meta.order, name.clone()) {
                loader.problem(
                    &shown,
                    key_line("order"),
                    format!("order {} is also used by {other}", meta.order),
                );
            }
            if let Some(lab) = &meta.lab {
                if let Some(found) = labs.get_mut(lab) {
                    found.lessons.push(format!("{}/{slug}", def.id));
                } else if ids_in(&dir.join("labs"), ".toml").contains(lab) {
                    // The lab file itself has problems; they are reported there.
                } else {
                    loader.problem(
                        &shown,
                        key_line("lab"),
                        format!("unknown lab {lab:?}: no content/labs/{lab}.toml"),
                    );
                }
            }
            for exercise in &meta.exercises {
                if let Some(found) = exercise_defs.get_mut(exercise) {
                    found.lessons.push(format!("{}/{slug}", def.id));
                } else if !exercises.contains(exercise) {
                    loader.problem(
                        &shown,
                        key_line("exercises"),
                        format!(
                            "unknown exercise {exercise:?}: no content/exercises/{exercise}.toml"
                        ),
                    );
                }
            }

            let mut rendered = render_at(
                body,
                Some(LinkBase {
                    track: &def.id,
                    slug,
                }),
            );
            // Every image a run block starts must be a lab image or one the
            // lesson built (or tagged) in an earlier block.
            let mut named: HashSet<String> = lab_images.clone();
            for block in &mut rendered.run_blocks {
                block.line = body_line + line_at(body, block.offset);
                let used = image_use(&block.command);
                for image in &used.started {
                    if !image.contains('$') && !named.contains(&with_tag(image)) {
                        loader.problem(
                            &shown,
                            block.line,
                            format!(
                                "this run block starts {image:?}, which no lab image provides and no earlier block builds; {}",
                                if lab_images.is_empty() {
                                    "there are no lab images (content/images/)".to_string()
                                } else {
                                    let mut tags: Vec<_> = lab_images.iter().cloned().collect();
                                    tags.sort();
                                    format!("labs have {}", tags.join(", "))
                                }
                            ),
                        );
                    }
                }
                named.extend(used.named.iter().map(|n| with_tag(n)));
            }
            for (offset, message) in &rendered.problems {
                loader.problem(&shown, body_line + line_at(body, *offset), message.clone());
            }
            for (offset, src) in &rendered.images {
                let line = body_line + line_at(body, *offset);
                match src.strip_prefix("/media/") {
                    Some(file) if media.contains(file) => {}
                    Some(file) => loader.problem(&shown, line, format!("missing image: content/media/{file} does not exist")),
                    None if src.starts_with("http://") || src.starts_with("https://") => {
                        loader.problem(&shown, line, format!("image {src:?} is remote: put it in content/media/ and use /media/<file>"))
                    }
                    None => loader.problem(&shown, line, format!("image {src:?} must be under /media/")),
                }
            }
            for (offset, target) in rendered.links {
                pending_links.push((shown.clone(), body_line + line_at(body, offset), target));
            }

            let quiz = load_quiz(&mut loader, &track_dir.join(format!("{stem}.quiz.toml")));
            track.lessons.push(lessons.len());
            lessons.push(Lesson {
                track: def.id.clone(),
                slug: slug.to_string(),
                meta,
                html: rendered.html,
                toc: rendered.toc,
                sections: rendered.sections,
                quiz,
                file: path.clone(),
                run_blocks: rendered.run_blocks,
            });
        }
        track.lessons.sort_by_key(|&i| lessons[i].meta.order);
        tracks.push(track);
    }

    // Internal links: the lesson must exist and so must the anchor.
    let anchors: HashMap<String, HashSet<&str>> = lessons
        .iter()
        .map(|l| {
            (
                l.key(),
                l.sections
                    .iter()
                    .filter_map(|s| s.anchor.as_deref())
                    .collect(),
            )
        })
        .collect();
    let mut link_problems = Vec::new();
    for (file, line, target) in &pending_links {
        let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
        let path = path.trim_end_matches('/');
        let Some(key) = path.strip_prefix("/lessons/") else {
            // Other site pages (/labs, /media/…) are not checked here.
            if let Some(file_name) = path.strip_prefix("/media/") {
                if !media.contains(file_name) {
                    link_problems.push(Problem {
                        file: file.clone(),
                        line: *line,
                        message: format!("broken link {target:?}: no such media file"),
                    });
                }
            }
            continue;
        };
        match anchors.get(key) {
            None => link_problems.push(Problem {
                file: file.clone(),
                line: *line,
                message: format!("broken link {target:?}: no lesson {key:?}"),
            }),
            Some(ids) if !anchor.is_empty() && !ids.contains(anchor) => {
                link_problems.push(Problem {
                    file: file.clone(),
                    line: *line,
                    message: format!(
                    "broken link {target:?}: lesson {key:?} has no heading with anchor #{anchor}"
                ),
                })
            }
            Some(_) => {}
        }
    }
    loader.problems.extend(link_problems);
    loader
        .problems
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));

    if loader.problems.is_empty() {
        Ok(Catalog::new(
            tracks,
            lessons,
            labs,
            exercise_defs,
            image_list,
        ))
    } else {
        Err(loader.problems)
    }
}

fn load_quiz(loader: &mut Loader, path: &Path) -> Vec<Question> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    let shown = loader.rel(path);
    let quiz: QuizFile = match toml::from_str(&text) {
        Ok(q) => q,
        Err(e) => {
            loader.problems.push(toml_problem(&shown, &text, &e, 0));
            return Vec::new();
        }
    };
    let mut ids = HashSet::new();
    for q in &quiz.questions {
        let line = text
            .find(&format!("\"{}\"", q.id))
            .map(|o| line_at(&text, o))
            .unwrap_or(1);
        if !ids.insert(q.id.clone()) {
            loader.problem(&shown, line, format!("duplicate question id {:?}", q.id));
        }
        if q.id.is_empty()
            || !q
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            loader.problem(
                &shown,
                line,
                format!(
                    "question id {:?} must be lowercase words joined by '-'",
                    q.id
                ),
            );
        }
        if !(2..=6).contains(&q.choices.len()) {
            loader.problem(
                &shown,
                line,
                format!(
                    "question {:?} needs 2 to 6 choices, has {}",
                    q.id,
                    q.choices.len()
                ),
            );
        }
        let correct = q.choices.iter().filter(|c| c.correct).count();
        if correct == 0 {
            loader.problem(
                &shown,
                line,
                format!("question {:?} has no correct answer", q.id),
            );
        }
        if q.kind == QuizKind::Single && correct > 1 {
            loader.problem(
                &shown,
                line,
                format!(
                    "question {:?} is \"single\" but marks {correct} answers correct",
                    q.id
                ),
            );
        }
        if q.prompt.trim().is_empty() || q.explanation.trim().is_empty() {
            loader.problem(
                &shown,
                line,
                format!("question {:?} needs a prompt and an explanation", q.id),
            );
        }
    }
    quiz.questions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_is_split_with_the_body_line() {
        let (front, body, line) = split_front_matter("+++\ntitle = \"x\"\n+++\n\nBody\n").unwrap();
        assert_eq!(front, "title = \"x\"\n");
        assert_eq!(body, "\nBody\n");
        assert_eq!(line, 3);
        assert!(split_front_matter("no front matter").is_none());
    }
}
