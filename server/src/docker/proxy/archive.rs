//! `docker cp` into a container: the engine unpacks the archive on the host
//! (the code behind a series of symlink-race CVEs, in an engine past its end
//! of life), so the proxy never hands it the learner's archive. It reads the
//! archive itself, refuses anything that could land outside the target
//! directory, and forwards a new archive it wrote from what it checked:
//! relative paths only, no `..`, links that stay inside, plain files,
//! directories and links only, no setuid bits, bounded in size and entries.
//!
//! Uploads never sit whole in memory: the request body is spooled to an
//! unnamed temporary file (gone with its handle, whatever happens), read
//! from there, and the new archive is written to another such file that is
//! streamed to the engine.

use std::{
    collections::HashSet,
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Component, Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::AsyncWriteExt;

use super::server::Refused;

/// How long one upload may take to arrive.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// Writes a request body to an unnamed temporary file, refusing more than
/// `cap` bytes; the file is read from its start.
///
/// An upload over `cap` is read on, and dropped, up to `cap` bytes more
/// before the refusal is sent: a client still sending when the connection
/// closes gets a broken pipe instead of the answer (`docker cp` then shows
/// a connection error, not "larger than").
pub async fn spool(body: Incoming, cap: usize) -> Result<File, Refused> {
    let file = tempfile::tempfile()
        .map_err(|e| Refused::engine(format!("no room for the upload: {e}")))?;
    let mut out = tokio::fs::File::from_std(file);
    let mut body = body;
    let mut total = 0usize;
    let too_large = || Refused::bad(format!("the upload is larger than {} MiB", cap >> 20));
    let receive = async {
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(frame) => frame,
                Err(_) if total > cap => break,
                Err(e) => return Err(Refused::bad(format!("the upload broke off: {e}"))),
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total += data.len();
            if total > cap {
                if total - cap > cap {
                    break;
                }
                continue;
            }
            out.write_all(&data)
                .await
                .map_err(|e| Refused::engine(format!("the upload could not be stored: {e}")))?;
        }
        if total > cap {
            return Err(too_large());
        }
        out.flush()
            .await
            .map_err(|e| Refused::engine(format!("the upload could not be stored: {e}")))
    };
    match tokio::time::timeout(UPLOAD_TIMEOUT, receive).await {
        Ok(result) => result?,
        Err(_) if total > cap => return Err(too_large()),
        Err(_) => return Err(Refused::bad("the upload came too slowly")),
    }
    let mut file = out.into_std().await;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Refused::engine(format!("the upload could not be read back: {e}")))?;
    Ok(file)
}

/// A file's contents, streamed as a request body.
pub fn file_body(file: File) -> crate::docker::http::OutBody {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::from_std(file);
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 << 10];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(hyper::body::Frame::data(Bytes::from(buf))), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    BodyExt::boxed(http_body_util::StreamBody::new(chunks))
}

/// Where an entry's contents come from.
enum Data {
    /// None (directories, links).
    Empty,
    /// A run of the spooled upload.
    Upload { offset: u64, size: u64 },
    /// Bytes Drydock wrote (the build's generated Dockerfile).
    Bytes(Vec<u8>),
}

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
    data: Data,
    link: Option<PathBuf>,
}

impl Checked {
    /// The entry's size in bytes.
    pub fn size(&self) -> u64 {
        match &self.data {
            Data::Empty => 0,
            Data::Upload { size, .. } => *size,
            Data::Bytes(b) => b.len() as u64,
        }
    }

    /// The entry's contents (read from the upload `src`).
    pub fn read(&self, src: &mut File) -> std::io::Result<Vec<u8>> {
        match &self.data {
            Data::Empty => Ok(Vec::new()),
            Data::Bytes(b) => Ok(b.clone()),
            Data::Upload { offset, size } => {
                src.seek(SeekFrom::Start(*offset))?;
                let mut out = Vec::with_capacity(*size as usize);
                src.take(*size).read_to_end(&mut out)?;
                Ok(out)
            }
        }
    }

    /// Replaces the entry's contents.
    pub fn set(&mut self, bytes: Vec<u8>) {
        self.data = Data::Bytes(bytes);
    }
}

/// Checks the spooled tar `src` and returns the archive to forward.
pub fn check_upload(mut src: File) -> Result<File, Refused> {
    let entries = checked_entries(&mut src, "docker cp")?;
    write(&entries, &mut src)
}

/// The entries of the spooled tar `src`, each checked (`what` names the
/// command in refusals).
pub fn checked_entries(src: &mut File, what: &str) -> Result<Vec<Checked>, Refused> {
    let refuse = |why: String| {
        Refused::policy(
            format!("{what}: an archive entry"),
            format!("{what} refused: {why}"),
        )
    };
    let unreadable = |e: std::io::Error| Refused::bad(format!("the upload could not be read: {e}"));
    let mut magic = [0u8; 2];
    let got = src.read(&mut magic).map_err(unreadable)?;
    if got == 2 && magic == [0x1f, 0x8b] {
        return Err(Refused::bad(format!(
            "{what}: send the archive uncompressed (without --compress)"
        )));
    }
    src.seek(SeekFrom::Start(0)).map_err(unreadable)?;
    let mut archive = tar::Archive::new(&*src);
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
        let entry =
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
            data: Data::Empty,
            link: None,
        };
        match checked.kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                checked.kind = tar::EntryType::Regular;
                // Read later, straight from the spooled upload.
                checked.data = Data::Upload {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                };
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

/// A new archive of checked entries (plain headers, no setuid bits),
/// written to an unnamed temporary file and read from its start; file
/// contents are copied from the upload `src`.
pub fn write(entries: &[Checked], src: &mut File) -> Result<File, Refused> {
    let broken =
        |e: std::io::Error| Refused::bad(format!("the archive could not be rewritten: {e}"));
    let file = tempfile::tempfile().map_err(broken)?;
    let mut out = tar::Builder::new(file);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(entry.kind);
        header.set_mode(entry.mode);
        header.set_mtime(entry.mtime);
        header.set_uid(entry.uid);
        header.set_gid(entry.gid);
        header.set_size(entry.size());
        match (&entry.link, &entry.data) {
            (Some(target), _) => out.append_link(&mut header, &entry.path, target),
            (None, Data::Empty) => out.append_data(&mut header, &entry.path, std::io::empty()),
            (None, Data::Bytes(b)) => out.append_data(&mut header, &entry.path, b.as_slice()),
            (None, Data::Upload { offset, size }) => {
                src.seek(SeekFrom::Start(*offset)).map_err(broken)?;
                let mut part = (&*src).take(*size);
                out.append_data(&mut header, &entry.path, &mut part)
            }
        }
        .map_err(broken)?;
    }
    let mut file = out.into_inner().map_err(broken)?;
    file.seek(SeekFrom::Start(0)).map_err(broken)?;
    Ok(file)
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

    fn tar_of(entries: &[(&str, tar::EntryType, &str)]) -> File {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&tar_bytes(entries)).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        file
    }

    fn tar_bytes(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
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
        let out = check_upload(ok).unwrap();
        let mut a = tar::Archive::new(out);
        let mut modes = Vec::new();
        let mut text = String::new();
        for entry in a.entries().unwrap() {
            let mut entry = entry.unwrap();
            modes.push(entry.header().mode().unwrap());
            if entry.path().unwrap().ends_with("f.txt") {
                entry.read_to_string(&mut text).unwrap();
            }
        }
        assert_eq!(modes.len(), 3);
        assert!(modes.iter().all(|m| m & 0o7000 == 0), "{modes:?}");
        assert_eq!(text, "hi", "contents are copied from the upload");
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
            assert!(check_upload(hostile).is_err());
        }
        assert!(check_destination("/proc/self").is_err());
        assert!(check_destination("/tmp/../proc").is_err());
        assert!(check_destination("/tmp").is_ok());
    }
}
