//! `LIVE-*` checks: a learner's own container in a Docker lab, judged by
//! what the engine reports (mounts, creation time) and by what the
//! container answers to commands the grader runs in it.

use bollard_stubs::models::MountPoint;

use super::catalog::{LiveCheck, Params};
use crate::Verdict;

/// What the server read for one check.
#[derive(Debug, Clone, Default)]
pub struct LiveEvidence {
    /// The container's mounts, as inspect reports them (names stripped of
    /// the session's namespace).
    pub mounts: Vec<MountPoint>,
    /// When the engine created the container, seconds since the epoch.
    pub created: Option<i64>,
    /// `stat -c %Y <path>` in the container: the path's modification time.
    pub path_mtime: Option<i64>,
    /// Exit code and output of the check's command.
    pub answer: Option<(Option<i64>, String)>,
    /// Why the grader could not look (the container stopped, …).
    pub unreachable: Option<String>,
}

/// Whether a volume name is one Docker made up (an anonymous volume).
fn anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Grades one live check.
pub fn evaluate(check: LiveCheck, ev: &LiveEvidence, params: Params<'_>) -> Verdict {
    let path = params.str("path").unwrap_or_default();
    match check {
        LiveCheck::NamedVolume => named_volume(ev, path),
        LiveCheck::DataOutlives => data_outlives(ev, path),
        LiveCheck::Answers => answers(ev, params),
    }
}

fn named_volume(ev: &LiveEvidence, path: &str) -> Verdict {
    let mount = ev
        .mounts
        .iter()
        .find(|m| m.destination.as_deref() == Some(path));
    let evidence = match mount {
        Some(m) => format!(
            "Mounts: {path} ← {} {:?}",
            m.typ.clone().unwrap_or_default(),
            m.name.clone().unwrap_or_default()
        ),
        None => format!("Mounts: nothing at {path}"),
    };
    match mount {
        None => Verdict::fail(
            format!("Nothing is mounted at {path}, so the data lives in the container's writable layer and goes with docker rm. Mount a named volume: -v NAME:{path}."),
            evidence,
        ),
        Some(m) if m.typ.as_deref() != Some("volume") => Verdict::fail(
            format!("{path} is a {} mount, not a volume; use -v NAME:{path}.", m.typ.clone().unwrap_or_default()),
            evidence,
        ),
        Some(m) if m.name.as_deref().is_none_or(anonymous) => Verdict::fail(
            format!("{path} is an anonymous volume (the image's VOLUME): Docker named it with random hex, and a new container gets a new one. Give it a name: -v NAME:{path}."),
            evidence,
        ),
        Some(m) => Verdict::pass(
            format!("{path} is the named volume {}.", m.name.clone().unwrap_or_default()),
            evidence,
        ),
    }
}

fn data_outlives(ev: &LiveEvidence, path: &str) -> Verdict {
    let evidence = format!(
        "container created at {:?} (epoch s); {path} modified at {:?}{}",
        ev.created,
        ev.path_mtime,
        ev.unreachable
            .as_ref()
            .map(|u| format!("; {u}"))
            .unwrap_or_default()
    );
    match (ev.created, ev.path_mtime) {
        (_, None) => Verdict::fail(
            format!("{path} could not be read in the container{}.", ev.unreachable.as_ref().map(|u| format!(" ({u})")).unwrap_or_default()),
            evidence,
        ),
        (Some(created), Some(mtime)) if mtime < created => Verdict::pass(
            format!("{path} is older than this container: the data came from an earlier one and survived docker rm."),
            evidence,
        ),
        _ => Verdict::fail(
            format!("{path} was written by this container, so nothing shows the data survives a new one. Remove the container (docker rm -f), start a new one on the same volume, and check again."),
            evidence,
        ),
    }
}

fn answers(ev: &LiveEvidence, params: Params<'_>) -> Verdict {
    let command = params.list("command").unwrap_or_default().join(" ");
    let expect = params.str("expect").unwrap_or_default();
    let Some((code, output)) = &ev.answer else {
        return Verdict::fail(
            format!(
                "The grader could not run `{command}` in your container{}.",
                ev.unreachable
                    .as_ref()
                    .map(|u| format!(" ({u})"))
                    .unwrap_or_default()
            ),
            format!("{command}: not run"),
        );
    };
    let shown: String = output.trim().chars().take(600).collect();
    let evidence = format!("{command} → exit {code:?}: {shown}");
    if *code == Some(0) && output.contains(expect) {
        Verdict::pass(format!("`{command}` answers {expect:?}."), evidence)
    } else if *code == Some(0) {
        Verdict::fail(
            format!("`{command}` runs, but its answer does not contain {expect:?} yet."),
            evidence,
        )
    } else {
        Verdict::fail(
            format!(
                "`{command}` failed in your container (exit {}): {shown}",
                code.map_or("?".into(), |c| c.to_string())
            ),
            evidence,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    fn volume(name: &str, at: &str) -> MountPoint {
        MountPoint {
            typ: Some("volume".into()),
            name: Some(name.into()),
            destination: Some(at.into()),
            ..Default::default()
        }
    }

    #[test]
    fn only_a_named_volume_at_the_path_counts() {
        let p = params("path = \"/data\"");
        let mut ev = LiveEvidence::default();
        assert!(!evaluate(LiveCheck::NamedVolume, &ev, Params(&p)).passed);
        ev.mounts = vec![volume(&"a".repeat(64), "/data")];
        let v = evaluate(LiveCheck::NamedVolume, &ev, Params(&p));
        assert!(!v.passed && v.message.contains("anonymous"), "{v:?}");
        ev.mounts = vec![volume("pgdata", "/data")];
        assert!(evaluate(LiveCheck::NamedVolume, &ev, Params(&p)).passed);
        // Short hex, or 64 characters that are not all hex: names a learner gave.
        for name in ["beef", &format!("{}z", "a".repeat(63))] {
            ev.mounts = vec![volume(name, "/data")];
            let v = evaluate(LiveCheck::NamedVolume, &ev, Params(&p));
            assert!(v.passed, "{name}: {v:?}");
        }
        // A bind mount is named for what it is.
        ev.mounts = vec![MountPoint {
            typ: Some("bind".into()),
            destination: Some("/data".into()),
            ..Default::default()
        }];
        let v = evaluate(LiveCheck::NamedVolume, &ev, Params(&p));
        assert!(!v.passed && v.message.contains("bind mount"), "{v:?}");
    }

    #[test]
    fn data_must_be_older_than_the_container() {
        let p = params("path = \"/data/PG_VERSION\"");
        let mut ev = LiveEvidence {
            created: Some(1_000),
            path_mtime: Some(1_000),
            ..Default::default()
        };
        assert!(!evaluate(LiveCheck::DataOutlives, &ev, Params(&p)).passed);
        ev.path_mtime = Some(900);
        assert!(evaluate(LiveCheck::DataOutlives, &ev, Params(&p)).passed);
        ev.path_mtime = None;
        ev.unreachable = Some("the container stopped".into());
        let v = evaluate(LiveCheck::DataOutlives, &ev, Params(&p));
        assert!(
            !v.passed && v.message.contains("could not be read") && v.message.contains("stopped"),
            "{v:?}"
        );
    }

    #[test]
    fn answers_need_success_and_the_expected_text() {
        let p = params("command = [\"psql\", \"-c\", \"select 1\"]\nexpect = \"first order\"");
        let mut ev = LiveEvidence {
            answer: Some((Some(0), "first order\n".into())),
            ..Default::default()
        };
        assert!(evaluate(LiveCheck::Answers, &ev, Params(&p)).passed);
        ev.answer = Some((Some(0), "(0 rows)".into()));
        let v = evaluate(LiveCheck::Answers, &ev, Params(&p));
        assert!(!v.passed && v.message.contains("runs, but"), "{v:?}");
        ev.answer = Some((Some(2), "first order: relation does not exist".into()));
        let v = evaluate(LiveCheck::Answers, &ev, Params(&p));
        assert!(
            !v.passed && v.message.contains("failed") && v.message.contains("exit 2"),
            "{v:?}"
        );
    }
}
