//! Quoting for the few control-plane scripts Drydock runs in containers.

/// Single-quotes `s` for a POSIX shell: the result is one word, whatever `s` holds.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(super::quote("it's"), "'it'\\''s'");
    }
}
