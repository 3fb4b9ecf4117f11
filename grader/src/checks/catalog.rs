//! The check catalog: every criterion an exercise may grade, with the
//! parameters an author may set, as typed ids. Each area's checks are one
//! enum, and each area's evaluator is an exhaustive `match` over it with
//! one function per check (`run.rs`, `image.rs`, the server's lab runner,
//! the flag comparison): an id without an evaluator, or an evaluator
//! without an id, does not compile. Ids follow `hardening-checks.md`.

/// Which kind of evidence a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckArea {
    /// A running container: inspect and probes of PID 1.
    Run,
    /// A Dockerfile and the image it builds.
    Image,
    /// The state of a learner's lab container.
    Lab,
    /// What a learner's own container (started in a Docker lab) holds,
    /// read through the engine.
    Live,
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

use CheckArea::*;
use ParamType::*;

/// Declares one area's checks: the enum, its ids, titles and parameters.
macro_rules! checks {
    (
        $(#[$doc:meta])*
        $name:ident: $area:ident {
            $( $variant:ident = $id:literal, $title:literal $(, $pname:literal: $ptype:ident)* ; )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $variant, )*
        }

        impl $name {
            /// Every check of the area, in catalog order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )* ];

            /// The check's id, e.g. `RUN-NONROOT`.
            pub fn id(self) -> &'static str {
                match self { $( $name::$variant => $id, )* }
            }

            /// What the check asks for, in a few words a learner understands.
            pub fn title(self) -> &'static str {
                match self { $( $name::$variant => $title, )* }
            }

            /// The parameters an author may set, with their types.
            pub fn params(self) -> &'static [(&'static str, ParamType)] {
                match self { $( $name::$variant => &[ $( ($pname, ParamType::$ptype) ),* ], )* }
            }
        }

        impl From<$name> for CheckId {
            fn from(check: $name) -> Self {
                CheckId::$area(check)
            }
        }
    };
}

checks! {
    /// Runtime checks: what the engine runs (inspect) and what PID 1 sees (probes).
    RunCheck: Run {
        NotPrivileged = "RUN-NOT-PRIVILEGED", "Not privileged";
        CapDropAll = "RUN-CAP-DROP-ALL", "All capabilities dropped, only the needed ones added", "allowed": StrList;
        NoDangerousCaps = "RUN-NO-DANGEROUS-CAPS", "No dangerous capabilities";
        NoNewPrivs = "RUN-NO-NEW-PRIVS", "no-new-privileges set";
        Seccomp = "RUN-SECCOMP", "Seccomp profile kept";
        Lsm = "RUN-LSM", "AppArmor/SELinux not disabled";
        Nonroot = "RUN-NONROOT", "Runs as a non-root user";
        Userns = "RUN-USERNS", "User namespace not disabled";
        ReadonlyRootfs = "RUN-READONLY-ROOTFS", "Read-only root filesystem", "app_paths": StrList;
        TmpfsSafe = "RUN-TMPFS-SAFE", "Scratch space is a small noexec,nosuid tmpfs", "paths": StrList, "max_size_mb": Int;
        VolumesRo = "RUN-VOLUMES-RO", "Data mounts read-only", "writable": StrList;
        NoSensitiveMount = "RUN-NO-SENSITIVE-MOUNT", "No host system directories mounted";
        NoDockerSock = "RUN-NO-DOCKER-SOCK", "No Docker socket inside";
        Propagation = "RUN-PROPAGATION", "No shared mount propagation";
        HostNs = "RUN-HOST-NS", "No host namespaces";
        NoDevices = "RUN-NO-DEVICES", "No host devices";
        Network = "RUN-NETWORK", "No network, or a user-defined one";
        Ports = "RUN-PORTS", "Ports bound to one address, above 1024", "publish": Int;
        Memory = "RUN-MEMORY", "Memory limited, no unlimited swap", "max_mb": Int;
        Cpu = "RUN-CPU", "CPU capped", "max_cpus_milli": Int;
        Pids = "RUN-PIDS", "Process count limited", "max": Int;
        Ulimits = "RUN-ULIMITS", "Open files limited", "max_nofile": Int;
        Restart = "RUN-RESTART", "Restarts on failure, a bounded number of times", "max_retries": Int;
        Health = "RUN-HEALTH", "Becomes healthy";
        Logging = "RUN-LOGGING", "Logging on and bounded";
        NoEnvSecrets = "RUN-NO-ENV-SECRETS", "No secrets in environment variables", "secrets": StrList;
        ImageDigest = "RUN-IMAGE-DIGEST", "Image pinned by digest";
    }
}

checks! {
    /// Image checks: the Dockerfile, the image config, history and every layer.
    ImageCheck: Image {
        NonrootUser = "IMG-NONROOT-USER", "Image runs as a non-root user";
        UniqueUid = "IMG-UNIQUE-UID", "No duplicate UIDs or GIDs";
        NoEmptyPw = "IMG-NO-EMPTY-PW", "No account with an empty password";
        NoSetuid = "IMG-NO-SETUID", "No setuid or setgid files";
        NoSudo = "IMG-NO-SUDO", "No sudo";
        Healthcheck = "IMG-HEALTHCHECK", "A real health check", "wait_healthy": Int;
        CopyNotAdd = "IMG-COPY-NOT-ADD", "COPY instead of ADD";
        BaseTag = "IMG-BASE-TAG", "Base image tagged, not latest";
        BaseDigest = "IMG-BASE-DIGEST", "Base image pinned by digest";
        NoSecretEnvarg = "IMG-NO-SECRET-ENVARG", "No secrets in ENV or ARG", "secrets": StrList;
        NoSecretFiles = "IMG-NO-SECRET-FILES", "No keys or credentials in any layer", "secrets": StrList;
        BuildSecretMount = "IMG-BUILD-SECRET-MOUNT", "Build credentials only through secret mounts";
        NoJunkFiles = "IMG-NO-JUNK-FILES", "No .git, .aws or compose files in the image";
        UpdateWithInstall = "IMG-UPDATE-WITH-INSTALL", "Package index updated in the same RUN as the install";
        PkgPinned = "IMG-PKG-PINNED", "Package versions pinned";
        Minimal = "IMG-MINIMAL", "No recommended extras, caches cleaned";
        VerifiedPkgs = "IMG-VERIFIED-PKGS", "Packages and downloads verified";
        NoPipeToShell = "IMG-NO-PIPE-TO-SHELL", "No download piped into a shell";
        NoSsh = "IMG-NO-SSH", "No SSH server";
        NoSysVolume = "IMG-NO-SYS-VOLUME", "No VOLUME or WORKDIR on /sys, /proc or /dev";
    }
}

checks! {
    /// Lab state: read from the control plane, never from the learner's shell.
    LabCheck: Lab {
        NoSetuid = "LAB-NO-SETUID", "No setuid or setgid files left", "paths": StrList;
        FileMode = "LAB-FILE-MODE", "File permissions tightened", "path": Str, "max_mode": Str;
        FileAbsent = "LAB-FILE-ABSENT", "File removed", "path": Str;
        FileContains = "LAB-FILE-CONTAINS", "File has the expected content", "path": Str, "text": Str;
        FileLacks = "LAB-FILE-LACKS", "File no longer holds the secret", "path": Str, "text": Str;
    }
}

checks! {
    /// A learner's own container, started with the docker CLI in a lab:
    /// what its volumes and its program answer, read through the engine.
    LiveCheck: Live {
        NamedVolume = "LIVE-NAMED-VOLUME", "Data on a named volume", "path": Str;
        DataOutlives = "LIVE-DATA-OUTLIVES", "Data older than the container", "path": Str;
        Answers = "LIVE-ANSWERS", "Answers with the data you stored", "command": StrList, "expect": Str, "user": Str;
    }
}

checks! {
    /// Flags: a value the learner found, compared on the server.
    FlagCheck: Flag {
        Match = "FLAG-MATCH", "The value you found";
    }
}

/// Any check of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckId {
    Run(RunCheck),
    Image(ImageCheck),
    Lab(LabCheck),
    Live(LiveCheck),
    Flag(FlagCheck),
}

impl CheckId {
    /// Every check Drydock can grade, area by area.
    pub fn all() -> impl Iterator<Item = CheckId> {
        RunCheck::ALL
            .iter()
            .map(|c| CheckId::Run(*c))
            .chain(ImageCheck::ALL.iter().map(|c| CheckId::Image(*c)))
            .chain(LabCheck::ALL.iter().map(|c| CheckId::Lab(*c)))
            .chain(LiveCheck::ALL.iter().map(|c| CheckId::Live(*c)))
            .chain(FlagCheck::ALL.iter().map(|c| CheckId::Flag(*c)))
    }

    /// The id as authors write it, e.g. `RUN-NONROOT`.
    pub fn id(self) -> &'static str {
        match self {
            CheckId::Run(c) => c.id(),
            CheckId::Image(c) => c.id(),
            CheckId::Lab(c) => c.id(),
            CheckId::Live(c) => c.id(),
            CheckId::Flag(c) => c.id(),
        }
    }

    /// What the check asks for.
    pub fn title(self) -> &'static str {
        match self {
            CheckId::Run(c) => c.title(),
            CheckId::Image(c) => c.title(),
            CheckId::Lab(c) => c.title(),
            CheckId::Live(c) => c.title(),
            CheckId::Flag(c) => c.title(),
        }
    }

    /// The parameters an author may set.
    pub fn params(self) -> &'static [(&'static str, ParamType)] {
        match self {
            CheckId::Run(c) => c.params(),
            CheckId::Image(c) => c.params(),
            CheckId::Lab(c) => c.params(),
            CheckId::Live(c) => c.params(),
            CheckId::Flag(c) => c.params(),
        }
    }

    /// Which kind of evidence the check reads.
    pub fn area(self) -> CheckArea {
        match self {
            CheckId::Run(_) => CheckArea::Run,
            CheckId::Image(_) => CheckArea::Image,
            CheckId::Lab(_) => CheckArea::Lab,
            CheckId::Live(_) => CheckArea::Live,
            CheckId::Flag(_) => CheckArea::Flag,
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for CheckId {
    type Err = String;

    fn from_str(id: &str) -> Result<Self, String> {
        CheckId::all()
            .find(|c| c.id() == id)
            .ok_or_else(|| format!("unknown check {id:?}; see the catalog in content/README.md"))
    }
}

impl serde::Serialize for CheckId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> serde::Deserialize<'de> for CheckId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        id.parse().map_err(serde::de::Error::custom)
    }
}

/// The check `id`, if the catalog has it.
pub fn lookup(id: &str) -> Option<CheckId> {
    id.parse().ok()
}

/// Checks an author's parameters against the check's declaration.
pub fn validate_params(check: CheckId, params: &toml::Table) -> Result<(), String> {
    for (name, value) in params {
        let Some((_, kind)) = check.params().iter().find(|(n, _)| n == name) else {
            let known: Vec<&str> = check.params().iter().map(|(n, _)| *n).collect();
            return Err(if known.is_empty() {
                format!("{} takes no parameters (found {name:?})", check)
            } else {
                format!(
                    "{} has no parameter {name:?}; it takes: {}",
                    check,
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
            return Err(format!("{}: parameter {name:?} must be {want}", check));
        }
    }
    for (name, kind) in check.params() {
        let required = match check.area() {
            Lab => *kind == Str,
            Live => *name != "user",
            _ => false,
        };
        if required && !params.contains_key(*name) {
            return Err(format!("{} needs the parameter {name:?}", check));
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
        assert!(
            RunCheck::ALL.len() >= 25,
            "{} RUN checks",
            RunCheck::ALL.len()
        );
        assert!(
            ImageCheck::ALL.len() >= 15,
            "{} IMG checks",
            ImageCheck::ALL.len()
        );
        let mut ids: Vec<_> = CheckId::all().map(CheckId::id).collect();
        let total = ids.len();
        assert_eq!(
            total,
            RunCheck::ALL.len()
                + ImageCheck::ALL.len()
                + LabCheck::ALL.len()
                + LiveCheck::ALL.len()
                + FlagCheck::ALL.len(),
            "every area's checks are in the catalog"
        );
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), total);
        // Each check says what it asks for, in words of its own.
        let mut titles: Vec<_> = CheckId::all().map(CheckId::title).collect();
        assert!(titles.iter().all(|t| t.len() > 5), "{titles:?}");
        titles.sort();
        titles.dedup();
        assert_eq!(titles.len(), total, "two checks share a title");
        assert_eq!(
            CheckId::Run(RunCheck::Memory).title(),
            RunCheck::Memory.title()
        );
        for c in CheckId::all() {
            let prefix = match c.area() {
                Run => "RUN-",
                Image => "IMG-",
                Lab => "LAB-",
                Live => "LIVE-",
                Flag => "FLAG-",
            };
            assert!(c.id().starts_with(prefix), "{c}");
            assert_eq!(lookup(c.id()), Some(c));
        }
        assert_eq!(lookup("RUN-nonroot"), None);
    }

    #[test]
    fn parameters_are_checked_by_name_and_type() {
        let mem = CheckId::Run(RunCheck::Memory);
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
        let mode = CheckId::Lab(LabCheck::FileMode);
        assert!(validate_params(mode, &toml::Table::new())
            .unwrap_err()
            .contains("path"));
    }

    #[test]
    fn each_kind_of_parameter_has_its_rule_and_some_are_required() {
        let check = |id: &str, text: &str| {
            let params: toml::Table = toml::from_str(text).unwrap();
            validate_params(lookup(id).unwrap(), &params)
        };
        let refused = |id: &str, text: &str, why: &str| {
            let err = check(id, text).unwrap_err();
            assert!(err.contains(why), "{id} {text}: {err}");
        };
        // Errors name the check by its id.
        assert_eq!(CheckId::Run(RunCheck::Memory).to_string(), "RUN-MEMORY");
        refused(
            "RUN-HEALTH",
            "x = 1",
            "RUN-HEALTH takes no parameters (found \"x\")",
        );
        refused(
            "RUN-MEMORY",
            "limit = 1",
            "RUN-MEMORY has no parameter \"limit\"; it takes: max_mb",
        );
        // Whole numbers from zero.
        assert!(check("RUN-MEMORY", "max_mb = 0").is_ok());
        refused(
            "RUN-MEMORY",
            "max_mb = -1",
            "parameter \"max_mb\" must be a whole number ≥ 0",
        );
        // Strings that say something.
        assert!(check("LAB-FILE-ABSENT", "path = \"/x\"").is_ok());
        refused(
            "LAB-FILE-ABSENT",
            "path = \"\"",
            "must be a non-empty string",
        );
        refused("LAB-FILE-ABSENT", "path = 1", "must be a non-empty string");
        // Lists of strings, possibly empty.
        assert!(check("RUN-CAP-DROP-ALL", "allowed = []").is_ok());
        assert!(check("RUN-CAP-DROP-ALL", "allowed = [\"NET_RAW\"]").is_ok());
        refused(
            "RUN-CAP-DROP-ALL",
            "allowed = [\"NET_RAW\", 1]",
            "must be a list of strings",
        );
        refused(
            "RUN-CAP-DROP-ALL",
            "allowed = \"NET_RAW\"",
            "must be a list of strings",
        );
        // A lab check needs its strings, not its lists; a live check needs
        // all but the user; a RUN check needs nothing.
        assert!(check("LAB-NO-SETUID", "").is_ok());
        refused(
            "LAB-FILE-MODE",
            "path = \"/x\"",
            "LAB-FILE-MODE needs the parameter \"max_mode\"",
        );
        assert!(check("LAB-FILE-MODE", "path = \"/x\"\nmax_mode = \"0600\"").is_ok());
        assert!(check(
            "LIVE-ANSWERS",
            "command = [\"cat\", \"/d\"]\nexpect = \"hi\""
        )
        .is_ok());
        refused(
            "LIVE-ANSWERS",
            "expect = \"hi\"",
            "needs the parameter \"command\"",
        );
        refused("LIVE-NAMED-VOLUME", "", "needs the parameter \"path\"");
        assert!(check("RUN-TMPFS-SAFE", "").is_ok());
    }
}
