//! `docker cp` into a container: the engine unpacks the archive on the host
//! (the code behind a series of symlink-race CVEs, in an engine past its end
//! of life), so the proxy never hands it the learner's archive. It reads the
//! archive itself, refuses anything that could land outside the target
//! directory, and forwards a new archive it wrote from what it checked:
//! relative paths only, no `..`, links that stay inside, plain files,
//! directories and links only, no setuid bits, bounded in size and entries.

use std::{
    collections::HashSet,
    io::Read,
    path::{Component, Path, PathBuf},
};

use super::server::Refused;

/// Entries one upload may hold.
const MAX_ENTRIES: usize = 10_000;

/// One entry of an archive, checked.
pub struct Checked {
    pub path: PathBuf,
    kind: tar::EntryType,
    mode: u32,
    mtime: u64,
    uid: u64,
    gid: u64,
    pub data: Vec<u8>,
    link: Option<PathBuf>,
}

/// Checks the tar `body` and returns the archive to forward.
pub fn check_upload(body: &[u8]) -> Result<Vec<u8>, Refused> {
    write(&checked_entries(body, "docker cp")?)
}

/// The entries of the tar `body`, each checked (`what` names the command
/// in refusals).
pub fn checked_entries(body: &[u8], what: &str) -> Result<Vec<Checked>, Refused> {
    let refuse = |why: String| {
        Refused::policy(
            format!("{what}: an archive entry"),
            format!("{what} refused: {why}"),
        )
    };
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err(Refused::bad(format!(
            "{what}: send the archive uncompressed (without --compress)"
        )));
    }
    let mut archive = tar::Archive::new(body);
    let entries = archive
        .entries()
        .map_err(|e| Refused::bad(format!("the upload is not a tar archive: {e}")))?;
    let mut out = Vec::new();
    let mut links: HashSet<PathBuf> = HashSet::new();
    for (count, entry) in entries.enumerate() {
        if count >= MAX_ENTRIES {
            return Err(refuse(format!(
                "more than {MAX_ENTRIES} files in one archive"
            )));
        }
        let mut entry =
            entry.map_err(|e| Refused::bad(format!("the upload is not a tar archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| Refused::bad(format!("a name in the upload is not valid: {e}")))?
            .into_owned();
        let path = inside(&path)
            .ok_or_else(|| refuse(format!("{} leaves the target directory", path.display())))?;
        if path.as_os_str().is_empty() {
            continue;
        }
        // A name that passes through a link the archive made could land anywhere.
        if path.ancestors().skip(1).any(|a| links.contains(a)) {
            return Err(refuse(format!(
                "{} goes through a link in the same archive",
                path.display()
            )));
        }
        let header = entry.header();
        let mut checked = Checked {
            path: path.clone(),
            kind: header.entry_type(),
            mode: header.mode().unwrap_or(0o644) & 0o777,
            mtime: header.mtime().unwrap_or(0),
            uid: header.uid().unwrap_or(0),
            gid: header.gid().unwrap_or(0),
            data: Vec::new(),
            link: None,
        };
        match checked.kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                checked.kind = tar::EntryType::Regular;
                checked
                    .data
                    .reserve((entry.size() as usize).min(body.len()));
                entry
                    .read_to_end(&mut checked.data)
                    .map_err(|e| Refused::bad(format!("the upload broke off: {e}")))?;
            }
            tar::EntryType::Directory => {}
            kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .map(|t| t.into_owned())
                    .ok_or_else(|| {
                        refuse(format!("{} is a link without a target", path.display()))
                    })?;
                let resolved = if kind == tar::EntryType::Symlink {
                    if target.is_absolute() {
                        return Err(refuse(format!(
                            "{} links to the absolute path {}",
                            path.display(),
                            target.display()
                        )));
                    }
                    path.parent().unwrap_or(Path::new("")).join(&target)
                } else {
                    target.clone()
                };
                if inside(&resolved).is_none() {
                    return Err(refuse(format!(
                        "{} links to {}, outside the target directory",
                        path.display(),
                        target.display()
                    )));
                }
                links.insert(path.clone());
                checked.link = Some(target);
            }
            other => {
                return Err(refuse(format!(
                    "{} is a {:?} entry; only files, directories and links are accepted",
                    path.display(),
                    other
                )))
            }
        }
        out.push(checked);
    }
    Ok(out)
}

/// A new archive of checked entries (plain headers, no setuid bits).
pub fn write(entries: &[Checked]) -> Result<Vec<u8>, Refused> {
    let broken =
        |e: std::io::Error| Refused::bad(format!("the archive could not be rewritten: {e}"));
    let mut out = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(entry.kind);
        header.set_mode(entry.mode);
        header.set_mtime(entry.mtime);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_size(entry.data.len() as u64);
        match &entry.link {
            Some(target) => out.append_link(&mut header, &entry.path, target),
            None => out.append_data(&mut header, &entry.path, entry.data.as_slice()),
        }
        .map_err(broken)?;
    }
    out.into_inner().map_err(broken)
}

/// `path` without `.` components, if it stays inside the directory it is
/// relative to (no root, no prefix, no `..` above the start).
fn inside(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Whether the directory a copy goes to may be written (`..` and `/proc` may not).
pub fn check_destination(path: &str) -> Result<(), Refused> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.first() == Some(&"proc") || parts.first() == Some(&"sys") || parts.contains(&"..") {
        return Err(Refused::policy(
            "docker cp into /proc",
            format!("docker cp refused: {path} is under /proc or /sys (or climbs with ..); copy into a directory of the container's own files"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o4755);
            // Written raw: tar::Builder would refuse the hostile names itself.
            let bytes = name.as_bytes();
            h.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            match kind {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    h.set_size(0);
                    let l = data.as_bytes();
                    h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
                    h.set_cksum();
                    b.append(&h, std::io::empty()).unwrap();
                }
                _ => {
                    h.set_size(data.len() as u64);
                    h.set_cksum();
                    b.append(&h, data.as_bytes()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn plain_files_pass_rewritten_without_setuid() {
        let ok = tar_of(&[
            ("app/", tar::EntryType::Directory, ""),
            ("app/f.txt", tar::EntryType::Regular, "hi"),
            ("app/l", tar::EntryType::Symlink, "f.txt"),
        ]);
        let out = check_upload(&ok).unwrap();
        let mut a = tar::Archive::new(out.as_slice());
        let modes: Vec<u32> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().header().mode().unwrap())
            .collect();
        assert_eq!(modes.len(), 3);
        assert!(modes.iter().all(|m| m & 0o7000 == 0), "{modes:?}");
    }

    #[test]
    fn names_and_links_that_leave_the_target_are_refused() {
        for hostile in [
            tar_of(&[("/etc/passwd", tar::EntryType::Regular, "x")]),
            tar_of(&[("../../etc/passwd", tar::EntryType::Regular, "x")]),
            tar_of(&[("a/../../b", tar::EntryType::Regular, "x")]),
            tar_of(&[("l", tar::EntryType::Symlink, "/etc")]),
            tar_of(&[("l", tar::EntryType::Symlink, "../../etc")]),
            tar_of(&[("h", tar::EntryType::Link, "../outside")]),
            tar_of(&[
                ("l", tar::EntryType::Symlink, "sub"),
                ("l/x", tar::EntryType::Regular, "x"),
            ]),
            tar_of(&[("dev", tar::EntryType::Char, "")]),
            tar_of(&[("fifo", tar::EntryType::Fifo, "")]),
        ] {
            assert!(check_upload(&hostile).is_err());
        }
        assert!(check_destination("/proc/self").is_err());
        assert!(check_destination("/tmp/../proc").is_err());
        assert!(check_destination("/tmp").is_ok());
    }
}
