//! Lab definitions (`content/labs/<id>.toml`): parsed and validated with the
//! rest of the content, so `drydock content check` and the server agree.

use std::{collections::BTreeMap, path::Path};

use super::{
    loader::{is_id, Loader},
    model::{Lab, LabFileDef},
};
use crate::docker::images::LabImage;

/// Capabilities a lab may add back: Docker's own default set, nothing that
/// reaches the kernel or the host (no SYS_ADMIN, NET_ADMIN, SYS_PTRACE …).
pub const ALLOWED_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Largest seeded file, in bytes.
const MAX_FILE_BYTES: usize = 256 * 1024;

/// Reads every `content/labs/*.toml`; problems go to the loader.
pub(super) fn load_labs(loader: &mut Loader, dir: &Path) -> BTreeMap<String, Lab> {
    let mut labs = BTreeMap::new();
    for found in loader.definitions::<LabFileDef>(dir, "labs", "lab") {
        let (id, shown, text, def) = (found.id.as_str(), found.shown, found.text, found.def);
        let line = |key: &str| -> usize {
            text.lines()
                .position(|l| l.trim_start().starts_with(key))
                .map(|i| i + 1)
                .unwrap_or(1)
        };
        let before = loader.problems.len();
        let mut problem = |key: &str, message: String| loader.problem(&shown, line(key), message);
        if def.title.trim().is_empty() {
            problem("title", "title must not be empty".into());
        }
        if def.summary.trim().is_empty() {
            problem("summary", "summary must not be empty".into());
        }
        if def.welcome.trim().is_empty() {
            problem("welcome", "welcome must not be empty".into());
        }
        if !(1..=480).contains(&def.time_limit_minutes) {
            problem(
                "time_limit_minutes",
                "time_limit_minutes must be between 1 and 480".into(),
            );
        }
        if !(1..=240).contains(&def.idle_minutes) {
            problem(
                "idle_minutes",
                "idle_minutes must be between 1 and 240".into(),
            );
        }
        if def.extend_minutes > 240 {
            problem(
                "extend_minutes",
                "extend_minutes must be between 0 (no extension) and 240".into(),
            );
        }
        if parse_user(&def.user).is_none() {
            problem(
                "user",
                format!(
                    "user {:?} must be numeric uid:gid, for example \"1000:1000\"",
                    def.user
                ),
            );
        }
        for cap in &def.cap_add {
            if cap.starts_with("CAP_") || cap.to_ascii_uppercase() != *cap {
                problem(
                    "cap_add",
                    format!(
                        "capability {cap:?}: write it in upper case without CAP_, e.g. \"CHOWN\""
                    ),
                );
            } else if !ALLOWED_CAPS.contains(&cap.as_str()) {
                problem(
                    "cap_add",
                    format!(
                        "capability {cap:?} is not allowed in labs; allowed: {}",
                        ALLOWED_CAPS.join(", ")
                    ),
                );
            }
        }
        if def.docker && def.network == crate::content::model::LabNetworkKind::Internal {
            problem(
                "network",
                "a lab with docker = true gets a private network of its own; remove network".into(),
            );
        }
        for key in def.env.keys() {
            let valid = key.bytes().enumerate().all(|(i, b)| {
                b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit())
            });
            if key.is_empty() || !valid {
                problem(
                    key,
                    format!("environment variable name {key:?} must be letters, digits and '_'"),
                );
            }
        }
        let r = &def.resources;
        if r.memory_mb.is_some_and(|m| !(16..=1024).contains(&m)) {
            problem("memory_mb", "memory_mb must be between 16 and 1024".into());
        }
        if r.cpus.is_some_and(|c| !(0.1..=2.0).contains(&c)) {
            problem("cpus", "cpus must be between 0.1 and 2.0".into());
        }
        if r.pids.is_some_and(|p| !(16..=1024).contains(&p)) {
            problem("pids", "pids must be between 16 and 1024".into());
        }
        if r.tmpfs_mb.is_some_and(|t| !(1..=256).contains(&t)) {
            problem("tmpfs_mb", "tmpfs_mb must be between 1 and 256".into());
        }
        for file in &def.files {
            let key = format!("path = \"{}\"", file.path);
            if !valid_seed_path(&file.path) {
                problem(
                    &key,
                    format!(
                        "file path {:?} must be absolute, under /home/learner/ or /tmp/, without '..'",
                        file.path
                    ),
                );
            }
            if file.content.len() > MAX_FILE_BYTES {
                problem(&key, format!("file {:?} is larger than 256 KiB", file.path));
            }
            if parse_mode(&file.mode).is_none() {
                problem(
                    &key,
                    format!(
                        "mode {:?} must be octal, such as \"0644\" or \"4755\"",
                        file.mode
                    ),
                );
            }
        }
        for step in &def.setup {
            if step.run.trim().is_empty() {
                problem("run", "a setup step needs a command in `run`".into());
            }
        }
        let image_dir = dir.join("images").join(&def.image);
        let image_tag = if is_id(&def.image) && image_dir.is_dir() {
            match LabImage::load(&image_dir) {
                Ok(image) => image.tag,
                Err(e) => {
                    loader.problem(&shown, line("image"), format!("image {:?}: {e}", def.image));
                    String::new()
                }
            }
        } else {
            loader.problem(
                &shown,
                line("image"),
                format!(
                    "unknown image {:?}: no content/images/{}/ folder",
                    def.image, def.image
                ),
            );
            String::new()
        };
        if loader.problems.len() == before {
            labs.insert(
                id.to_string(),
                Lab {
                    id: id.to_string(),
                    def,
                    image_tag,
                    lessons: Vec::new(),
                },
            );
        }
    }
    labs
}

/// `uid:gid` (or a bare uid) with numbers only.
pub fn parse_user(user: &str) -> Option<(u32, u32)> {
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

/// An octal permission string such as `0644` or `4755`.
pub fn parse_mode(mode: &str) -> Option<u32> {
    if mode.is_empty() || mode.len() > 4 {
        return None;
    }
    u32::from_str_radix(mode, 8).ok()
}

fn valid_seed_path(path: &str) -> bool {
    (path.starts_with("/home/learner/") || path.starts_with("/tmp/"))
        && !path.ends_with('/')
        && !path.split('/').any(|part| part == ".." || part == ".")
        && !path.contains('\0')
        && !path.contains("//")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_paths_stay_in_the_writable_mounts() {
        assert!(valid_seed_path("/home/learner/app/run.sh"));
        assert!(valid_seed_path("/tmp/x"));
        assert!(!valid_seed_path("/etc/passwd"));
        assert!(!valid_seed_path("/home/learner/../../etc/shadow"));
        assert!(!valid_seed_path("/home/learner/"));
        assert!(!valid_seed_path("home/learner/x"));
    }

    #[test]
    fn users_and_modes_parse_strictly() {
        assert_eq!(parse_user("1000:1000"), Some((1000, 1000)));
        assert_eq!(parse_user("1000"), Some((1000, 1000)));
        assert_eq!(parse_user("learner"), None);
        assert_eq!(parse_mode("4755"), Some(0o4755));
        assert_eq!(parse_mode("0644"), Some(0o644));
        assert_eq!(parse_mode("999"), None);
        assert_eq!(parse_mode("17777"), None);
    }
}
