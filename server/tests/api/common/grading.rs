//! Helpers for grading stories: synthetic exercises that hold every check
//! of an area, a table of submissions with the checks each must pass and
//! fail, and a look at the engine for anything the grader left behind.

use drydock::{
    content::model::{CheckDef, Exercise, ExerciseFileDef},
    error::Error,
};
use drydock_app::api_exercises::{GradeReport, Submission};
use drydock_grader::checks::catalog::{CheckArea, CheckId};

use super::TestApp;

/// A value the secret checks are told about; it must never be accepted.
pub const SECRET: &str = "s3cr3t-FAKE-value-123";

/// Catalog ids of one area, in catalog order.
pub fn ids_of(area: CheckArea) -> Vec<&'static str> {
    CheckId::all()
        .filter(|c| c.area() == area)
        .map(CheckId::id)
        .collect()
}

/// An exercise built in the test: `header` is the TOML of an exercise file
/// without checks; `checks` are (id, params as TOML).
pub fn exercise(
    id: &str,
    header: &str,
    checks: &[(&str, &str)],
    image_tag: Option<&str>,
) -> Exercise {
    let mut def: ExerciseFileDef =
        toml::from_str(&format!("{header}\nchecks = []\n")).expect("exercise header parses");
    def.checks = checks
        .iter()
        .map(|(check, params)| CheckDef {
            id: check.parse().expect("a catalog id"),
            points: 1,
            hint: format!("hint for {check}"),
            feedback: None,
            params: toml::from_str(params).expect("check params parse"),
        })
        .collect();
    Exercise {
        id: id.to_string(),
        def,
        instructions_html: "<p>test</p>".into(),
        image_tag: image_tag.map(str::to_string),
        base_tags: vec!["drydock/busybox:1".into(), "drydock/webapp:1".into()],
        lessons: Vec::new(),
        rubric: "test-rubric".into(),
    }
}

/// Parameters an author would give each check that takes some.
fn params_for(id: &str) -> &'static str {
    match id {
        "RUN-CAP-DROP-ALL" => "allowed = []",
        "RUN-READONLY-ROOTFS" => r#"app_paths = ["/srv/www"]"#,
        "RUN-TMPFS-SAFE" => {
            r#"paths = ["/tmp"]
max_size_mb = 64"#
        }
        "RUN-MEMORY" => "max_mb = 256",
        "RUN-CPU" => "max_cpus_milli = 1000",
        "RUN-PIDS" => "max = 200",
        "RUN-ULIMITS" => "max_nofile = 65536",
        "RUN-RESTART" => "max_retries = 10",
        "RUN-NO-ENV-SECRETS" | "IMG-NO-SECRET-ENVARG" | "IMG-NO-SECRET-FILES" => {
            r#"secrets = ["s3cr3t-FAKE-value-123"]"#
        }
        _ => "",
    }
}

/// A run exercise on `drydock/webapp:1` grading every `RUN-*` check.
pub fn every_run_check() -> Exercise {
    let checks: Vec<(&str, &str)> = ids_of(CheckArea::Run)
        .into_iter()
        .map(|id| (id, params_for(id)))
        .collect();
    exercise(
        "every-run-check",
        r#"title = "Every runtime check"
summary = "All RUN checks at once."
kind = "run"
instructions = "Harden the command."
image = "webapp""#,
        &checks,
        Some("drydock/webapp:1"),
    )
}

/// A Dockerfile exercise grading every `IMG-*` check.
pub fn every_image_check() -> Exercise {
    let checks: Vec<(&str, &str)> = ids_of(CheckArea::Image)
        .into_iter()
        .map(|id| (id, params_for(id)))
        .collect();
    exercise(
        "every-image-check",
        r#"title = "Every image check"
summary = "All IMG checks at once."
kind = "dockerfile"
instructions = "Harden the Dockerfile.""#,
        &checks,
        None,
    )
}

/// One submission and what it must earn.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub submission: Submission,
    /// Checks that must pass.
    pub pass: Vec<String>,
    /// Checks that must fail.
    pub fail: Vec<String>,
    /// Text the report's notes must contain.
    pub notes: Vec<&'static str>,
    /// (check, text) the check's message or evidence must contain.
    pub says: Vec<(&'static str, &'static str)>,
}

impl Case {
    pub fn run(name: &'static str, command: impl Into<String>) -> Self {
        Self::of(
            name,
            Submission::Run {
                command: command.into(),
            },
        )
    }

    pub fn compose(name: &'static str, service: &str) -> Self {
        Self::of(
            name,
            Submission::Compose {
                service: service.into(),
            },
        )
    }

    pub fn dockerfile(name: &'static str, dockerfile: &str, files: &[(&str, &str)]) -> Self {
        Self::of(
            name,
            Submission::Dockerfile {
                dockerfile: dockerfile.into(),
                files: files
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
        )
    }

    fn of(name: &'static str, submission: Submission) -> Self {
        Self {
            name,
            submission,
            pass: Vec::new(),
            fail: Vec::new(),
            notes: Vec::new(),
            says: Vec::new(),
        }
    }

    pub fn passes(mut self, ids: &[&str]) -> Self {
        self.pass.extend(ids.iter().map(|s| s.to_string()));
        self
    }

    pub fn fails(mut self, ids: &[&str]) -> Self {
        self.fail.extend(ids.iter().map(|s| s.to_string()));
        self
    }

    pub fn notes(mut self, texts: &[&'static str]) -> Self {
        self.notes.extend(texts);
        self
    }

    /// The outcome of `check` must mention `text` (what was found, or where).
    pub fn says(mut self, check: &'static str, text: &'static str) -> Self {
        self.says.push((check, text));
        self
    }

    /// What is wrong with `report` for this case; empty when it is right.
    pub fn mismatches(&self, report: &GradeReport) -> Vec<String> {
        let mut wrong = Vec::new();
        for (ids, want) in [(&self.pass, true), (&self.fail, false)] {
            for id in ids {
                match report.checks.iter().find(|c| &c.id == id) {
                    None => wrong.push(format!("{id} is not in the report")),
                    Some(c) if c.passed != want => wrong.push(format!(
                        "{id} {} but should {}",
                        if c.passed { "passed" } else { "failed" },
                        if want { "pass" } else { "fail" }
                    )),
                    Some(_) => {}
                }
            }
        }
        for (id, text) in &self.says {
            if let Some(c) = report.checks.iter().find(|c| c.id == *id) {
                if !c.message.contains(text) && !c.evidence.contains(text) {
                    wrong.push(format!("{id} does not mention {text:?}"));
                }
            }
        }
        for text in &self.notes {
            if !report.notes.iter().any(|n| n.contains(text)) {
                wrong.push(format!("no note says {text:?}"));
            }
        }
        wrong
    }
}

/// A report as a reader wants it on failure: each check, then the notes.
pub fn describe(report: &GradeReport) -> String {
    let mut out = format!("score {} / {}\n", report.score, report.max);
    for c in &report.checks {
        out.push_str(&format!(
            "  {} {:<24} {}\n      evidence: {}\n",
            if c.passed { "PASS" } else { "FAIL" },
            c.id,
            c.message,
            c.evidence.replace('\n', "\n                ")
        ));
    }
    for n in &report.notes {
        out.push_str(&format!("  note: {n}\n"));
    }
    out
}

/// Grades every case in turn; returns one paragraph per case that came out wrong.
pub async fn grade_cases(app: &TestApp, exercise: &Exercise, cases: &[Case]) -> Vec<String> {
    let mut problems = Vec::new();
    for case in cases {
        let started = std::time::Instant::now();
        let outcome = app
            .state
            .grading
            .grade(exercise, &case.submission, None)
            .await;
        eprintln!("graded {:<48} in {:?}", case.name, started.elapsed());
        match outcome {
            Ok(report) => {
                let wrong = case.mismatches(&report);
                if !wrong.is_empty() {
                    problems.push(format!(
                        "case {:?}:\n  - {}\n{}",
                        case.name,
                        wrong.join("\n  - "),
                        describe(&report)
                    ));
                }
            }
            Err(err) => problems.push(format!("case {:?}: grading failed: {err:?}", case.name)),
        }
    }
    problems
}

/// The message of a `BadRequest`, or a panic naming what came back instead.
pub fn bad_request(outcome: Result<GradeReport, Error>) -> String {
    match outcome {
        Err(Error::BadRequest(message)) => message,
        Err(other) => panic!("expected a bad request, got {other:?}"),
        Ok(report) => panic!(
            "expected a bad request, got a report:\n{}",
            describe(&report)
        ),
    }
}

/// Runs the docker CLI; returns its standard output, trimmed.
pub fn docker(args: &[&str]) -> String {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn docker_ids(args: &[&str]) -> Vec<String> {
    docker(args)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Containers, volumes and images the grader of `app` created and did not remove.
pub fn grading_leftovers(app: &TestApp) -> Vec<String> {
    let instance = format!("label=drydock.instance={}", app.state.config.labs.instance);
    let grading = "label=drydock.grading";
    let mut left = Vec::new();
    for (what, args) in [
        (
            "container",
            vec!["ps", "-aq", "--filter", grading, "--filter", &instance],
        ),
        (
            "volume",
            vec![
                "volume", "ls", "-q", "--filter", grading, "--filter", &instance,
            ],
        ),
        (
            "image",
            vec!["images", "-aq", "--filter", grading, "--filter", &instance],
        ),
    ] {
        left.extend(
            docker_ids(&args)
                .into_iter()
                .map(|id| format!("{what} {id}")),
        );
    }
    left
}

/// Ids of containers whose command line contains `marker` (running or not).
pub fn containers_running(marker: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"])
        .output()
        .expect("docker CLI runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(marker))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

/// Check `id` of a stored attempt (`{"report": {"checks": […]}}`).
pub fn check<'a>(view: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    view["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {view}"))
}
