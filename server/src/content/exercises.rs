//! Exercise definitions (`content/exercises/<id>.toml`): parsed and
//! validated against the check catalog with the rest of the content.

use std::{collections::BTreeMap, path::Path};

use sha2::{Digest, Sha256};

use super::{
    loader::Loader,
    model::{Exercise, ExerciseFileDef, ExerciseKind},
    render::render,
};
use drydock_grader::{checks::catalog, input::build::valid_context_name};

use crate::docker::images::LabImage;

/// Most checks one exercise may have.
const MAX_CHECKS: usize = 60;
/// Largest total size of starter files, in bytes.
const MAX_STARTER_BYTES: usize = 64 * 1024;

/// Reads every `content/exercises/*.toml`; problems go to the loader.
pub(super) fn load_exercises(
    loader: &mut Loader,
    dir: &Path,
    lab_images: &[LabImage],
    lab_ids: &[String],
    docker_labs: &BTreeMap<String, bool>,
) -> BTreeMap<String, Exercise> {
    let mut exercises = BTreeMap::new();
    let images: BTreeMap<String, String> = lab_images
        .iter()
        .map(|i| (i.name.clone(), i.tag.clone()))
        .collect();
    for found in loader.definitions::<ExerciseFileDef>(dir, "exercises", "exercise") {
        let (id, shown, text, def) = (found.id.as_str(), found.shown, found.text, found.def);
        let line = |needle: &str| -> usize {
            text.lines()
                .position(|l| l.trim_start().starts_with(needle))
                .map(|i| i + 1)
                .unwrap_or(1)
        };
        let before = loader.problems.len();
        let mut problem =
            |needle: &str, message: String| loader.problem(&shown, line(needle), message);
        for (key, value) in [
            ("title", &def.title),
            ("summary", &def.summary),
            ("instructions", &def.instructions),
        ] {
            if value.trim().is_empty() {
                problem(key, format!("{key} must not be empty"));
            }
        }
        let rendered = render(&def.instructions);
        for (_, message) in &rendered.problems {
            problem("instructions", format!("instructions: {message}"));
        }
        let areas = def.kind.check_areas();
        if def.checks.is_empty() {
            problem(
                "kind",
                "an exercise needs at least one [[checks]] entry".into(),
            );
        }
        if def.checks.len() > MAX_CHECKS {
            problem("[[checks]]", format!("at most {MAX_CHECKS} checks"));
        }
        let mut seen = Vec::new();
        for check in &def.checks {
            let at = format!("id = \"{}\"", check.id);
            if !areas.contains(&check.id.area()) {
                problem(
                    &at,
                    format!(
                        "check {} does not fit a {} exercise",
                        check.id,
                        def.kind.as_str()
                    ),
                );
            }
            if seen.contains(&check.id) {
                problem(&at, format!("check {} is listed twice", check.id));
            }
            seen.push(check.id);
            if !(1..=100).contains(&check.points) {
                problem(
                    &at,
                    format!("{}: points must be between 1 and 100", check.id),
                );
            }
            if check.hint.trim().is_empty() {
                problem(&at, format!("{}: a hint is required", check.id));
            }
            if let Err(message) = catalog::validate_params(check.id, &check.params) {
                problem(&at, message);
            }
        }
        let max: u32 = def.checks.iter().map(|c| c.points).sum();
        if def.pass_points.is_some_and(|p| p == 0 || p > max) {
            problem(
                "pass_points",
                format!("pass_points must be between 1 and the total, {max}"),
            );
        }
        let mut image_tag = None;
        let mut base_tags = Vec::new();
        match def.kind {
            ExerciseKind::Run | ExerciseKind::Compose | ExerciseKind::LabContainers => match &def.image {
                Some(image) => match images.get(image) {
                    Some(tag) => image_tag = Some(tag.clone()),
                    None => problem(
                        "image",
                        format!("unknown image {image:?}: no content/images/{image}/ folder"),
                    ),
                },
                None => problem(
                    "kind",
                    "a run, compose or lab-containers exercise needs `image`: the folder under content/images/ it runs".into(),
                ),
            },
            ExerciseKind::Dockerfile => {
                if def.bases.is_empty() {
                    base_tags = images.values().cloned().collect();
                }
                for base in &def.bases {
                    match images.get(base) {
                        Some(tag) => base_tags.push(tag.clone()),
                        None => problem(
                            "bases",
                            format!("unknown image {base:?}: no content/images/{base}/ folder"),
                        ),
                    }
                }
                if !(5..=300).contains(&def.build_timeout_secs) {
                    problem(
                        "build_timeout_secs",
                        "build_timeout_secs must be between 5 and 300".into(),
                    );
                }
            }
            ExerciseKind::Lab => {
                if def.lab.is_none() {
                    problem("kind", "a lab exercise needs `lab`: the lab it checks".into());
                }
            }
            ExerciseKind::Flag => {
                if def.answer.as_deref().is_none_or(|a| a.trim().is_empty()) {
                    problem("kind", "a flag exercise needs `answer`".into());
                }
            }
        }
        if def.kind == ExerciseKind::LabContainers {
            match def.lab.as_ref().and_then(|lab| docker_labs.get(lab)) {
                None if def.lab.is_none() => problem("kind", "a lab-containers exercise needs `lab`: the Docker lab the learner works in".into()),
                Some(false) => problem("lab", "a lab-containers exercise needs a lab with docker = true: the learner starts the containers with the docker CLI".into()),
                _ => {}
            }
            match &def.container {
                Some(name) if crate::docker::proxy::valid_object_name(name) => {}
                Some(name) => problem("container", format!("{name:?} is not a container name")),
                None => problem("kind", "a lab-containers exercise needs `container`: the name the learner gives the container it grades".into()),
            }
        }
        if let Some(lab) = &def.lab {
            if !lab_ids.contains(lab) {
                problem(
                    "lab",
                    format!("unknown lab {lab:?}: no content/labs/{lab}.toml"),
                );
            }
        }
        let mut starter_bytes = 0;
        for (name, content) in &def.files {
            starter_bytes += content.len();
            if !valid_context_name(name) {
                problem(
                    "[files]",
                    format!("file name {name:?} must be a relative path without '..'"),
                );
            }
        }
        if starter_bytes > MAX_STARTER_BYTES {
            problem("[files]", "starter files are larger than 64 KiB".into());
        }
        if loader.problems.len() == before {
            let rubric = rubric_of(&def);
            exercises.insert(
                id.to_string(),
                Exercise {
                    id: id.to_string(),
                    instructions_html: rendered.html,
                    def,
                    image_tag,
                    base_tags,
                    lessons: Vec::new(),
                    rubric,
                },
            );
        }
    }
    exercises
}

/// Fingerprint of everything that decides a grade.
fn rubric_of(def: &ExerciseFileDef) -> String {
    let decisive = serde_json::json!({
        "kind": def.kind,
        "image": def.image,
        "container": def.container,
        "bases": def.bases,
        "answer": def.answer,
        "pass_points": def.pass_points,
        "checks": def.checks,
    });
    let digest = Sha256::digest(decisive.to_string().as_bytes());
    hex::encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_names_stay_inside_the_context() {
        assert!(valid_context_name("app/main.sh"));
        assert!(valid_context_name(".env"));
        assert!(!valid_context_name("../etc/passwd"));
        assert!(!valid_context_name("/etc/passwd"));
        assert!(!valid_context_name("a//b"));
        assert!(!valid_context_name(""));
    }
}
