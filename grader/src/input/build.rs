//! What a Dockerfile submission must pass before anything of it reaches
//! Docker's classic builder: sizes, context file names, the bases it may
//! start from, and the instructions Drydock never builds.

use std::collections::BTreeMap;

use super::dockerfile::{parse, Dockerfile};

/// Largest Dockerfile, in bytes.
pub const MAX_DOCKERFILE_BYTES: usize = 64 * 1024;
/// Most context files.
pub const MAX_CONTEXT_FILES: usize = 32;
/// Largest total context, in bytes.
pub const MAX_CONTEXT_BYTES: usize = 256 * 1024;

/// A context file name a learner or author may use: relative, plain parts.
pub fn valid_context_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('/')
        && !name.contains('\0')
        && !name.contains('\\')
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Refuses what must not reach the builder; the message says what to fix.
pub fn screen(
    text: &str,
    files: &BTreeMap<String, String>,
    allowed_bases: &[String],
) -> Result<(Dockerfile, Option<String>), String> {
    if text.len() > MAX_DOCKERFILE_BYTES {
        return Err(format!(
            "The Dockerfile is {} KiB; at most {} KiB is accepted.",
            text.len() / 1024,
            MAX_DOCKERFILE_BYTES / 1024
        ));
    }
    if text.trim().is_empty() {
        return Err("The Dockerfile is empty.".into());
    }
    if files.len() > MAX_CONTEXT_FILES {
        return Err(format!(
            "{} context files; at most {MAX_CONTEXT_FILES} are accepted.",
            files.len()
        ));
    }
    let total: usize = files.iter().map(|(n, c)| n.len() + c.len()).sum();
    if total > MAX_CONTEXT_BYTES {
        return Err(format!(
            "The context files add up to {} KiB; at most {} KiB is accepted.",
            total / 1024,
            MAX_CONTEXT_BYTES / 1024
        ));
    }
    for name in files.keys() {
        if !valid_context_name(name) {
            return Err(format!(
                "The context file name {name:?} must be a relative path without '..'."
            ));
        }
        if name == "Dockerfile" {
            return Err("Send the Dockerfile as `dockerfile`, not as a context file.".into());
        }
    }
    let parsed = parse(text).map_err(|e| format!("Dockerfile {e}"))?;
    let mut unbuildable = refused_instructions(&parsed);
    for (line, image) in parsed.external_images() {
        let image = image.trim();
        if image.eq_ignore_ascii_case("scratch") || allowed_bases.iter().any(|b| b == image) {
            continue;
        }
        let repository = |r: &str| r.split(['@', ':']).next().unwrap_or("").to_string();
        if allowed_bases
            .iter()
            .any(|b| repository(b) == repository(image))
        {
            // A known image with another tag: the static checks still say
            // why, but there is nothing local to build from.
            unbuildable.get_or_insert(format!(
                "line {line}: {image} does not exist here (builds have no network); the available tags are {}",
                allowed_bases.join(", ")
            ));
            continue;
        }
        return Err(format!(
            "Dockerfile line {line}: {image:?} is not available here. Builds have no network and may start only from: {}.",
            allowed_bases.join(", ")
        ));
    }
    Ok((parsed, unbuildable))
}

/// Why a parsed Dockerfile must not reach the builder even though its bases
/// are allowed; the static checks still grade it. Shared with every other
/// place that builds an image a learner wrote.
pub fn refused_instructions(parsed: &Dockerfile) -> Option<String> {
    if let Some((line, source)) = parsed.remote_add_sources().into_iter().next() {
        return Some(format!(
            "line {line}: ADD {source} would be fetched by the Docker engine itself, on the build host's network; Drydock never builds that. Put the file in the build context and COPY it"
        ));
    }
    if let Some(inst) = parsed.instructions.iter().find(|i| i.heredoc) {
        return Some(format!(
            "line {}: heredocs (`<<EOF`) need BuildKit, and this server builds with Docker's classic builder, which would read the heredoc's lines as instructions. Write the commands on RUN lines joined with &&",
            inst.line
        ));
    }
    if let Some(inst) = parsed.instructions.iter().find(|i| i.keyword == "ONBUILD") {
        return Some(format!(
            "line {}: ONBUILD instructions run in a later build without being checked; Drydock does not build images that carry them",
            inst.line
        ));
    }
    if let Some((line, dir)) = parsed.workdir_into_proc() {
        return Some(format!(
            "line {line}: WORKDIR {dir} points into /proc; a working directory there is how CVE-2024-21626 escaped the container runtime, so Drydock does not build it. Use an application directory such as /app"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASES: &[&str] = &["drydock/busybox:1"];

    fn bases() -> Vec<String> {
        BASES.iter().map(|b| b.to_string()).collect()
    }

    /// Why `text` is not built (the static checks still grade it).
    fn refusal(text: &str) -> Option<String> {
        screen(text, &BTreeMap::new(), &bases()).unwrap().1
    }

    #[test]
    fn remote_add_sources_are_never_built_in_any_spelling() {
        let spellings = [
            "ADD http://127.0.0.1:9/secret /r",
            "add http://169.254.169.254/latest/meta-data /r",
            "ADD HTTPS://example.invalid/x /r",
            "ADD [\"http://127.0.0.1:9/x\", \"/r\"]",
            "ADD --chown=1:1 http://127.0.0.1:9/x /r",
            "ADD --checksum=sha256:00 local.txt /r",
            "ADD git@example.invalid:org/repo.git /r",
            "ADD ftp://example.invalid/x /r",
            "ADD \"http://127.0.0.1:9/x\" /r",
            "ADD h\\\nttp://127.0.0.1:9/x /r",
            "A\\\nDD http://127.0.0.1:9/x /r",
            "ARG U=http://127.0.0.1:9/x\nADD $U /r",
            "ENV U=http://127.0.0.1:9/x\nADD ${U} /r",
            "ADD local.txt http://127.0.0.1:9/x /dir/",
        ];
        for add in spellings {
            let text = format!("FROM drydock/busybox:1\n{add}\nRUN cat /r; false\n");
            let why = refusal(&text);
            assert!(
                why.as_deref().is_some_and(|w| w.contains("never builds")),
                "{add:?} must not be built: {why:?}"
            );
        }
        assert_eq!(
            refusal("FROM drydock/busybox:1\nADD local.txt /r\nCOPY a b /d/\n"),
            None
        );
    }

    #[test]
    fn heredocs_onbuild_and_proc_workdirs_are_not_built() {
        // The classic builder would read the heredoc's body as instructions.
        let heredoc = "FROM drydock/busybox:1\nRUN <<CMD\nADD http://127.0.0.1:9/x /r\nCMD\n";
        assert!(refusal(heredoc).unwrap().contains("heredocs"));
        let onbuild = "FROM drydock/busybox:1\nONBUILD RUN id\n";
        assert!(refusal(onbuild).unwrap().contains("ONBUILD"));
        for workdir in [
            "WORKDIR /proc/self/fd/7",
            "WORKDIR //proc/self",
            "WORKDIR /app/../proc/1",
            "WORKDIR /\nWORKDIR proc/self/fd/8",
            "ENV D=/proc/self/fd/7\nWORKDIR $D",
            "WORKDIR /PROC/../proc",
        ] {
            let text = format!("FROM drydock/busybox:1\n{workdir}\n");
            assert!(
                refusal(&text).is_some_and(|w| w.contains("CVE-2024-21626")),
                "{workdir:?}"
            );
        }
        assert_eq!(
            refusal("FROM drydock/busybox:1\nWORKDIR /app/procedures\n"),
            None
        );
    }

    fn dockerfile_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop::sample::select(vec![
            "ADD ",
            "add ",
            "COPY ",
            "RUN ",
            "WORKDIR ",
            "ONBUILD ",
            "ARG U=",
            "ENV U=",
            "FROM ",
            "--from=",
            "--checksum=x ",
            "http://",
            "HTTPS://",
            "git@h:r.git",
            "$U",
            "${U}",
            "/proc",
            "proc/self/fd/7",
            "..",
            "/",
            "\\\n",
            "<<EOF",
            "\nEOF",
            " AS ",
            "drydock",
            "0",
            "1",
            "drydock/busybox:1",
            "\"",
            "'",
            "[",
            "]",
            ",",
            " ",
            "\t",
            "\r\n",
            "# escape=`\n",
            "`\n",
        ]);
        prop::collection::vec(piece, 0..12).prop_map(|ps| ps.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: crate::fuzz_cases(1000), ..Default::default() })]

        #[test]
        fn screening_never_panics(lines in proptest::collection::vec(dockerfile_line(), 0..12)) {
            let text = format!("FROM drydock/busybox:1\n{}", lines.join("\n"));
            let _ = screen(&text, &BTreeMap::new(), &bases());
            let _ = screen(&lines.join("\n"), &BTreeMap::new(), &bases());
        }
    }

    #[test]
    fn copy_from_a_stage_that_has_not_finished_is_an_image_name() {
        // `drydock` is the current stage: the engine would read any local
        // image (or pull) by that name.
        let current = "FROM drydock/busybox:1 AS drydock\nCOPY --from=drydock /app/content /c\n";
        let err = screen(current, &BTreeMap::new(), &bases()).unwrap_err();
        assert!(err.to_string().contains("\"drydock\""), "{err}");
        let later = "FROM drydock/busybox:1\nCOPY --from=1 /x /x\nFROM drydock/busybox:1\n";
        assert!(screen(later, &BTreeMap::new(), &bases()).is_err());
        let by_later_name =
            "FROM drydock/busybox:1\nCOPY --from=build /x /x\nFROM drydock/busybox:1 AS build\n";
        assert!(screen(by_later_name, &BTreeMap::new(), &bases()).is_err());
        // Earlier stages, by name or index, and allowed images are fine.
        let earlier = "FROM drydock/busybox:1 AS build\nRUN touch /x\nFROM drydock/busybox:1\nCOPY --from=build /x /x\nCOPY --from=0 /x /y\nCOPY --from=drydock/busybox:1 /bin/sh /z\n";
        assert!(screen(earlier, &BTreeMap::new(), &bases()).is_ok());
    }
}
