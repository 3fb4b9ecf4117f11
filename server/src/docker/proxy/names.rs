//! Names are global on the engine: a session's containers, volumes,
//! networks and images live under a prefix the learner never sees, so two
//! learners can both have a container `web` and an image `myapp:1`.

/// The namespace of one lab session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionNames {
    prefix: String,
}

/// The learner-visible name of the session's own network.
pub const LAB_NETWORK: &str = "lab";

impl SessionNames {
    /// The namespace of lab session `session` (a UUID).
    pub fn of(session: &str) -> Self {
        let hex: String = session
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .map(|c| c.to_ascii_lowercase())
            .take(12)
            .collect();
        Self {
            prefix: format!("dl{hex}"),
        }
    }

    /// `dl<12 hex>`: the start of every engine name of the session.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The engine name of a container, volume or network the learner calls `name`.
    pub fn object(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    /// The engine repository of an image the learner calls `reference`.
    pub fn image(&self, reference: &str) -> String {
        format!("{}/{reference}", self.prefix)
    }

    /// The repository prefix of the session's images (`dl…/`).
    pub fn image_prefix(&self) -> String {
        format!("{}/", self.prefix)
    }

    /// The engine name of the session's own network.
    pub fn network(&self) -> String {
        self.object(LAB_NETWORK)
    }

    /// `text` with the namespace taken out: what the learner sees.
    pub fn strip(&self, text: &str) -> String {
        text.replace(&format!("{}_", self.prefix), "")
            .replace(&format!("{}/", self.prefix), "")
    }

    /// Bytes of a JSON answer with the namespace taken out.
    pub fn strip_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        match std::str::from_utf8(bytes) {
            Ok(text) if text.contains(&self.prefix) => self.strip(text).into_bytes(),
            _ => bytes.to_vec(),
        }
    }
}

/// Whether `prefix` is a session namespace (`dl` and 12 hex digits).
pub fn is_session_prefix(prefix: &str) -> bool {
    prefix.len() == 14
        && prefix.starts_with("dl")
        && prefix[2..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `name` may name a container, volume or network (Docker's own rule).
pub fn valid_object_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Whether `reference` is an image reference a learner may create: lower
/// case path components, an optional tag, nothing under `drydock/`, no
/// registry host and no digest.
pub fn valid_image_reference(reference: &str) -> Result<(), String> {
    let (repo, tag) = split_tag(reference);
    if reference.len() > 128 || repo.is_empty() {
        return Err(format!("{reference:?} is not an image name"));
    }
    if repo == "drydock" || repo.starts_with("drydock/") {
        return Err("names under drydock/ belong to Drydock's own lab images; choose another name, e.g. myapp:1".into());
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
            && c.chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphanumeric())
    };
    if !repo.split('/').all(component_ok) {
        return Err(format!(
            "{reference:?}: image names are lower-case letters, digits, '.', '_' and '-' (e.g. myapp:1); this lab has no registry, so no host name either"
        ));
    }
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !ok {
            return Err(format!(
                "{reference:?}: the tag may use letters, digits, '.', '_' and '-'"
            ));
        }
    }
    Ok(())
}

/// `repo` and `tag` of a reference (the tag is after the last `:` that
/// follows the last `/`).
pub fn split_tag(reference: &str) -> (&str, Option<&str>) {
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], Some(&reference[slash + i + 1..])),
        None => (reference, None),
    }
}

/// A reference as the learner would write it: newer CLIs send names in
/// full (`docker.io/library/app`), and a lab has no registry.
pub fn familiar(reference: &str) -> &str {
    for prefix in [
        "docker.io/library/",
        "index.docker.io/library/",
        "docker.io/",
        "index.docker.io/",
    ] {
        if let Some(rest) = reference.strip_prefix(prefix) {
            return rest;
        }
    }
    reference
}

/// A reference with `:latest` when it has no tag.
pub fn with_tag(reference: &str) -> String {
    match split_tag(reference) {
        (_, Some(_)) => reference.to_string(),
        (repo, None) => format!("{repo}:latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_has_its_own_namespace_and_answers_hide_it() {
        let n = SessionNames::of("1A2b3c4d-5e6f-7a8b-9c0d-0e1f2a3b4c5d");
        assert_eq!(n.prefix(), "dl1a2b3c4d5e6f");
        assert_eq!(n.object("web"), "dl1a2b3c4d5e6f_web");
        assert_eq!(n.image("myapp:1"), "dl1a2b3c4d5e6f/myapp:1");
        assert_eq!(
            n.strip(r#"{"Name":"/dl1a2b3c4d5e6f_web","Image":"dl1a2b3c4d5e6f/myapp:1","Net":"dl1a2b3c4d5e6f_lab"}"#),
            r#"{"Name":"/web","Image":"myapp:1","Net":"lab"}"#
        );
    }

    #[test]
    fn names_follow_dockers_rules_and_drydock_images_are_reserved() {
        assert!(valid_object_name("web-1.app_x"));
        assert!(!valid_object_name("-web"));
        assert!(!valid_object_name("a/b"));
        assert!(valid_image_reference("myapp:1").is_ok());
        assert!(valid_image_reference("team/app").is_ok());
        assert!(valid_image_reference("drydock/busybox:1").is_err());
        assert!(valid_image_reference("drydock").is_err());
        assert!(valid_image_reference("MyApp").is_err());
        assert!(valid_image_reference("registry.example:5000/app").is_err());
        assert_eq!(split_tag("a/b:1"), ("a/b", Some("1")));
        assert_eq!(split_tag("host:5000/a"), ("host:5000/a", None));
        assert_eq!(with_tag("app"), "app:latest");
        assert_eq!(familiar("docker.io/library/app"), "app");
        assert_eq!(familiar("docker.io/team/app"), "team/app");
        assert_eq!(familiar("app"), "app");
    }
}
