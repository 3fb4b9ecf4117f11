//! An image as `docker save` writes it: the config, the history, every
//! layer's files, and the filesystem they add up to. Secrets deleted in a
//! later layer are still in an earlier one, so checks can look at both.

use std::{
    collections::{BTreeMap, HashMap},
    io::Read,
};

use serde::Deserialize;

/// Largest file content kept for inspection (passwd, keys, configs).
const KEEP_CONTENT_BYTES: u64 = 64 * 1024;
/// Most entries (files, directories, whiteouts) read across an image's layers.
pub const MAX_ENTRIES: usize = 100_000;

/// One file or directory in one layer.
#[derive(Debug, Clone)]
pub struct LayerEntry {
    /// Path without a leading `/` or `./`.
    pub path: String,
    pub mode: u32,
    pub is_dir: bool,
    pub size: u64,
    /// Content of small regular files.
    pub content: Option<Vec<u8>>,
}

/// One layer and the instruction that made it.
#[derive(Debug, Clone)]
pub struct Layer {
    pub created_by: String,
    pub entries: Vec<LayerEntry>,
}

/// One entry of the image's history.
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryEntry {
    #[serde(default)]
    pub created_by: String,
    #[serde(default)]
    pub empty_layer: bool,
}

/// A file of the final filesystem and the layer it came from.
#[derive(Debug, Clone)]
pub struct FsEntry {
    pub mode: u32,
    pub is_dir: bool,
    pub layer: usize,
    pub content: Option<Vec<u8>>,
}

/// Everything read from a saved image.
#[derive(Debug, Clone, Default)]
pub struct SavedImage {
    /// `config` of the image config JSON (`User`, `Env`, `Healthcheck` …).
    pub config: serde_json::Value,
    pub history: Vec<HistoryEntry>,
    pub layers: Vec<Layer>,
    pub files: BTreeMap<String, FsEntry>,
}

#[derive(Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

#[derive(Deserialize)]
struct ImageConfigFile {
    #[serde(default)]
    config: serde_json::Value,
    #[serde(default)]
    history: Vec<HistoryEntry>,
}

fn clean(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string()
}

/// `target` of a symlink at `name`, as a clean path from the archive root.
fn resolve_relative(name: &str, target: &str) -> String {
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    if target.starts_with('/') {
        parts.clear();
    }
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Reads a `docker save` tarball.
pub fn read_saved(tar_bytes: &[u8]) -> Result<SavedImage, String> {
    let mut blobs: HashMap<String, Vec<u8>> = HashMap::new();
    // `docker save` stores a layer shared by two history entries once and
    // links the second name to it.
    let mut links: HashMap<String, String> = HashMap::new();
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let name = clean(&entry.path().map_err(|e| e.to_string())?.to_string_lossy());
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.to_string_lossy().into_owned();
                let resolved = if kind.is_symlink() {
                    resolve_relative(&name, &target)
                } else {
                    clean(&target)
                };
                links.insert(name, resolved);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
        blobs.insert(name, data);
    }
    for (name, target) in links {
        if let Some(data) = blobs.get(&target).cloned() {
            blobs.insert(name, data);
        }
    }
    let manifest: Vec<ManifestEntry> = serde_json::from_slice(
        blobs
            .get("manifest.json")
            .ok_or("the saved image has no manifest.json")?,
    )
    .map_err(|e| format!("manifest.json: {e}"))?;
    let manifest = manifest.into_iter().next().ok_or("empty manifest")?;
    let config: ImageConfigFile = serde_json::from_slice(
        blobs
            .get(&clean(&manifest.config))
            .ok_or("the saved image has no config")?,
    )
    .map_err(|e| format!("image config: {e}"))?;
    let made_layers: Vec<String> = config
        .history
        .iter()
        .filter(|h| !h.empty_layer)
        .map(|h| h.created_by.clone())
        .collect();
    let mut layers = Vec::new();
    let mut total_entries = 0usize;
    for (i, name) in manifest.layers.iter().enumerate() {
        let blob = blobs
            .get(&clean(name))
            .ok_or_else(|| format!("layer {name} is missing"))?;
        let mut entries = Vec::new();
        let mut layer_tar = tar::Archive::new(blob.as_slice());
        for entry in layer_tar.entries().map_err(|e| e.to_string())? {
            total_entries += 1;
            if total_entries > MAX_ENTRIES {
                return Err(format!(
                    "the image holds more than {MAX_ENTRIES} files and whiteouts across its layers; Drydock does not read it"
                ));
            }
            let mut entry = entry.map_err(|e| e.to_string())?;
            let header = entry.header();
            let kind = header.entry_type();
            let mode = header.mode().unwrap_or(0);
            let size = header.size().unwrap_or(0);
            let path = clean(&entry.path().map_err(|e| e.to_string())?.to_string_lossy());
            let content = if kind.is_file() && size <= KEEP_CONTENT_BYTES {
                let mut data = Vec::new();
                entry.read_to_end(&mut data).map_err(|e| e.to_string())?;
                Some(data)
            } else {
                None
            };
            entries.push(LayerEntry {
                path,
                mode,
                is_dir: kind.is_dir(),
                size,
                content,
            });
        }
        layers.push(Layer {
            created_by: made_layers.get(i).cloned().unwrap_or_default(),
            entries,
        });
    }
    let files = flatten(&layers);
    Ok(SavedImage {
        config: config.config,
        history: config.history,
        layers,
        files,
    })
}

/// Applies the layers in order, honouring whiteouts.
fn flatten(layers: &[Layer]) -> BTreeMap<String, FsEntry> {
    let mut files: BTreeMap<String, FsEntry> = BTreeMap::new();
    for (index, layer) in layers.iter().enumerate() {
        for entry in &layer.entries {
            let (dir, name) = entry.path.rsplit_once('/').unwrap_or(("", &entry.path));
            // Whiteouts remove a key range (the sorted map finds it in log
            // time): a layer full of whiteouts costs what its entries cost.
            if name == ".wh..wh..opq" {
                let prefix = format!("{dir}/");
                let doomed: Vec<String> = files
                    .range(prefix.clone()..)
                    .take_while(|(p, _)| p.starts_with(&prefix))
                    .filter(|(_, f)| f.layer < index)
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in doomed {
                    files.remove(&p);
                }
                continue;
            }
            if let Some(deleted) = name.strip_prefix(".wh.") {
                let target = if dir.is_empty() {
                    deleted.to_string()
                } else {
                    format!("{dir}/{deleted}")
                };
                files.remove(&target);
                let prefix = format!("{target}/");
                let doomed: Vec<String> = files
                    .range(prefix.clone()..)
                    .take_while(|(p, _)| p.starts_with(&prefix))
                    .map(|(p, _)| p.clone())
                    .collect();
                for p in doomed {
                    files.remove(&p);
                }
                continue;
            }
            if entry.path.is_empty() {
                continue;
            }
            files.insert(
                entry.path.clone(),
                FsEntry {
                    mode: entry.mode,
                    is_dir: entry.is_dir,
                    layer: index,
                    content: entry.content.clone(),
                },
            );
        }
    }
    files
}

impl SavedImage {
    /// A small text file of the final filesystem.
    pub fn text(&self, path: &str) -> Option<String> {
        self.files
            .get(path)
            .and_then(|f| f.content.as_ref())
            .map(|c| String::from_utf8_lossy(c).into_owned())
    }

    /// The instruction that made layer `index`, shortened for messages.
    pub fn instruction(&self, index: usize) -> String {
        let raw = self
            .layers
            .get(index)
            .map(|l| l.created_by.as_str())
            .unwrap_or("");
        let shown = raw
            .trim_start_matches("/bin/sh -c ")
            .trim_start_matches("#(nop) ")
            .trim();
        let shown: String = shown.chars().take(120).collect();
        format!("layer {} ({shown})", index + 1)
    }

    /// A string field of the config, e.g. `User`.
    pub fn config_str(&self, key: &str) -> String {
        self.config
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, u32)]) -> Layer {
        Layer {
            created_by: String::new(),
            entries: entries
                .iter()
                .map(|(p, m)| LayerEntry {
                    path: p.to_string(),
                    mode: *m,
                    is_dir: false,
                    size: 0,
                    content: None,
                })
                .collect(),
        }
    }

    #[test]
    fn shared_layers_resolve_through_relative_links() {
        assert_eq!(
            resolve_relative("abc/layer.tar", "../def/layer.tar"),
            "def/layer.tar"
        );
        assert_eq!(
            resolve_relative("abc/layer.tar", "/x/layer.tar"),
            "x/layer.tar"
        );
    }

    #[test]
    fn whiteouts_remove_files_from_the_final_filesystem_only() {
        let layers = vec![
            layer(&[
                ("app/id_rsa", 0o600),
                ("bin/tool", 0o4755),
                ("etc/x/a", 0o644),
            ]),
            layer(&[
                ("app/.wh.id_rsa", 0),
                ("etc/x/.wh..wh..opq", 0),
                ("etc/x/b", 0o644),
            ]),
            layer(&[("bin/tool", 0o755)]),
        ];
        let files = flatten(&layers);
        assert!(!files.contains_key("app/id_rsa"));
        assert!(!files.contains_key("etc/x/a"));
        assert!(files.contains_key("etc/x/b"));
        assert_eq!(files["bin/tool"].mode, 0o755);
        assert_eq!(files["bin/tool"].layer, 2);
    }
}
