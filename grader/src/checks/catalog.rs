//! The check catalog: every criterion an exercise may grade, with the
//! parameters an author may set. Ids follow `../shared/hardening-checks.md`;
//! each has exactly one implementation (`run_checks`, `image_checks`,
//! `lab_checks`, or the flag comparison).

/// Which kind of evidence a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckArea {
    /// A running container: inspect and probes of PID 1.
    Run,
    /// A Dockerfile and the image it builds.
    Image,
    /// The state of a learner's lab container.
    Lab,
    /// A value the learner found.
    Flag,
}

/// The type of one check parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    Int,
    Str,
    StrList,
}

/// One entry of the catalog.
#[derive(Debug)]
pub struct CheckSpec {
    pub id: &'static str,
    pub area: CheckArea,
    /// What the check asks for, in a few words a learner understands.
    pub title: &'static str,
    pub params: &'static [(&'static str, ParamType)],
}

use CheckArea::*;
use ParamType::*;

const fn spec(
    id: &'static str,
    area: CheckArea,
    title: &'static str,
    params: &'static [(&'static str, ParamType)],
) -> CheckSpec {
    CheckSpec {
        id,
        area,
        title,
        params,
    }
}

/// Every check Drydock can grade.
pub static CATALOG: &[CheckSpec] = &[
    // Runtime checks: what the engine runs (inspect) and what PID 1 sees (probes).
    spec("RUN-NOT-PRIVILEGED", Run, "Not privileged", &[]),
    spec(
        "RUN-CAP-DROP-ALL",
        Run,
        "All capabilities dropped, only the needed ones added",
        &[("allowed", StrList)],
    ),
    spec(
        "RUN-NO-DANGEROUS-CAPS",
        Run,
        "No dangerous capabilities",
        &[],
    ),
    spec("RUN-NO-NEW-PRIVS", Run, "no-new-privileges set", &[]),
    spec("RUN-SECCOMP", Run, "Seccomp profile kept", &[]),
    spec("RUN-LSM", Run, "AppArmor/SELinux not disabled", &[]),
    spec("RUN-NONROOT", Run, "Runs as a non-root user", &[]),
    spec("RUN-USERNS", Run, "User namespace not disabled", &[]),
    spec(
        "RUN-READONLY-ROOTFS",
        Run,
        "Read-only root filesystem",
        &[("app_paths", StrList)],
    ),
    spec(
        "RUN-TMPFS-SAFE",
        Run,
        "Scratch space is a small noexec,nosuid tmpfs",
        &[("paths", StrList), ("max_size_mb", Int)],
    ),
    spec(
        "RUN-VOLUMES-RO",
        Run,
        "Data mounts read-only",
        &[("writable", StrList)],
    ),
    spec(
        "RUN-NO-SENSITIVE-MOUNT",
        Run,
        "No host system directories mounted",
        &[],
    ),
    spec("RUN-NO-DOCKER-SOCK", Run, "No Docker socket inside", &[]),
    spec("RUN-PROPAGATION", Run, "No shared mount propagation", &[]),
    spec("RUN-HOST-NS", Run, "No host namespaces", &[]),
    spec("RUN-NO-DEVICES", Run, "No host devices", &[]),
    spec("RUN-NETWORK", Run, "No network, or a user-defined one", &[]),
    spec(
        "RUN-PORTS",
        Run,
        "Ports bound to one address, above 1024",
        &[],
    ),
    spec(
        "RUN-MEMORY",
        Run,
        "Memory limited, no unlimited swap",
        &[("max_mb", Int)],
    ),
    spec("RUN-CPU", Run, "CPU capped", &[("max_cpus_milli", Int)]),
    spec("RUN-PIDS", Run, "Process count limited", &[("max", Int)]),
    spec(
        "RUN-ULIMITS",
        Run,
        "Open files limited",
        &[("max_nofile", Int)],
    ),
    spec(
        "RUN-RESTART",
        Run,
        "Restarts on failure, a bounded number of times",
        &[("max_retries", Int)],
    ),
    spec("RUN-HEALTH", Run, "Becomes healthy", &[]),
    spec("RUN-LOGGING", Run, "Logging on and bounded", &[]),
    spec(
        "RUN-NO-ENV-SECRETS",
        Run,
        "No secrets in environment variables",
        &[("secrets", StrList)],
    ),
    spec("RUN-IMAGE-DIGEST", Run, "Image pinned by digest", &[]),
    // Image checks: the Dockerfile, the image config, history and every layer.
    spec(
        "IMG-NONROOT-USER",
        Image,
        "Image runs as a non-root user",
        &[],
    ),
    spec("IMG-UNIQUE-UID", Image, "No duplicate UIDs or GIDs", &[]),
    spec(
        "IMG-NO-EMPTY-PW",
        Image,
        "No account with an empty password",
        &[],
    ),
    spec("IMG-NO-SETUID", Image, "No setuid or setgid files", &[]),
    spec("IMG-NO-SUDO", Image, "No sudo", &[]),
    spec(
        "IMG-HEALTHCHECK",
        Image,
        "A real health check",
        &[("wait_healthy", Int)],
    ),
    spec("IMG-COPY-NOT-ADD", Image, "COPY instead of ADD", &[]),
    spec("IMG-BASE-TAG", Image, "Base image tagged, not latest", &[]),
    spec("IMG-BASE-DIGEST", Image, "Base image pinned by digest", &[]),
    spec(
        "IMG-NO-SECRET-ENVARG",
        Image,
        "No secrets in ENV or ARG",
        &[("secrets", StrList)],
    ),
    spec(
        "IMG-NO-SECRET-FILES",
        Image,
        "No keys or credentials in any layer",
        &[("secrets", StrList)],
    ),
    spec(
        "IMG-BUILD-SECRET-MOUNT",
        Image,
        "Build credentials only through secret mounts",
        &[],
    ),
    spec(
        "IMG-NO-JUNK-FILES",
        Image,
        "No .git, .aws or compose files in the image",
        &[],
    ),
    spec(
        "IMG-UPDATE-WITH-INSTALL",
        Image,
        "Package index updated in the same RUN as the install",
        &[],
    ),
    spec("IMG-PKG-PINNED", Image, "Package versions pinned", &[]),
    spec(
        "IMG-MINIMAL",
        Image,
        "No recommended extras, caches cleaned",
        &[],
    ),
    spec(
        "IMG-VERIFIED-PKGS",
        Image,
        "Packages and downloads verified",
        &[],
    ),
    spec(
        "IMG-NO-PIPE-TO-SHELL",
        Image,
        "No download piped into a shell",
        &[],
    ),
    spec("IMG-NO-SSH", Image, "No SSH server", &[]),
    spec(
        "IMG-NO-SYS-VOLUME",
        Image,
        "No VOLUME or WORKDIR on /sys, /proc or /dev",
        &[],
    ),
    // Lab state: read from the control plane, never from the learner's shell.
    spec(
        "LAB-NO-SETUID",
        Lab,
        "No setuid or setgid files left",
        &[("paths", StrList)],
    ),
    spec(
        "LAB-FILE-MODE",
        Lab,
        "File permissions tightened",
        &[("path", Str), ("max_mode", Str)],
    ),
    spec("LAB-FILE-ABSENT", Lab, "File removed", &[("path", Str)]),
    spec(
        "LAB-FILE-CONTAINS",
        Lab,
        "File has the expected content",
        &[("path", Str), ("text", Str)],
    ),
    spec(
        "LAB-FILE-LACKS",
        Lab,
        "File no longer holds the secret",
        &[("path", Str), ("text", Str)],
    ),
    // Flags: compared on the server.
    spec("FLAG-MATCH", Flag, "The value you found", &[]),
];

/// The catalog entry for `id`.
pub fn lookup(id: &str) -> Option<&'static CheckSpec> {
    CATALOG.iter().find(|c| c.id == id)
}

/// Checks an author's parameters against the check's declaration.
pub fn validate_params(spec: &CheckSpec, params: &toml::Table) -> Result<(), String> {
    for (name, value) in params {
        let Some((_, kind)) = spec.params.iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = spec.params.iter().map(|(n, _)| *n).collect();
            return Err(if known.is_empty() {
                format!("{} takes no parameters (found {name:?})", spec.id)
            } else {
                format!(
                    "{} has no parameter {name:?}; it takes: {}",
                    spec.id,
                    known.join(", ")
                )
            });
        };
        let ok = match kind {
            Int => value.as_integer().is_some_and(|i| i >= 0),
            Str => value.as_str().is_some_and(|s| !s.is_empty()),
            StrList => value
                .as_array()
                .is_some_and(|a| a.iter().all(|v| v.as_str().is_some())),
        };
        if !ok {
            let want = match kind {
                Int => "a whole number ≥ 0",
                Str => "a non-empty string",
                StrList => "a list of strings",
            };
            return Err(format!("{}: parameter {name:?} must be {want}", spec.id));
        }
    }
    for (name, kind) in spec.params {
        if *kind == Str && spec.area == Lab && !params.contains_key(*name) {
            return Err(format!("{} needs the parameter {name:?}", spec.id));
        }
    }
    Ok(())
}

/// Typed access to a check's parameters (already validated).
#[derive(Debug, Clone, Copy)]
pub struct Params<'a>(pub &'a toml::Table);

impl Params<'_> {
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.0
            .get(name)
            .and_then(|v| v.as_integer())
            .unwrap_or(default)
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.as_str())
    }

    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.0.get(name).and_then(|v| v.as_array()).map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_large_enough_and_ids_are_unique() {
        let runs = CATALOG.iter().filter(|c| c.area == Run).count();
        let images = CATALOG.iter().filter(|c| c.area == Image).count();
        assert!(runs >= 25, "{runs} RUN checks");
        assert!(images >= 15, "{images} IMG checks");
        let mut ids: Vec<_> = CATALOG.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CATALOG.len());
        for c in CATALOG {
            let prefix = match c.area {
                Run => "RUN-",
                Image => "IMG-",
                Lab => "LAB-",
                Flag => "FLAG-",
            };
            assert!(c.id.starts_with(prefix), "{}", c.id);
        }
    }

    #[test]
    fn parameters_are_checked_by_name_and_type() {
        let mem = lookup("RUN-MEMORY").unwrap();
        let ok: toml::Table = toml::from_str("max_mb = 256").unwrap();
        assert!(validate_params(mem, &ok).is_ok());
        let bad: toml::Table = toml::from_str("max_mb = \"big\"").unwrap();
        assert!(validate_params(mem, &bad)
            .unwrap_err()
            .contains("whole number"));
        let unknown: toml::Table = toml::from_str("limit = 1").unwrap();
        assert!(validate_params(mem, &unknown)
            .unwrap_err()
            .contains("max_mb"));
        let mode = lookup("LAB-FILE-MODE").unwrap();
        assert!(validate_params(mode, &toml::Table::new())
            .unwrap_err()
            .contains("path"));
    }
}
