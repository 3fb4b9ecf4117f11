//! The image checks (`IMG-*`): the Dockerfile read statically, and the
//! image it built — config, history and the files of every layer.

use crate::{
    checks::{
        catalog::{ImageCheck, Params},
        lint::{self, Finding},
        run::resolve_user,
        secrets,
    },
    input::dockerfile::Dockerfile,
    layers::SavedImage,
    Verdict,
};

/// Everything known about one Dockerfile submission.
#[derive(Debug, Clone)]
pub struct ImageEvidence {
    pub dockerfile: Dockerfile,
    /// The built image; `None` when the build failed.
    pub image: Option<SavedImage>,
    /// Why the build failed.
    pub build_error: Option<String>,
    /// Health status after running the image, when a check asked for it.
    pub health: Option<String>,
}

fn verdict(f: Finding) -> Verdict {
    Verdict {
        passed: f.passed,
        message: f.message,
        evidence: f.evidence,
    }
}

/// A static finding that the built image must confirm: the first failure
/// wins, and without a built image the static part can only fail — a
/// Dockerfile that did not build proves nothing about the image it names.
fn both(static_part: Finding, image_part: Option<Verdict>, not_built: Verdict) -> Verdict {
    if !static_part.passed {
        return verdict(static_part);
    }
    match image_part {
        Some(v) if !v.passed => v,
        Some(v) => Verdict {
            passed: true,
            message: static_part.message,
            evidence: format!("{}; {}", static_part.evidence, v.evidence),
        },
        None => not_built,
    }
}

/// Grades one image check.
pub fn evaluate(check: ImageCheck, ev: &ImageEvidence, params: Params<'_>) -> Verdict {
    let df = &ev.dockerfile;
    let img = ev.image.as_ref();
    match check {
        ImageCheck::BaseTag => base_tag(ev, df, img, params),
        ImageCheck::BaseDigest => base_digest(ev, df, img, params),
        ImageCheck::UpdateWithInstall => update_with_install(ev, df, img, params),
        ImageCheck::PkgPinned => pkg_pinned(ev, df, img, params),
        ImageCheck::Minimal => minimal(ev, df, img, params),
        ImageCheck::VerifiedPkgs => verified_pkgs(ev, df, img, params),
        ImageCheck::NoPipeToShell => no_pipe_to_shell(ev, df, img, params),
        ImageCheck::BuildSecretMount => build_secret_mount(ev, df, img, params),
        ImageCheck::CopyNotAdd => copy_not_add(ev, df, img, params),
        ImageCheck::NonrootUser => nonroot_user(ev, df, img, params),
        ImageCheck::UniqueUid => unique_uid(ev, df, img, params),
        ImageCheck::NoEmptyPw => no_empty_pw(ev, df, img, params),
        ImageCheck::NoSetuid => no_setuid(ev, df, img, params),
        ImageCheck::NoSudo => no_sudo(ev, df, img, params),
        ImageCheck::Healthcheck => healthcheck(ev, df, img, params),
        ImageCheck::NoSecretEnvarg => no_secret_envarg(ev, df, img, params),
        ImageCheck::NoSecretFiles => no_secret_files(ev, df, img, params),
        ImageCheck::NoJunkFiles => no_junk_files(ev, df, img, params),
        ImageCheck::NoSsh => no_ssh(ev, df, img, params),
        ImageCheck::NoSysVolume => no_sys_volume(ev, df, img, params),
    }
}

/// The verdict of a check that needs the built image when there is none.
fn not_built(ev: &ImageEvidence) -> Verdict {
    Verdict::fail(
        format!(
            "Not graded: the image did not build ({}). Fix the build and submit again.",
            ev.build_error.as_deref().unwrap_or("unknown error")
        ),
        "",
    )
}

/// `IMG-BASE-TAG`.
fn base_tag(
    _ev: &ImageEvidence,
    df: &Dockerfile,
    _img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    verdict(lint::base_tagged(df))
}

/// `IMG-BASE-DIGEST`.
fn base_digest(
    _ev: &ImageEvidence,
    df: &Dockerfile,
    _img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    verdict(lint::base_digest(df))
}

/// `IMG-UPDATE-WITH-INSTALL`.
fn update_with_install(
    _ev: &ImageEvidence,
    df: &Dockerfile,
    _img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    verdict(lint::update_with_install(df))
}

/// `IMG-PKG-PINNED`.
fn pkg_pinned(
    _ev: &ImageEvidence,
    df: &Dockerfile,
    _img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    verdict(lint::packages_pinned(df))
}

/// `IMG-MINIMAL`.
fn minimal(
    _ev: &ImageEvidence,
    df: &Dockerfile,
    _img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    verdict(lint::minimal_install(df))
}

/// `IMG-VERIFIED-PKGS`.
fn verified_pkgs(
    _ev: &ImageEvidence,
    df: &Dockerfile,
    _img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    verdict(lint::verified_packages(df))
}

/// `IMG-NO-PIPE-TO-SHELL`.
fn no_pipe_to_shell(
    _ev: &ImageEvidence,
    df: &Dockerfile,
    _img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    verdict(lint::no_pipe_to_shell(df))
}

/// `IMG-BUILD-SECRET-MOUNT`.
fn build_secret_mount(
    _ev: &ImageEvidence,
    df: &Dockerfile,
    _img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    verdict(lint::secrets_via_mount(df))
}

/// `IMG-COPY-NOT-ADD`.
fn copy_not_add(
    ev: &ImageEvidence,
    df: &Dockerfile,
    img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    both(
        lint::copy_not_add(df),
        img.map(|img| {
            let adds: Vec<String> = img
                .history
                .iter()
                .filter(|h| {
                    h.created_by.contains("#(nop) ADD ") || h.created_by.starts_with("ADD ")
                })
                .map(|h| h.created_by.chars().take(120).collect())
                .collect();
            if adds.is_empty() {
                Verdict::pass("", "history has no ADD")
            } else {
                Verdict::fail(
                    "The image history shows ADD; use COPY.",
                    format!("history: {adds:?}"),
                )
            }
        }),
        not_built(ev),
    )
}

/// `IMG-NONROOT-USER`.
fn nonroot_user(
    ev: &ImageEvidence,
    df: &Dockerfile,
    img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    let Some(img) = img else {
        // The static reading can fail the check, never pass it.
        let static_part = lint::static_user(df);
        return if static_part.passed {
            not_built(ev)
        } else {
            verdict(static_part)
        };
    };
    let user = img.config_str("User");
    let passwd = img.text("etc/passwd");
    let resolved = resolve_user(&user, passwd.as_deref());
    let evidence = format!(
        "Config.User = {user:?}{}",
        match resolved {
            Some(uid) => format!(" → uid {uid} (through the image's /etc/passwd)"),
            None => " → not found in the image's /etc/passwd".into(),
        }
    );
    match resolved {
            Some(0) if user.is_empty() => Verdict::fail("The image runs as root: add `USER 1000:1000` (or a named non-root user) at the end of the final stage.", evidence),
            Some(0) => Verdict::fail(format!("`USER {user}` is root (uid 0). Use a non-root uid, e.g. `USER 1000:1000`."), evidence),
            Some(_) => Verdict::pass("The image runs as a non-root user.", evidence),
            None => Verdict::fail(format!("`USER {user}` does not exist in the image's /etc/passwd, so nothing proves it is not root. Use a numeric uid:gid or create the user."), evidence),
        }
}

/// `IMG-UNIQUE-UID`.
fn unique_uid(
    ev: &ImageEvidence,
    _df: &Dockerfile,
    img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    let Some(img) = img else { return not_built(ev) };
    let mut problems = Vec::new();
    for (file, what) in [("etc/passwd", "UID"), ("etc/group", "GID")] {
        let text = img.text(file).unwrap_or_default();
        let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 2 {
                seen.entry(fields[2].to_string())
                    .or_default()
                    .push(fields[0].to_string());
            }
        }
        for (id, names) in seen.iter().filter(|(_, n)| n.len() > 1) {
            problems.push(format!("{what} {id} is shared by {}", names.join(", ")));
        }
    }
    if problems.is_empty() {
        Verdict::pass(
            "Every UID and GID is unique.",
            "/etc/passwd and /etc/group have no duplicates",
        )
    } else {
        Verdict::fail(
            format!(
                "{}: give each account its own id (a second UID 0 account is a hidden root).",
                problems.join("; ")
            ),
            problems.join("; "),
        )
    }
}

/// `IMG-NO-EMPTY-PW`.
fn no_empty_pw(
    ev: &ImageEvidence,
    _df: &Dockerfile,
    img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    let Some(img) = img else { return not_built(ev) };
    let mut empty = Vec::new();
    for (file, field) in [("etc/shadow", 1), ("etc/passwd", 1)] {
        for line in img.text(file).unwrap_or_default().lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > field && fields[field].is_empty() && !fields[0].is_empty() {
                empty.push(format!("{} in /{file}", fields[0]));
            }
        }
    }
    if empty.is_empty() {
        Verdict::pass(
            "No account has an empty password.",
            "checked /etc/shadow and /etc/passwd",
        )
    } else {
        Verdict::fail(format!("{} can log in without a password: lock it (`passwd -l NAME`) or put `x`/`!` in the password field.", empty.join(", ")), empty.join(", "))
    }
}

/// `IMG-NO-SETUID`.
fn no_setuid(
    ev: &ImageEvidence,
    _df: &Dockerfile,
    img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    let Some(img) = img else { return not_built(ev) };
    let found: Vec<String> = img
        .files
        .iter()
        .filter(|(_, f)| !f.is_dir && f.mode & 0o6000 != 0)
        .map(|(p, f)| {
            format!(
                "/{p} ({:04o}, from {})",
                f.mode & 0o7777,
                img.instruction(f.layer)
            )
        })
        .collect();
    if found.is_empty() {
        Verdict::pass(
            "No setuid or setgid files in the final image.",
            "mode bits of every file in the final filesystem",
        )
    } else {
        Verdict::fail(
                format!("{} file(s) keep setuid/setgid bits: {}. Remove them with `chmod a-s` in the last RUN of the final stage, after every COPY.", found.len(), found.iter().take(5).cloned().collect::<Vec<_>>().join(", ")),
                found.join("\n"),
            )
    }
}

/// `IMG-NO-SUDO`.
fn no_sudo(
    ev: &ImageEvidence,
    df: &Dockerfile,
    img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    both(
        lint::no_sudo(df),
        img.map(|img| {
            let found: Vec<String> = img
                .files
                .keys()
                .filter(|p| p.ends_with("/sudo") || p.as_str() == "sudo")
                .map(|p| format!("/{p}"))
                .collect();
            if found.is_empty() {
                Verdict::pass("", "no sudo binary in the image")
            } else {
                Verdict::fail(
                    format!("The image contains {}; remove sudo.", found.join(", ")),
                    found.join(", "),
                )
            }
        }),
        not_built(ev),
    )
}

/// `IMG-HEALTHCHECK`.
fn healthcheck(
    ev: &ImageEvidence,
    _df: &Dockerfile,
    img: Option<&SavedImage>,
    params: Params<'_>,
) -> Verdict {
    let Some(img) = img else { return not_built(ev) };
    let test: Vec<String> = img
        .config
        .get("Healthcheck")
        .and_then(|h| h.get("Test"))
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let evidence = format!(
        "Config.Healthcheck.Test = {test:?}{}",
        ev.health
            .as_ref()
            .map(|h| format!("; State.Health.Status = {h:?}"))
            .unwrap_or_default()
    );
    let trivial = crate::checks::run::trivial_health_check(&test);
    if test.is_empty() {
        Verdict::fail("There is no HEALTHCHECK. Add e.g. `HEALTHCHECK --interval=5s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1`.", evidence)
    } else if test[0] == "NONE" {
        Verdict::fail(
            "`HEALTHCHECK NONE` switches health checking off; write a real check.",
            evidence,
        )
    } else if trivial {
        Verdict::fail(
            "This health check can never fail; test that the service answers.",
            evidence,
        )
    } else if params.int("wait_healthy", 0) > 0 && ev.health.as_deref() != Some("healthy") {
        Verdict::fail(format!("Running the image, the health check reported {:?}, not healthy. Make the check pass when the service works, and keep --interval short.", ev.health.clone().unwrap_or_else(|| "nothing".into())), evidence)
    } else {
        Verdict::pass("The image has a real health check.", evidence)
    }
}

/// `IMG-NO-SECRET-ENVARG`.
fn no_secret_envarg(
    ev: &ImageEvidence,
    df: &Dockerfile,
    img: Option<&SavedImage>,
    params: Params<'_>,
) -> Verdict {
    let known = params.list("secrets").unwrap_or_default();
    let static_part = lint::no_secret_env_arg(df, &known);
    both(
            static_part,
            img.map(|img| {
                let mut found = Vec::new();
                for entry in img.config.get("Env").and_then(|e| e.as_array()).into_iter().flatten().filter_map(|v| v.as_str()) {
                    let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
                    if known.iter().any(|k| !k.is_empty() && value.contains(k.as_str())) || secrets::secret_value(value).is_some() || (!value.is_empty() && secrets::secret_name(name).is_some()) {
                        found.push(format!("Config.Env {name}"));
                    }
                }
                for h in &img.history {
                    if known.iter().any(|k| !k.is_empty() && h.created_by.contains(k.as_str())) {
                        found.push(format!("history: {}", h.created_by.chars().take(80).collect::<String>()));
                    }
                }
                if found.is_empty() {
                    Verdict::pass("", "Config.Env and history hold no secret")
                } else {
                    Verdict::fail(format!("The image keeps a secret in {}; anyone with the image reads it with docker inspect or docker history. Pass it at run time as a file, or at build time with RUN --mount=type=secret.", found.join(", ")), found.join("\n"))
                }
            }), not_built(ev))
}

/// `IMG-NO-SECRET-FILES`.
fn no_secret_files(
    ev: &ImageEvidence,
    _df: &Dockerfile,
    img: Option<&SavedImage>,
    params: Params<'_>,
) -> Verdict {
    let Some(img) = img else { return not_built(ev) };
    let known = params.list("secrets").unwrap_or_default();
    let mut found = Vec::new();
    for (index, layer) in img.layers.iter().enumerate() {
        for entry in &layer.entries {
            if entry.is_dir
                || entry
                    .path
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(".wh."))
            {
                continue;
            }
            let why = secrets::secret_file_name(&entry.path)
                .map(str::to_string)
                .or_else(|| {
                    let content = entry.content.as_deref()?;
                    if secrets::contains_private_key(content) {
                        return Some("holds a private key".into());
                    }
                    let text = String::from_utf8_lossy(content);
                    known
                        .iter()
                        .find(|k| !k.is_empty() && text.contains(k.as_str()))
                        .map(|_| "holds the secret value".to_string())
                });
            if let Some(why) = why {
                let still = img.files.contains_key(&entry.path);
                found.push(format!(
                    "/{} ({why}) in {}{}",
                    entry.path,
                    img.instruction(index),
                    if still {
                        ""
                    } else {
                        ", deleted later but still in that layer"
                    }
                ));
            }
        }
    }
    if found.is_empty() {
        Verdict::pass(
            "No keys or credentials in any layer.",
            format!("{} layers walked", img.layers.len()),
        )
    } else {
        Verdict::fail(
                format!("{}. A file removed by a later RUN stays in the layer that added it: don't COPY secrets into the build at all (use RUN --mount=type=secret, or mount them at run time), and keep them out with .dockerignore.", found.iter().take(3).cloned().collect::<Vec<_>>().join("; ")),
                found.join("\n"),
            )
    }
}

/// `IMG-NO-JUNK-FILES`.
fn no_junk_files(
    ev: &ImageEvidence,
    _df: &Dockerfile,
    img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    let Some(img) = img else { return not_built(ev) };
    let mut found = Vec::new();
    for (index, layer) in img.layers.iter().enumerate() {
        for entry in &layer.entries {
            let parts: Vec<&str> = entry.path.split('/').collect();
            let junk = parts
                .iter()
                .any(|p| *p == ".git" || *p == ".aws" || *p == ".svn" || *p == ".ssh")
                || parts.last().is_some_and(|n| {
                    matches!(
                        *n,
                        "docker-compose.yml"
                            | "docker-compose.yaml"
                            | "compose.yml"
                            | "compose.yaml"
                    )
                });
            if junk && !parts.last().is_some_and(|n| n.starts_with(".wh.")) {
                found.push(format!("/{} in {}", entry.path, img.instruction(index)));
            }
        }
    }
    if found.is_empty() {
        Verdict::pass(
            "No repository, cloud-credential or compose files in the image.",
            "every layer walked",
        )
    } else {
        Verdict::fail(format!("The image carries {}: copy only what the program needs (COPY specific paths, or add a .dockerignore).", found.iter().take(3).cloned().collect::<Vec<_>>().join(", ")), found.join("\n"))
    }
}

/// `IMG-NO-SSH`.
fn no_ssh(
    ev: &ImageEvidence,
    df: &Dockerfile,
    img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    both(
        lint::no_ssh(df),
        img.map(|img| {
            let ports: Vec<String> = img
                .config
                .get("ExposedPorts")
                .and_then(|p| p.as_object())
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let daemons: Vec<String> = img
                .files
                .keys()
                .filter(|p| p.ends_with("/sshd") || p.ends_with("/dropbear"))
                .map(|p| format!("/{p}"))
                .collect();
            let evidence = format!("ExposedPorts = {ports:?}; ssh daemons: {daemons:?}");
            if ports.iter().any(|p| p.starts_with("22/")) || !daemons.is_empty() {
                Verdict::fail(
                    "The image ships an SSH server or exposes port 22; use docker exec instead.",
                    evidence,
                )
            } else {
                Verdict::pass("", evidence)
            }
        }),
        not_built(ev),
    )
}

/// `IMG-NO-SYS-VOLUME`.
fn no_sys_volume(
    ev: &ImageEvidence,
    df: &Dockerfile,
    img: Option<&SavedImage>,
    _params: Params<'_>,
) -> Verdict {
    both(
        lint::no_sys_volume(df),
        img.map(|img| {
            let volumes: Vec<String> = img.config.get("Volumes").and_then(|p| p.as_object()).map(|o| o.keys().cloned().collect()).unwrap_or_default();
            let workdir = img.config_str("WorkingDir");
            let evidence = format!("Volumes = {volumes:?}; WorkingDir = {workdir:?}");
            let system = |p: &str| ["/sys", "/proc", "/dev"].iter().any(|s| p == *s || p.starts_with(&format!("{s}/")));
            if volumes.iter().any(|v| system(v)) || system(&workdir) {
                Verdict::fail("A VOLUME or WORKDIR points into /sys, /proc or /dev; use an application directory.", evidence)
            } else {
                Verdict::pass("", evidence)
            }
        }), not_built(ev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        input::dockerfile,
        layers::{FsEntry, HistoryEntry},
    };

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";

    /// Evidence for `dockerfile`, built into an image with `user`, these
    /// files (path, mode, content) and these history lines.
    fn built(
        text: &str,
        user: &str,
        files: &[(&str, u32, &str)],
        history: &[&str],
    ) -> ImageEvidence {
        let mut image = SavedImage {
            config: serde_json::json!({ "User": user }),
            history: history
                .iter()
                .map(|h| HistoryEntry {
                    created_by: (*h).to_string(),
                    empty_layer: false,
                })
                .collect(),
            ..Default::default()
        };
        for (path, mode, content) in files {
            image.files.insert(
                (*path).to_string(),
                FsEntry {
                    mode: *mode,
                    is_dir: false,
                    layer: 0,
                    content: Some(content.as_bytes().to_vec()),
                },
            );
        }
        ImageEvidence {
            dockerfile: dockerfile::parse(text).unwrap(),
            image: Some(image),
            build_error: None,
            health: None,
        }
    }

    /// Evidence for a plain Dockerfile built into an image of uid 1000 with
    /// these files.
    fn with_files(files: &[(&str, u32, &str)]) -> ImageEvidence {
        built("FROM drydock/busybox:1\n", "1000", files, &[])
    }

    fn grade(check: ImageCheck, ev: &ImageEvidence) -> Verdict {
        evaluate(check, ev, Params(&toml::Table::new()))
    }

    fn passes(check: ImageCheck, ev: &ImageEvidence) {
        let v = grade(check, ev);
        assert!(v.passed, "{check:?} should pass: {v:?}");
    }

    fn fails(check: ImageCheck, ev: &ImageEvidence, says: &str) {
        let v = grade(check, ev);
        assert!(
            !v.passed && v.message.contains(says),
            "{check:?} should fail with {says:?}: {v:?}"
        );
    }

    #[test]
    fn static_failures_come_first_then_the_image_and_nothing_passes_unbuilt() {
        let text = "FROM drydock/busybox:1\nADD app.tar /app/\n";
        let ev = built(text, "1000", &[], &[]);
        fails(ImageCheck::CopyNotAdd, &ev, "COPY");
        // The file says COPY, but the image's history shows an ADD.
        let text = "FROM drydock/busybox:1\nCOPY app /app/\n";
        for add in [
            "/bin/sh -c #(nop) ADD file:abc in /app",
            "ADD app.tar /app/ # buildkit",
        ] {
            let ev = built(text, "1000", &[], &[add]);
            fails(ImageCheck::CopyNotAdd, &ev, "history shows ADD");
        }
        // Both agree: the static message, and the evidence of both parts.
        let ev = built(
            text,
            "1000",
            &[],
            &["/bin/sh -c #(nop) COPY dir:abc in /app"],
        );
        let v = grade(ImageCheck::CopyNotAdd, &ev);
        assert!(
            v.passed && v.evidence.contains("history has no ADD"),
            "{v:?}"
        );
        // The static part's sentence, and its evidence before the image's.
        let static_part = lint::copy_not_add(&ev.dockerfile);
        assert!(!v.message.is_empty());
        assert_eq!(v.message, static_part.message);
        assert!(
            v.evidence
                .starts_with(&format!("{}; ", static_part.evidence)),
            "{v:?}"
        );
        // Not built: the static part alone never passes.
        let mut ev = ev;
        ev.image = None;
        ev.build_error = Some("step 2 failed".into());
        fails(ImageCheck::CopyNotAdd, &ev, "step 2 failed");
    }

    #[test]
    fn the_user_is_resolved_through_the_images_passwd() {
        let text = "FROM drydock/busybox:1\n";
        let passwd = [("etc/passwd", 0o644, PASSWD)];
        fails(
            ImageCheck::NonrootUser,
            &built(text, "", &passwd, &[]),
            "runs as root",
        );
        fails(
            ImageCheck::NonrootUser,
            &built(text, "0:0", &passwd, &[]),
            "is root (uid 0)",
        );
        fails(
            ImageCheck::NonrootUser,
            &built(text, "root", &passwd, &[]),
            "is root (uid 0)",
        );
        passes(ImageCheck::NonrootUser, &built(text, "app", &passwd, &[]));
        passes(
            ImageCheck::NonrootUser,
            &built(text, "1000:1000", &passwd, &[]),
        );
        fails(
            ImageCheck::NonrootUser,
            &built(text, "ghost", &passwd, &[]),
            "does not exist",
        );
    }

    #[test]
    fn a_shared_uid_or_gid_is_found() {
        let text = "FROM drydock/busybox:1\n";
        let unique = [
            ("etc/passwd", 0o644, PASSWD),
            ("etc/group", 0o644, "root:x:0:\napp:x:1000:\n"),
        ];
        passes(ImageCheck::UniqueUid, &built(text, "1000", &unique, &[]));
        let hidden_root = [(
            "etc/passwd",
            0o644,
            "root:x:0:0::/root:/bin/sh\n# toor:x:0:0 is a comment\n\ntoor:x:0:0::/:/bin/sh\n",
        )];
        fails(
            ImageCheck::UniqueUid,
            &built(text, "1000", &hidden_root, &[]),
            "UID 0 is shared by root, toor",
        );
        let group = [("etc/group", 0o644, "a:x:5:\nb:x:5:\n")];
        fails(
            ImageCheck::UniqueUid,
            &built(text, "1000", &group, &[]),
            "GID 5",
        );
        // Lines with too few fields are not accounts.
        let short = [("etc/passwd", 0o644, "a:x\nb:x\n")];
        passes(ImageCheck::UniqueUid, &built(text, "1000", &short, &[]));
    }

    #[test]
    fn an_empty_password_field_is_found_in_shadow_and_passwd() {
        passes(
            ImageCheck::NoEmptyPw,
            &with_files(&[("etc/shadow", 0o640, "root:!:1::::::\napp:*:1::::::\n")]),
        );
        fails(
            ImageCheck::NoEmptyPw,
            &with_files(&[("etc/shadow", 0o640, "root:!:1::::::\napp::1::::::\n")]),
            "app in /etc/shadow",
        );
        fails(
            ImageCheck::NoEmptyPw,
            &with_files(&[("etc/passwd", 0o644, "guest::1001:1001::/:/bin/sh\n")]),
            "guest in /etc/passwd",
        );
        // A line without a password field, or without a name, is no account.
        passes(
            ImageCheck::NoEmptyPw,
            &with_files(&[("etc/passwd", 0o644, "lonely\n::0:0::/:/bin/sh\n")]),
        );
    }

    #[test]
    fn setuid_and_setgid_files_are_found_directories_are_not() {
        passes(ImageCheck::NoSetuid, &with_files(&[("bin/ls", 0o755, "")]));
        fails(
            ImageCheck::NoSetuid,
            &with_files(&[("bin/su", 0o4755, "")]),
            "/bin/su (4755",
        );
        fails(
            ImageCheck::NoSetuid,
            &with_files(&[("bin/wall", 0o2755, "")]),
            "/bin/wall (2755",
        );
        let mut ev = with_files(&[]);
        ev.image.as_mut().unwrap().files.insert(
            "tmp".into(),
            FsEntry {
                mode: 0o1777 | 0o2000,
                is_dir: true,
                layer: 0,
                content: None,
            },
        );
        passes(ImageCheck::NoSetuid, &ev);
    }

    /// `ev`'s image, to change its config, files or layers.
    fn image_of(ev: &mut ImageEvidence) -> &mut SavedImage {
        ev.image.as_mut().unwrap()
    }

    /// A layer made by `created_by` holding these paths (with content).
    fn layer(created_by: &str, entries: &[(&str, &str)]) -> crate::layers::Layer {
        crate::layers::Layer {
            created_by: created_by.into(),
            entries: entries
                .iter()
                .map(|(path, content)| crate::layers::LayerEntry {
                    path: (*path).into(),
                    mode: 0o644,
                    is_dir: false,
                    size: content.len() as u64,
                    content: Some(content.as_bytes().to_vec()),
                })
                .collect(),
        }
    }

    #[test]
    fn sudo_anywhere_in_the_image_fails() {
        passes(ImageCheck::NoSudo, &with_files(&[("bin/ls", 0o755, "")]));
        fails(
            ImageCheck::NoSudo,
            &with_files(&[("usr/bin/sudo", 0o755, "")]),
            "/usr/bin/sudo",
        );
        fails(
            ImageCheck::NoSudo,
            &with_files(&[("sudo", 0o755, "")]),
            "/sudo",
        );
        passes(
            ImageCheck::NoSudo,
            &with_files(&[("usr/bin/sudoedit-notes", 0o644, "")]),
        );
    }

    #[test]
    fn a_health_check_must_be_real_and_pass_when_asked() {
        let with = |test: serde_json::Value, health: Option<&str>| {
            let mut ev = with_files(&[]);
            image_of(&mut ev).config["Healthcheck"] = serde_json::json!({ "Test": test });
            ev.health = health.map(str::to_string);
            ev
        };
        let real = serde_json::json!([
            "CMD-SHELL",
            "wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1"
        ]);
        passes(ImageCheck::Healthcheck, &with(real.clone(), None));
        fails(ImageCheck::Healthcheck, &with_files(&[]), "no HEALTHCHECK");
        fails(
            ImageCheck::Healthcheck,
            &with(serde_json::json!(["NONE"]), None),
            "switches health checking off",
        );
        fails(
            ImageCheck::Healthcheck,
            &with(serde_json::json!(["CMD", "true"]), None),
            "can never fail",
        );
        let wait: toml::Table = toml::from_str("wait_healthy = 1").unwrap();
        let v = evaluate(
            ImageCheck::Healthcheck,
            &with(real.clone(), Some("unhealthy")),
            Params(&wait),
        );
        assert!(
            !v.passed && v.message.contains("\"unhealthy\", not healthy"),
            "{v:?}"
        );
        let v = evaluate(
            ImageCheck::Healthcheck,
            &with(real.clone(), None),
            Params(&wait),
        );
        assert!(!v.passed && v.message.contains("\"nothing\""), "{v:?}");
        assert!(
            evaluate(
                ImageCheck::Healthcheck,
                &with(real.clone(), Some("healthy")),
                Params(&wait)
            )
            .passed
        );
        // Without wait_healthy, the run's status is only evidence.
        let v = grade(ImageCheck::Healthcheck, &with(real, Some("unhealthy")));
        assert!(v.passed && v.evidence.contains("unhealthy"), "{v:?}");
    }

    #[test]
    fn secrets_in_the_config_or_history_fail_even_when_the_file_looks_clean() {
        let text = "FROM drydock/busybox:1\n";
        let known: toml::Table =
            toml::from_str("secrets = [\"tok-FAKE-9fK2mQ7vX4pL8sR3\"]").unwrap();
        let with_env = |env: &[&str]| {
            let mut ev = with_files(&[]);
            image_of(&mut ev).config["Env"] = serde_json::json!(env);
            ev
        };
        let clean = with_env(&["PATH=/usr/bin", "PASSWORD_FILE=/run/secrets/pw", "TOKEN="]);
        assert!(evaluate(ImageCheck::NoSecretEnvarg, &clean, Params(&known)).passed);
        for env in [
            "APP=tok-FAKE-9fK2mQ7vX4pL8sR3",
            "DB_PASSWORD=hunter2",
            "URL=postgres://app:hunter2@db/app",
        ] {
            let v = evaluate(
                ImageCheck::NoSecretEnvarg,
                &with_env(&[env]),
                Params(&known),
            );
            assert!(
                !v.passed && v.message.contains("Config.Env"),
                "{env}: {v:?}"
            );
        }
        // A known secret that looks like nothing in particular is still found.
        let plain: toml::Table = toml::from_str("secrets = [\"plainword\"]").unwrap();
        let v = evaluate(
            ImageCheck::NoSecretEnvarg,
            &with_env(&["GREETING=plainword"]),
            Params(&plain),
        );
        assert!(
            !v.passed && v.message.contains("Config.Env GREETING"),
            "{v:?}"
        );
        let mut ev = built(
            text,
            "1000",
            &[],
            &["/bin/sh -c echo tok-FAKE-9fK2mQ7vX4pL8sR3 > /dev/null"],
        );
        let v = evaluate(ImageCheck::NoSecretEnvarg, &ev, Params(&known));
        assert!(!v.passed && v.message.contains("history"), "{v:?}");
        // An empty known secret matches nothing.
        let empty: toml::Table = toml::from_str("secrets = [\"\"]").unwrap();
        assert!(evaluate(ImageCheck::NoSecretEnvarg, &ev, Params(&empty)).passed);
        image_of(&mut ev).history.clear();
        assert!(evaluate(ImageCheck::NoSecretEnvarg, &ev, Params(&known)).passed);
    }

    #[test]
    fn a_secret_file_stays_in_its_layer_even_when_deleted_later() {
        let mut ev = with_files(&[]);
        image_of(&mut ev).layers = vec![
            layer(
                "COPY id_deploy /root/.ssh/id_deploy",
                &[("app/config", "token=tok-FAKE-1")],
            ),
            layer(
                "COPY key /k",
                &[("k", "-----BEGIN RSA PRIVATE KEY-----\nabc")],
            ),
            layer("RUN rm", &[("root/.wh.id_rsa", ""), ("root/id_rsa", "x")]),
        ];
        let known: toml::Table = toml::from_str("secrets = [\"tok-FAKE-1\"]").unwrap();
        let v = evaluate(ImageCheck::NoSecretFiles, &ev, Params(&known));
        assert!(!v.passed, "{v:?}");
        assert!(
            v.evidence.contains("/app/config (holds the secret value)"),
            "{v:?}"
        );
        assert!(v.evidence.contains("/k (holds a private key)"), "{v:?}");
        assert!(
            v.evidence.contains("/root/id_rsa (SSH private key)"),
            "{v:?}"
        );
        assert!(
            v.evidence.contains("deleted later but still in that layer"),
            "{v:?}"
        );
        assert!(
            !v.evidence.contains(".wh."),
            "whiteouts are not files: {v:?}"
        );
        // Neither whiteouts nor directories are secret files, whatever their name.
        let mut only_names = with_files(&[]);
        let mut names = layer("RUN rm /app/server.key", &[("app/.wh.server.key", "")]);
        names.entries.push(crate::layers::LayerEntry {
            path: "etc/ssl/private.pem".into(),
            mode: 0o755,
            is_dir: true,
            size: 0,
            content: None,
        });
        image_of(&mut only_names).layers = vec![names];
        assert!(evaluate(ImageCheck::NoSecretFiles, &only_names, Params(&known)).passed);
        // The same file still in the final filesystem is not called deleted.
        image_of(&mut ev).files.insert(
            "k".into(),
            crate::layers::FsEntry {
                mode: 0o600,
                is_dir: false,
                layer: 1,
                content: None,
            },
        );
        let v = evaluate(ImageCheck::NoSecretFiles, &ev, Params(&known));
        assert!(
            v.evidence
                .contains("/k (holds a private key) in layer 2 (COPY key /k)\n"),
            "{v:?}"
        );
        image_of(&mut ev).layers = vec![layer("COPY app /app", &[("app/main.sh", "echo hi")])];
        assert!(evaluate(ImageCheck::NoSecretFiles, &ev, Params(&known)).passed);
    }

    #[test]
    fn repository_credential_and_compose_files_are_junk() {
        for path in [
            "app/.git/config",
            "root/.aws/credentials",
            "src/.svn/entries",
            "home/app/.ssh/known_hosts",
            "app/docker-compose.yml",
            "app/docker-compose.yaml",
            "app/compose.yml",
            "app/compose.yaml",
        ] {
            let mut ev = with_files(&[]);
            image_of(&mut ev).layers = vec![layer("COPY . /app", &[(path, "x")])];
            fails(ImageCheck::NoJunkFiles, &ev, path);
        }
        let mut ev = with_files(&[]);
        image_of(&mut ev).layers = vec![layer(
            "COPY . /app",
            &[
                ("app/.gitignore", "x"),
                ("app/compose.md", "x"),
                ("app/.git/.wh.config", ""),
            ],
        )];
        passes(ImageCheck::NoJunkFiles, &ev);
    }

    #[test]
    fn an_ssh_server_or_port_22_fails() {
        let mut ev = with_files(&[("usr/sbin/httpd", 0o755, "")]);
        image_of(&mut ev).config["ExposedPorts"] =
            serde_json::json!({"8080/tcp": {}, "2222/tcp": {}});
        passes(ImageCheck::NoSsh, &ev);
        image_of(&mut ev).config["ExposedPorts"] = serde_json::json!({"22/tcp": {}});
        fails(ImageCheck::NoSsh, &ev, "SSH server or exposes port 22");
        for daemon in ["usr/sbin/sshd", "usr/sbin/dropbear"] {
            let ev = with_files(&[(daemon, 0o755, "")]);
            fails(ImageCheck::NoSsh, &ev, "SSH server");
        }
    }

    #[test]
    fn volumes_and_workdir_stay_out_of_sys_proc_and_dev() {
        let with = |volumes: serde_json::Value, workdir: &str| {
            let mut ev = with_files(&[]);
            image_of(&mut ev).config["Volumes"] = volumes;
            image_of(&mut ev).config["WorkingDir"] = serde_json::json!(workdir);
            ev
        };
        passes(
            ImageCheck::NoSysVolume,
            &with(serde_json::json!({"/data": {}}), "/app"),
        );
        passes(
            ImageCheck::NoSysVolume,
            &with(serde_json::json!({"/devices": {}}), "/system"),
        );
        fails(
            ImageCheck::NoSysVolume,
            &with(serde_json::json!({"/sys": {}}), "/app"),
            "/sys, /proc or /dev",
        );
        fails(
            ImageCheck::NoSysVolume,
            &with(serde_json::json!({"/data": {}}), "/proc/self"),
            "/sys, /proc or /dev",
        );
        fails(
            ImageCheck::NoSysVolume,
            &with(serde_json::json!({"/dev/shm": {}}), "/"),
            "/sys, /proc or /dev",
        );
    }
}
