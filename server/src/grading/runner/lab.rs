//! Lab-state checks (`LAB-*`): the state of a learner's own lab container,
//! read from the control plane (an exec from outside with the image's own
//! tools on a read-only root), never from anything the learner can fake in
//! their shell. The exec runs as the lab's user: with every capability
//! dropped, root could not read the learner's private home anyway.

use crate::{
    docker::{engine::Engine, shell::quote},
    error::Error,
};
use drydock_grader::{
    checks::catalog::{LabCheck, Params},
    Verdict,
};

/// Grades one lab-state check against container `container`, looking as `user`.
pub async fn evaluate(
    engine: &Engine,
    container: &str,
    user: &str,
    check: LabCheck,
    params: Params<'_>,
) -> Result<Verdict, Error> {
    let run = |script: String| async move {
        engine
            .exec(container, &["/bin/sh", "-c", &script], Some(user))
            .await
    };
    Ok(match check {
        LabCheck::NoSetuid => {
            let paths = params
                .list("paths")
                .unwrap_or_else(|| vec!["/home/learner".into(), "/tmp".into()]);
            let quoted: Vec<String> = paths.iter().map(|p| quote(p)).collect();
            let out = run(format!(
                "find {} -perm /6000 -type f -exec printf 'F %s\\n' {{}} + 2>&1 | head -n 100",
                quoted.join(" ")
            ))
            .await?;
            // Found files carry an `F ` prefix; anything else is an error.
            let (found, errors): (Vec<&str>, Vec<&str>) = out
                .stdout
                .lines()
                .filter(|l| !l.is_empty() && !l.contains("No such file"))
                .partition(|l| l.starts_with("F "));
            let found: Vec<&str> = found.iter().map(|l| &l[2..]).collect();
            if !errors.is_empty() {
                Verdict::new(false, format!("Some places could not be searched ({}), so hidden files may still carry the bits. Make your directories readable to yourself again (chmod u+rx) and check again.", errors.join("; ")), errors.join("\n"))
            } else if found.is_empty() {
                Verdict::new(
                    true,
                    "No setuid or setgid files are left.",
                    format!("find {} -perm /6000 -type f: nothing", paths.join(" ")),
                )
            } else {
                Verdict::new(
                    false,
                    format!(
                        "{} still carr{} setuid/setgid bits: remove them with chmod a-s.",
                        found.join(", "),
                        if found.len() == 1 { "ies" } else { "y" }
                    ),
                    found.join("\n"),
                )
            }
        }
        LabCheck::FileMode => {
            let path = params.str("path").unwrap_or_default();
            let max = params
                .str("max_mode")
                .and_then(|m| u32::from_str_radix(m, 8).ok())
                .unwrap_or(0o600);
            let out = run(format!("stat -c %a {} 2>&1", quote(path))).await?;
            let mode = u32::from_str_radix(out.stdout.trim(), 8).ok();
            let evidence = format!("stat -c %a {path}: {}", out.stdout.trim());
            match mode {
                None => Verdict::new(
                    false,
                    format!("{path} is missing; it must exist with tight permissions."),
                    evidence,
                ),
                Some(mode) if mode & !max == 0 => Verdict::new(
                    true,
                    format!("{path} is {mode:o}: only what is needed."),
                    evidence,
                ),
                Some(mode) => Verdict::new(
                    false,
                    format!(
                        "{path} is {mode:o}; allow at most {max:o} (e.g. chmod {max:o} {path})."
                    ),
                    evidence,
                ),
            }
        }
        LabCheck::FileAbsent => {
            let path = params.str("path").unwrap_or_default();
            let out = run(format!(
                "if [ -e {} ]; then echo present; else echo absent; fi",
                quote(path)
            ))
            .await?;
            let present = out.stdout.trim() == "present";
            Verdict::new(
                !present,
                if present {
                    format!("{path} is still there; remove it.")
                } else {
                    format!("{path} is gone.")
                },
                format!("test -e {path}: {}", out.stdout.trim()),
            )
        }
        LabCheck::FileContains | LabCheck::FileLacks => {
            let path = params.str("path").unwrap_or_default();
            let text = params.str("text").unwrap_or_default();
            let out = run(format!("head -c 65536 {} 2>&1", quote(path))).await?;
            let has = out.exit_code == Some(0) && out.stdout.contains(text);
            if check == LabCheck::FileContains {
                Verdict::new(
                    has,
                    if has {
                        format!("{path} has what it should.")
                    } else {
                        format!("{path} does not contain the expected text yet.")
                    },
                    format!("{path}: {} bytes read", out.stdout.len()),
                )
            } else {
                Verdict::new(
                    !has,
                    if has {
                        format!("{path} still holds the secret; remove it from the file.")
                    } else {
                        format!("{path} no longer holds the secret.")
                    },
                    format!("{path}: {} bytes read", out.stdout.len()),
                )
            }
        }
    })
}
