//! Lab base images, built from `content/images/<name>/` entirely offline.
//!
//! Each directory holds a `Dockerfile`, an `image.toml` and the files the
//! build copies. `image.toml` may name files to take from this machine (such
//! as Debian's static busybox), since no registry can be reached. The whole
//! context is packed as a deterministic tar; its SHA-256 is stored as a label
//! on the image, so building an unchanged image again is a no-op.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    engine::{Engine, EngineError},
    labels,
};

/// Why an image definition could not be read or built.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {message}")]
    Definition { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name}: {source}")]
    Engine { name: String, source: EngineError },
}

/// `image.toml`: what to call the image and which host files it needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageToml {
    /// Image reference, e.g. `drydock/busybox:1`.
    tag: String,
    #[serde(default)]
    description: String,
    /// Context path → absolute path on this machine.
    #[serde(default)]
    host_files: BTreeMap<String, PathBuf>,
    /// Context directory → directory on this machine, copied whole (regular
    /// files, with symbolic links inside it read as the files they name).
    #[serde(default)]
    host_dirs: BTreeMap<String, PathBuf>,
    /// The shared libraries the programs under some host paths need.
    libraries: Option<LibrariesToml>,
    /// Host files and directories left out of `host_dirs` and of the
    /// `libraries` walk (e.g. a module the image does not need, with the
    /// libraries only it links against).
    #[serde(default)]
    exclude: Vec<PathBuf>,
}

/// `[libraries]`: the `ldd` closure of every ELF file under `of`, placed in
/// the context at `<into>/<absolute library path>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LibrariesToml {
    into: String,
    of: Vec<PathBuf>,
}

/// One lab base image definition.
#[derive(Debug, Clone)]
pub struct LabImage {
    /// Directory name under `content/images/`.
    pub name: String,
    pub tag: String,
    pub description: String,
    dir: PathBuf,
    host_files: BTreeMap<String, PathBuf>,
    host_dirs: BTreeMap<String, PathBuf>,
    libraries: Option<LibrariesToml>,
    exclude: Vec<PathBuf>,
}

/// What `build` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutcome {
    Built,
    UpToDate,
}

impl LabImage {
    /// Reads `<dir>/image.toml`.
    pub fn load(dir: &Path) -> Result<Self, ImageError> {
        let path = dir.join("image.toml");
        let text = fs::read_to_string(&path).map_err(|source| ImageError::Io {
            path: path.clone(),
            source,
        })?;
        let def: ImageToml = toml_from_str(&text).map_err(|message| ImageError::Definition {
            path: path.clone(),
            message,
        })?;
        if !dir.join("Dockerfile").is_file() {
            return Err(ImageError::Definition {
                path: dir.to_path_buf(),
                message: "no Dockerfile".into(),
            });
        }
        let targets = def
            .host_files
            .iter()
            .chain(&def.host_dirs)
            .map(|(name, host)| (name.as_str(), host.as_path()))
            .chain(def.libraries.iter().flat_map(|l| {
                l.of.iter()
                    .map(move |host| (l.into.as_str(), host.as_path()))
            }));
        for (name, host) in targets {
            if name.contains("..") || name.starts_with('/') || name.is_empty() {
                return Err(ImageError::Definition {
                    path: path.clone(),
                    message: format!(
                        "host file target {name:?} must be a relative path inside the context"
                    ),
                });
            }
            if !host.is_absolute() {
                return Err(ImageError::Definition {
                    path: path.clone(),
                    message: format!("host file {} must be an absolute path", host.display()),
                });
            }
        }
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| ImageError::Definition {
                path: dir.to_path_buf(),
                message: "bad directory name".into(),
            })?
            .to_string();
        Ok(Self {
            name,
            tag: def.tag,
            description: def.description,
            dir: dir.to_path_buf(),
            host_files: def.host_files,
            host_dirs: def.host_dirs,
            libraries: def.libraries,
            exclude: def.exclude,
        })
    }

    /// Every image under `images_dir`, sorted by name.
    pub fn load_all(images_dir: &Path) -> Result<Vec<Self>, ImageError> {
        let entries = fs::read_dir(images_dir).map_err(|source| ImageError::Io {
            path: images_dir.to_path_buf(),
            source,
        })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("image.toml").is_file())
            .collect();
        dirs.sort();
        dirs.iter().map(|d| Self::load(d)).collect()
    }

    /// The build context as an uncompressed tar with fixed metadata, so the
    /// same inputs always give the same bytes (and the same hash).
    pub fn context_tar(&self) -> Result<Vec<u8>, ImageError> {
        let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
        collect_files(&self.dir, &self.dir, &mut files)?;
        files.remove("image.toml");
        for (name, host) in &self.host_files {
            files.insert(name.clone(), host.clone());
        }
        for (name, host) in &self.host_dirs {
            let mut found = BTreeMap::new();
            collect_host_tree(host, host, &self.exclude, &mut found)?;
            for (rel, path) in found {
                files.insert(format!("{}/{rel}", name.trim_end_matches('/')), path);
            }
        }
        if let Some(libraries) = &self.libraries {
            for lib in library_closure(&libraries.of, &self.exclude)? {
                let rel = lib.to_string_lossy().trim_start_matches('/').to_string();
                files.insert(
                    format!("{}/{rel}", libraries.into.trim_end_matches('/')),
                    lib,
                );
            }
        }
        let mut builder = tar::Builder::new(Vec::new());
        for (name, path) in &files {
            let data = fs::read(path).map_err(|source| ImageError::Io {
                path: path.clone(),
                source,
            })?;
            let mode = file_mode(path);
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(mode);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, name, data.as_slice())
                .map_err(|source| ImageError::Io {
                    path: path.clone(),
                    source,
                })?;
        }
        builder.into_inner().map_err(|source| ImageError::Io {
            path: self.dir.clone(),
            source,
        })
    }

    /// Builds the image unless one built from the same context exists.
    pub async fn build(&self, engine: &Engine) -> Result<BuildOutcome, ImageError> {
        let tar = self.context_tar()?;
        let hash = hex::encode(Sha256::digest(&tar));
        let engine_err = |source| ImageError::Engine {
            name: self.name.clone(),
            source,
        };
        if engine
            .image_label(&self.tag, labels::IMAGE_HASH)
            .await
            .map_err(engine_err)?
            .as_deref()
            == Some(hash.as_str())
        {
            return Ok(BuildOutcome::UpToDate);
        }
        let labels = HashMap::from([
            (labels::IMAGE_HASH.to_string(), hash),
            (labels::IMAGE.to_string(), self.name.clone()),
        ]);
        engine
            .build_image(tar, &self.tag, &labels)
            .await
            .map_err(engine_err)?;
        Ok(BuildOutcome::Built)
    }
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, PathBuf>,
) -> Result<(), ImageError> {
    let entries = fs::read_dir(dir).map_err(|source| ImageError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| ImageError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|source| ImageError::Io {
            path: path.clone(),
            source,
        })?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(rel, path);
        }
        // Symlinks are skipped: a context must not reach outside its directory.
    }
    Ok(())
}

/// Every regular file under a host directory, following symbolic links to
/// files (a library's `libx.so.1 → libx.so.1.2` becomes two copies) and
/// never into directories outside the tree.
fn collect_host_tree(
    root: &Path,
    dir: &Path,
    exclude: &[PathBuf],
    out: &mut BTreeMap<String, PathBuf>,
) -> Result<(), ImageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ImageError::Io { path, source }
    };
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if exclude.iter().any(|x| path.starts_with(x)) {
            continue;
        }
        let link = fs::symlink_metadata(&path).map_err(io(&path))?;
        let meta = fs::metadata(&path);
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        match meta {
            Ok(m) if m.is_dir() && !link.file_type().is_symlink() => {
                collect_host_tree(root, &path, exclude, out)?
            }
            Ok(m) if m.is_file() => {
                out.insert(rel, path);
            }
            // Dangling links and links to directories are left out.
            _ => {}
        }
    }
    Ok(())
}

/// The shared libraries (and the dynamic loader) that the ELF files under
/// `roots` load, as `ldd` resolves them on this machine. `ldd` prints the
/// whole closure for each file, so one pass over the files is enough.
fn library_closure(roots: &[PathBuf], exclude: &[PathBuf]) -> Result<Vec<PathBuf>, ImageError> {
    let mut files = BTreeMap::new();
    for root in roots {
        if root.is_dir() {
            collect_host_tree(root, root, exclude, &mut files)?;
        } else {
            files.insert(root.to_string_lossy().into_owned(), root.clone());
        }
    }
    let mut libs = std::collections::BTreeSet::new();
    for path in files.values() {
        if !is_elf(path) {
            continue;
        }
        let out = std::process::Command::new("ldd")
            .arg(path)
            .output()
            .map_err(|source| ImageError::Io {
                path: path.clone(),
                source,
            })?;
        libs.extend(parse_ldd(&String::from_utf8_lossy(&out.stdout)));
    }
    Ok(libs.into_iter().collect())
}

/// The resolved paths in `ldd` output: `libx.so.1 => /lib/…/libx.so.1 (0x…)`
/// and the loader's own `/lib64/ld-linux-x86-64.so.2 (0x…)`.
fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let target = line.split_once("=>").map_or(line, |(_, t)| t.trim());
            let path = target.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let executable = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if executable {
        0o755
    } else {
        0o644
    }
}

fn toml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_names(tar: &[u8]) -> Vec<String> {
        tar::Archive::new(tar)
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn the_context_is_deterministic_and_includes_host_files() {
        let dir = tempfile::tempdir().unwrap();
        let host = tempfile::NamedTempFile::new().unwrap();
        fs::write(host.path(), "binary").unwrap();
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        write(
            dir.path(),
            "rootfs/etc/passwd",
            "root:x:0:0::/root:/bin/sh\n",
        );
        write(
            dir.path(),
            "image.toml",
            &format!(
                "tag = \"drydock/t:1\"\n[host_files]\n\"bin/tool\" = \"{}\"\n",
                host.path().display()
            ),
        );
        let image = LabImage::load(dir.path()).unwrap();
        let first = image.context_tar().unwrap();
        assert_eq!(first, image.context_tar().unwrap());
        assert_eq!(
            entry_names(&first),
            vec!["Dockerfile", "bin/tool", "rootfs/etc/passwd"]
        );
    }

    #[test]
    fn a_definition_escaping_the_context_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        write(
            dir.path(),
            "image.toml",
            "tag = \"x\"\n[host_files]\n\"../evil\" = \"/bin/sh\"\n",
        );
        let err = LabImage::load(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("relative path inside the context"),
            "{err}"
        );
    }

    #[test]
    fn ldd_output_gives_resolved_libraries_and_the_loader() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibpq.so.5 => /lib/x86_64-linux-gnu/libpq.so.5 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n\tlibgone.so => not found\n";
        assert_eq!(
            parse_ldd(out),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libpq.so.5"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn host_directories_and_library_closures_join_the_context() {
        let dir = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        write(host.path(), "share/data.txt", "data");
        std::os::unix::fs::symlink("data.txt", host.path().join("share/alias")).unwrap();
        std::os::unix::fs::symlink("/", host.path().join("share/escape")).unwrap();
        fs::copy("/bin/busybox", host.path().join("tool")).unwrap();
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        write(
            dir.path(),
            "image.toml",
            &format!(
                "tag = \"drydock/t:1\"\n[host_dirs]\n\"h\" = \"{0}\"\n[libraries]\ninto = \"libs\"\nof = [\"/usr/bin/docker\"]\n",
                host.path().display()
            ),
        );
        let image = LabImage::load(dir.path()).unwrap();
        let names = entry_names(&image.context_tar().unwrap());
        for name in ["h/share/data.txt", "h/share/alias", "h/tool"] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("escape")), "{names:?}");
        // Debian's docker client links libc and the loader, nothing else.
        assert!(
            names.contains(&"libs/lib/x86_64-linux-gnu/libc.so.6".to_string()),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n.starts_with("libs/lib64/ld-linux")),
            "{names:?}"
        );
    }

    #[test]
    fn unknown_keys_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        write(dir.path(), "image.toml", "tag = \"x\"\nnetwork = true\n");
        let err = LabImage::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("network"), "{err}");
    }
}
