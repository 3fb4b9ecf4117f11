//! Heuristics that decide whether a variable name, a value or a file name
//! looks like a credential. Every function returns a short human reason.
//!
//! Names are split into tokens (on `_`, `-`, `.`, other punctuation and
//! camelCase boundaries), upper-cased and leetspeak-normalised
//! (4→A, 3→E, 0→O, 1→I or L, 5→S, 7→T, $→S, @→A) before matching.
//! Names ending in a "pointer" word such as `_FILE`, `_PATH`, `_URL`,
//! `_TYPE` (e.g. `POSTGRES_PASSWORD_FILE`) are not secrets themselves;
//! exactly `PWD`/`OLDPWD` (working directory) are excluded; `GPG_KEY`-style
//! fingerprints are not matched because a bare `KEY` is not a secret word.

/// Words that, as the last token of a name, mean the variable points at or
/// describes a secret rather than holding one.
const POINTER_SUFFIXES: &[&str] = &[
    "FILE",
    "PATH",
    "DIR",
    "URL",
    "URI",
    "ENDPOINT",
    "HOST",
    "PORT",
    "TYPE",
    "METHOD",
    "MODE",
    "ENABLED",
    "DISABLED",
    "ENABLE",
    "PROVIDER",
    "LENGTH",
    "POLICY",
    "TTL",
    "TIMEOUT",
    "EXPIRY",
    "HEADER",
    "ISSUER",
    "REALM",
    "LOCATION",
    "ALGORITHM",
    "SCHEME",
    "STRATEGY",
];

fn split_name_tokens(name: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '$' || c == '@' {
            if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_ascii_lowercase();
            cur.push(c.to_ascii_uppercase());
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

fn leet(token: &str, one: char) -> String {
    token
        .chars()
        .map(|c| match c {
            '4' | '@' => 'A',
            '3' => 'E',
            '0' => 'O',
            '1' => one,
            '5' | '$' => 'S',
            '7' => 'T',
            other => other,
        })
        .collect()
}

fn name_reason(tokens: &[String]) -> Option<&'static str> {
    let compact: String = tokens.concat();
    let has = |t: &str| tokens.iter().any(|x| x == t);
    if compact.contains("PASSWORD")
        || compact.contains("PASSWD")
        || compact.contains("PASSPHRASE")
        || compact.contains("PASSWRD")
    {
        return Some("name contains PASSWORD");
    }
    if has("PASS") || has("PW") || has("PWD") || has("PSWD") || has("PASSW") {
        return Some("name looks like a password (PASS/PW)");
    }
    if compact.contains("SECRET") {
        return Some("name contains SECRET");
    }
    if compact.contains("TOKEN") {
        return Some("name contains TOKEN");
    }
    if compact.contains("APIKEY") {
        return Some("name contains API_KEY");
    }
    if compact.contains("ACCESSKEY") {
        return Some("name contains ACCESS_KEY");
    }
    if compact.contains("PRIVATEKEY") {
        return Some("name contains PRIVATE_KEY");
    }
    if compact.contains("CREDENTIAL") || has("CREDS") || has("CRED") {
        return Some("name contains CREDENTIAL");
    }
    if has("AUTH") || compact.contains("AUTHKEY") || has("BEARER") {
        return Some("name contains AUTH");
    }
    for k in [
        "SSHKEY",
        "SIGNINGKEY",
        "ENCRYPTIONKEY",
        "MASTERKEY",
        "CLIENTKEY",
        "LICENSEKEY",
    ] {
        if compact.contains(k) {
            return Some("name looks like a key (…_KEY)");
        }
    }
    None
}

/// Why a variable name looks like it holds a credential, if it does.
pub fn secret_name(name: &str) -> Option<&'static str> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "PWD" || upper == "OLDPWD" {
        return None;
    }
    // A name ending in a pointer word points at a secret (a lone pointer
    // word is no secret either).
    let points = |tokens: &[String]| {
        tokens
            .last()
            .is_some_and(|last| POINTER_SUFFIXES.contains(&last.as_str()))
    };
    let tokens = split_name_tokens(name.trim());
    if points(&tokens) {
        return None;
    }
    if let Some(r) = name_reason(&tokens) {
        return Some(r);
    }
    for one in ['I', 'L'] {
        let normal: Vec<String> = tokens.iter().map(|t| leet(t, one)).collect();
        if points(&normal) {
            return None;
        }
        if let Some(r) = name_reason(&normal) {
            return Some(r);
        }
    }
    None
}

fn run_len(s: &str, ok: impl Fn(char) -> bool) -> usize {
    s.chars().take_while(|&c| ok(c)).count()
}

fn is_b64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Finds `prefix` followed by at least `min` chars accepted by `ok`.
fn prefixed(s: &str, prefix: &str, min: usize, ok: impl Fn(char) -> bool + Copy) -> bool {
    let mut start = 0;
    while let Some(pos) = s.get(start..).and_then(|t| t.find(prefix)) {
        let at = start + pos;
        let rest = &s[at + prefix.len()..];
        // prefix should start a token
        let boundary = s[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if boundary && run_len(rest, ok) >= min {
            return true;
        }
        start = at + prefix.len();
    }
    false
}

fn shannon_entropy(s: &str) -> f64 {
    let mut counts: std::collections::HashMap<char, usize> = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_insert(0) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

fn url_with_password(s: &str) -> bool {
    let mut start = 0;
    while let Some(pos) = s.get(start..).and_then(|t| t.find("://")) {
        let at = start + pos + 3;
        let rest = &s[at..];
        let authority_end = rest
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"' || c == '\''
            })
            .unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at_pos) = authority.rfind('@') {
            let userinfo = &authority[..at_pos];
            if let Some((user, pw)) = userinfo.split_once(':') {
                let var_only = pw.starts_with('$');
                if !user.is_empty() && !pw.is_empty() && !var_only {
                    return true;
                }
            }
        }
        start = at;
    }
    false
}

fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[0].len() >= 10
        && parts[1].len() >= 10
        && parts.iter().all(|p| p.chars().all(is_b64url))
}

/// Paths, URLs, versions, digests and the like are never "high entropy secrets".
fn benign_token(t: &str) -> bool {
    if t.starts_with('/')
        || t.starts_with("./")
        || t.starts_with("../")
        || t.starts_with('~')
        || t.starts_with('$')
        || t.contains("://")
        || t.contains("sha256:")
        || t.contains("sha512:")
    {
        return true;
    }
    // segmented strings (versions, uuids, image refs, file names, paths)
    let parts: Vec<&str> = t
        .split(['.', '-', '_', '+', '~', ':', '/', '@'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.len() >= 3 && parts.iter().all(|p| p.chars().count() <= 12) {
        return true;
    }
    // a path of word-like segments
    if t.contains('/') && !t.contains('+') && !t.contains('=') {
        let segs: Vec<&str> = t.split('/').collect();
        if segs.len() >= 2 && segs.iter().all(|s| s.chars().count() <= 16) {
            return true;
        }
    }
    // pure hex (digests, checksums, GPG fingerprints)
    if t.chars().all(|c| c.is_ascii_hexdigit()) {
        return true;
    }
    false
}

fn high_entropy(t: &str) -> bool {
    if t.chars().count() < 20 || benign_token(t) {
        return false;
    }
    let lower = t.chars().any(|c| c.is_ascii_lowercase());
    let upper = t.chars().any(|c| c.is_ascii_uppercase());
    let digit = t.chars().any(|c| c.is_ascii_digit());
    let other = t.chars().any(|c| !c.is_ascii_alphanumeric());
    let classes = [lower, upper, digit, other].iter().filter(|b| **b).count();
    classes >= 3 && (digit || other) && shannon_entropy(t) >= 3.5
}

/// Why a value looks like a credential, if it does. Empty values never do.
pub fn secret_value(value: &str) -> Option<&'static str> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.contains("-----BEGIN") && v.contains("PRIVATE KEY") {
        return Some("contains a private key");
    }
    let upper_digit = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit();
    if prefixed(v, "AKIA", 16, upper_digit) || prefixed(v, "ASIA", 16, upper_digit) {
        return Some("looks like an AWS access key id");
    }
    for p in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        if prefixed(v, p, 20, |c| c.is_ascii_alphanumeric()) {
            return Some("looks like a GitHub token");
        }
    }
    if prefixed(v, "github_pat_", 20, is_b64url) {
        return Some("looks like a GitHub token");
    }
    if prefixed(v, "glpat-", 20, is_b64url) {
        return Some("looks like a GitLab token");
    }
    for p in ["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"] {
        if prefixed(v, p, 10, |c| c.is_ascii_alphanumeric() || c == '-') {
            return Some("looks like a Slack token");
        }
    }
    for p in ["sk_live_", "sk_test_", "rk_live_", "rk_test_"] {
        if prefixed(v, p, 10, |c| c.is_ascii_alphanumeric()) {
            return Some("looks like a Stripe key");
        }
    }
    if prefixed(v, "AIza", 30, is_b64url) {
        return Some("looks like a Google API key");
    }
    if prefixed(v, "npm_", 30, |c| c.is_ascii_alphanumeric()) {
        return Some("looks like an npm token");
    }
    if url_with_password(v) {
        return Some("URL contains a user:password");
    }
    let tokens = v
        .split(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    '"' | '\'' | ',' | ';' | '(' | ')' | '<' | '>' | '|' | '`' | '='
                )
        })
        .filter(|t| !t.is_empty());
    let mut high = false;
    for t in tokens {
        if t.contains("eyJ") {
            let start = t.find("eyJ").unwrap_or(0);
            if looks_like_jwt(&t[start..]) {
                return Some("looks like a JSON Web Token");
            }
        }
        if high_entropy(t) {
            high = true;
        }
    }
    if high {
        return Some("looks like a random secret (long, high-entropy string)");
    }
    None
}

/// Why a file name or path looks like it holds credentials, if it does.
pub fn secret_file_name(path: &str) -> Option<&'static str> {
    let p = path.trim().trim_matches(|c| c == '"' || c == '\'');
    let p = p.trim_end_matches(['/', '\\']);
    let lower = p.to_ascii_lowercase().replace('\\', "/");
    let base = lower.rsplit('/').next().unwrap_or(&lower);
    if base.is_empty() {
        return None;
    }
    if base.ends_with(".pub") {
        return None;
    }
    for k in ["id_rsa", "id_ed25519", "id_ecdsa", "id_dsa"] {
        if base == k || base.starts_with(&format!("{k}_")) || base.starts_with(&format!("{k}.")) {
            return Some("SSH private key");
        }
    }
    if lower.ends_with(".aws/credentials") {
        return Some("AWS credentials file");
    }
    if lower.ends_with(".docker/config.json") {
        return Some("Docker registry credentials");
    }
    if lower.ends_with(".kube/config") {
        return Some("Kubernetes credentials");
    }
    match base {
        ".netrc" | "_netrc" => return Some("netrc credentials file"),
        ".npmrc" => return Some("npm credentials file (.npmrc)"),
        ".pypirc" => return Some("PyPI credentials file (.pypirc)"),
        ".git-credentials" => return Some("git credentials file"),
        ".pgpass" => return Some("PostgreSQL password file"),
        ".vault-token" => return Some("Vault token file"),
        "htpasswd" | ".htpasswd" => return Some("htpasswd password file"),
        "credentials.json" | "service-account.json" => return Some("credentials file"),
        "secrets.yml" | "secrets.yaml" | "secrets.json" | "secrets.toml" | ".secrets" => {
            return Some("secrets file")
        }
        ".env" => return Some("dotenv file"),
        _ => {}
    }
    if let Some(suffix) = base.strip_prefix(".env.") {
        if !matches!(
            suffix,
            "example" | "sample" | "template" | "dist" | "defaults"
        ) {
            return Some("dotenv file");
        }
    }
    let ext = base.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "pem" => Some("PEM file (may hold a private key)"),
        "key" => Some("private key file"),
        "p12" | "pfx" => Some("PKCS#12 key store"),
        "jks" | "keystore" => Some("Java key store"),
        "kdbx" => Some("KeePass password database"),
        "ppk" => Some("PuTTY private key"),
        _ => None,
    }
}

/// `-----BEGIN … PRIVATE KEY-----` within the first 64 KiB.
pub fn contains_private_key(bytes: &[u8]) -> bool {
    let window = &bytes[..bytes.len().min(64 * 1024)];
    let begin = b"-----BEGIN";
    let end = b"PRIVATE KEY-----";
    let mut i = 0;
    while i + begin.len() <= window.len() {
        if &window[i..i + begin.len()] == begin {
            // the label must be on the same line, within 100 bytes
            let rest = &window[i + begin.len()..];
            let limit = rest.len().min(100);
            let line = &rest[..limit];
            let line = match line.iter().position(|&b| b == b'\n') {
                Some(n) => &line[..n],
                None => line,
            };
            if line.windows(end.len()).any(|w| w == end) {
                return true;
            }
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_positive() {
        for n in [
            "PASSWORD",
            "DB_PASSWORD",
            "MYSQL_ROOT_PASSWORD",
            "passwd",
            "P4SS",
            "PASS",
            "DB_PW",
            "DB_PWD",
            "S3CRET",
            "CLIENT_SECRET",
            "T0KEN",
            "NPM_TOKEN",
            "GITHUB_TOKEN",
            "PASSW0RD",
            "API_KEY",
            "apiKey",
            "API_K3Y",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "PRIVATE_KEY",
            "GCP_CREDENTIALS",
            "AUTH",
            "BASIC_AUTH",
            "dbPassword",
            "SSH_KEY",
            "PA55WORD",
            "SECRET_KEY_BASE",
        ] {
            assert!(secret_name(n).is_some(), "{n} should be a secret name");
        }
        assert_eq!(secret_name("DB_PASSWORD"), Some("name contains PASSWORD"));
    }

    #[test]
    fn each_spelling_of_a_secret_word_gives_its_reason() {
        let password = "name contains PASSWORD";
        let pass = "name looks like a password (PASS/PW)";
        for (name, reason) in [
            ("DB_PASSWD", password),
            ("GPG_PASSPHRASE", password),
            ("PASSWRD", password),
            ("PA$$WORD", password),
            ("P@SSWORD", password),
            ("DB_PASS", pass),
            ("dbPass", pass),
            ("DB_PW", pass),
            ("DB_PWD", pass),
            ("DB_PSWD", pass),
            ("DB_PASSW", pass),
            ("AWS_CREDS", "name contains CREDENTIAL"),
            ("GIT_CRED", "name contains CREDENTIAL"),
            ("HTTP_AUTH", "name contains AUTH"),
            ("X_AUTHKEY", "name contains AUTH"),
            ("BEARER", "name contains AUTH"),
            ("PROXY_BEARER", "name contains AUTH"),
        ] {
            assert_eq!(secret_name(name), Some(reason), "{name}");
        }
        // A pointer word ends the name; alone it is no secret either.
        assert_eq!(secret_name("S3CRET_FILE"), None);
        assert_eq!(secret_name("FILE"), None);
    }

    #[test]
    fn values_are_cut_into_words_before_they_are_judged() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        for text in [
            format!("{jwt} expires tomorrow"),
            format!("token=\"{jwt}\""),
            format!("Authorization: Bearer {jwt}"),
        ] {
            assert_eq!(
                secret_value(&text),
                Some("looks like a JSON Web Token"),
                "{text}"
            );
        }
        // A header alone is not a key, nor the words without the header.
        assert_eq!(secret_value("-----BEGIN CERTIFICATE-----"), None);
        assert_eq!(secret_value("where is my PRIVATE KEY"), None);
        // Slack tokens run on across their dashes.
        assert_eq!(
            secret_value("xoxb-12345-67890-abcdef"),
            Some("looks like a Slack token")
        );
        // Long words of mixed case alone are not random.
        assert_eq!(secret_value("AbCdEfGhIjKlMnOpQrStUvWx"), None);
    }

    #[test]
    fn key_files_are_known_with_quotes_suffixes_and_copies() {
        for path in [
            "\"id_rsa\"",
            "'/root/.ssh/id_rsa'",
            "id_rsa.bak",
            "id_ed25519_old",
            "keys/id_ecdsa",
        ] {
            assert_eq!(secret_file_name(path), Some("SSH private key"), "{path}");
        }
        assert_eq!(secret_file_name("id_rsa.pub"), None);
        assert_eq!(secret_file_name("id_rsakey_notes.txt"), None);
    }

    #[test]
    fn names_negative() {
        for n in [
            "PWD",
            "OLDPWD",
            "PATH",
            "HOME",
            "NODE_VERSION",
            "PASSENGER_VERSION",
            "AUTHOR",
            "COMPASS_HOME",
            "GPG_KEY",
            "POSTGRES_PASSWORD_FILE",
            "TOKEN_URL",
            "LANG",
            "PYTHON_SHA256",
            "KEYBOARD",
            "DEBIAN_FRONTEND",
            "",
            "AUTH_TYPE",
            "BYPASS",
        ] {
            assert!(
                secret_name(n).is_none(),
                "{n} should not be a secret name: {:?}",
                secret_name(n)
            );
        }
    }

    #[test]
    fn values_positive() {
        let cases = [
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE...", "private key"),
            ("AKIAIOSFODNN7EXAMPLE", "AWS"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "GitHub"),
            ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "GitHub"),
            ("xoxb-123456789012-abcdefghij", "Slack"),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "Stripe"),
            ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "Stripe"),
            ("AIzaSyA-1234567890abcdefghijklmnopqrstu", "Google"),
            ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "JSON Web Token"),
            ("https://deploy:hunter2@git.example.com/repo.git", "user:password"),
            ("x9Kq2LmZ7vR4tP8wN3yB", "high-entropy"),
            ("Bearer aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW", "high-entropy"),
        ];
        for (v, want) in cases {
            let r = secret_value(v).unwrap_or_else(|| panic!("{v} should be secret"));
            assert!(r.contains(want), "{v}: {r}");
        }
    }

    #[test]
    fn values_negative() {
        for v in [
            "",
            "   ",
            "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "/opt/MyApplication-2.1.0/lib/python3.12/site-packages",
            "https://deb.nodesource.com/setup_20.x",
            "https://user@example.com/path",
            "https://user:${TOKEN}@example.com/",
            "1.2.3",
            "3.12.4-bookworm",
            "v20.11.1-linux-x64",
            "sha256:2d3f1a5e8b9c0d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e",
            "alpine:3.20@sha256:2d3f1a5e8b9c0d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e",
            "A035C8C19219BA821ECEA86B64E628F8D684696D",
            "noninteractive",
            "hello world this is ordinary text",
            "en_US.UTF-8",
            "production",
            "550e8400-e29b-41d4-a716-446655440000",
            "docker.io/library/node:20-alpine",
            "PYTHONDONTWRITEBYTECODE",
            "org.opencontainers.image.source",
        ] {
            assert!(
                secret_value(v).is_none(),
                "{v:?} flagged: {:?}",
                secret_value(v)
            );
        }
    }

    #[test]
    fn file_names() {
        for f in [
            "id_rsa",
            "/root/.ssh/id_ed25519",
            "server.pem",
            "tls.key",
            "cert.p12",
            "a.pfx",
            ".env",
            "config/.env.production",
            ".netrc",
            ".npmrc",
            ".pypirc",
            ".git-credentials",
            "/root/.aws/credentials",
            "/root/.docker/config.json",
            "credentials.json",
            "secrets.yaml",
            "vault.kdbx",
            "htpasswd",
            "./id_rsa",
        ] {
            assert!(secret_file_name(f).is_some(), "{f}");
        }
        for f in [
            "id_rsa.pub",
            ".env.example",
            "main.go",
            "package.json",
            "requirements.txt",
            ".",
            "src/",
            "config.json",
            "README.md",
            "",
        ] {
            assert!(secret_file_name(f).is_none(), "{f}");
        }
    }

    #[test]
    fn private_key_bytes() {
        assert!(contains_private_key(
            b"junk\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc"
        ));
        assert!(contains_private_key(b"-----BEGIN PRIVATE KEY-----"));
        assert!(!contains_private_key(b"-----BEGIN PUBLIC KEY-----\n"));
        assert!(!contains_private_key(b""));
        let mut big = vec![b'a'; 70 * 1024];
        big.extend_from_slice(b"-----BEGIN RSA PRIVATE KEY-----");
        assert!(!contains_private_key(&big));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::fuzz_cases(1000), ..ProptestConfig::default() })]
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = secret_value(&s);
            let _ = secret_name(&s);
            let _ = secret_file_name(&s);
            let _ = contains_private_key(s.as_bytes());
        }

        #[test]
        fn never_panics_tricky(s in "[a-zA-Z0-9_$@:/.\\-é😀 ]{0,60}") {
            let _ = secret_value(&s);
            let _ = secret_name(&s);
            let _ = secret_file_name(&s);
        }
    }

    #[test]
    fn urls_carry_a_password_only_with_a_user_and_a_literal_password() {
        for secret in [
            "postgres://app:hunter2@db:5432/app",
            "https://u:p@host/x?y",
            "see ftp://a:b@h and more",
        ] {
            assert_eq!(
                secret_value(secret),
                Some("URL contains a user:password"),
                "{secret}"
            );
        }
        for plain in [
            "postgres://app@db:5432/app",
            "postgres://:pw@db/app",
            "postgres://app:@db/app",
            "postgres://app:$DB_PASSWORD@db/app",
            "no scheme user:pw@host",
        ] {
            assert!(!url_with_password(plain), "{plain}");
        }
        // The authority ends at any of these: a user:password after it is
        // part of the path, query, fragment or the next word.
        for end in ['/', '?', '#', ' ', '"', '\'', '\t'] {
            let url = format!("https://host{end}u:p@x");
            assert!(!url_with_password(&url), "{url:?}");
        }
        // A later URL in the same value is read too.
        assert!(url_with_password("http://plain/ then http://u:p@h/"));
    }

    #[test]
    fn a_jwt_has_three_base64url_parts_and_a_json_header() {
        let jwt = "eyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl";
        assert_eq!(
            secret_value(&format!("Bearer {jwt}")),
            Some("looks like a JSON Web Token")
        );
        assert!(looks_like_jwt(jwt));
        for almost in [
            "eyJhbGciOi.eyJzdWIiOiIx",
            "eyJhbGciOi.eyJzdWIiOiIx.c2ln.extra",
            "xyJhbGciOi.eyJzdWIiOiIx.c2lnbmF0dXJl",
            "eyJhbG.eyJzdWIiOiIx.c2lnbmF0dXJl",
            "eyJhbGciOi.eyJz.c2lnbmF0dXJl",
            "eyJhbGciOi.eyJzdWIiOiIx.c2lnbm+0dXJl",
        ] {
            assert!(!looks_like_jwt(almost), "{almost}");
        }
    }

    #[test]
    fn paths_versions_and_digests_are_never_random_secrets() {
        // Each of these is benign by one rule alone.
        let random = "kP9xQ2mZr7Lw4Tn8Kc3Vb6Yd1";
        for benign in [
            format!("/{random}"),
            format!("./{random}"),
            format!("../{random}"),
            format!("~{random}"),
            format!("${random}"),
            format!("ab://{random}"),
            format!("sha256:{random}"),
            format!("sha512:{random}"),
            "1.2.3-rc.4+build.5".to_string(),
            "abcdefghijklmn/xyz".to_string(),
            "0f3a9c4d2e1b5a6f7c8d9e0f1a2b3c4d5e6f7a8b".to_string(),
        ] {
            assert!(benign_token(&benign), "{benign}");
        }
        for random in [
            random,
            "kP9xQ2-mZr7Lw",
            "abcdefghijklm-NOPQRSTUVWXYZ-0123456789ab",
            "abcdefghijklmn/xy+z",
            "abcdefghijklmn/xy=z",
            "abcdefghijklmnopqr/x",
        ] {
            assert!(!benign_token(random), "{random}");
        }
        assert_eq!(
            secret_value("API=kP9xQ2mZr7Lw4Tn8Kc3Vb6Yd1"),
            Some("looks like a random secret (long, high-entropy string)")
        );
        // Long, mixed, but a path: not a secret.
        assert_eq!(secret_value("/opt/App2/Bin3/tool-Linux-X64"), None);
    }

    #[test]
    fn token_prefixes_must_start_a_token_and_be_long_enough() {
        assert!(prefixed("id=ghp_abcdefghijklmnopqrstu", "ghp_", 20, |c| c
            .is_ascii_alphanumeric()));
        assert!(!prefixed("xghp_abcdefghijklmnopqrstu", "ghp_", 20, |c| c
            .is_ascii_alphanumeric()));
        assert!(!prefixed("ghp_abcdefghijklmnopqrs", "ghp_", 20, |c| c
            .is_ascii_alphanumeric()));
        // A second occurrence is looked at when the first is not one.
        assert!(prefixed(
            "xghp_1 ghp_abcdefghijklmnopqrstu",
            "ghp_",
            20,
            |c| c.is_ascii_alphanumeric()
        ));
        assert!(prefixed(
            "ghp_short ghp_abcdefghijklmnopqrstu",
            "ghp_",
            20,
            |c| c.is_ascii_alphanumeric()
        ));
        assert!(
            is_b64url('-')
                && is_b64url('_')
                && is_b64url('a')
                && !is_b64url('+')
                && !is_b64url('.')
        );
    }

    #[test]
    fn credential_files_are_known_by_name_and_extension() {
        for (path, why) in [
            ("/root/.pgpass", "PostgreSQL password file"),
            ("/home/app/.vault-token", "Vault token file"),
            ("/app/keys/server.jks", "Java key store"),
            ("/app/keys/server.keystore", "Java key store"),
            ("C:\\keys\\me.ppk", "PuTTY private key"),
            ("/app/.env.production", "dotenv file"),
            ("/app/certs/tls.key", "private key file"),
        ] {
            assert_eq!(secret_file_name(path), Some(why), "{path}");
        }
        for path in [
            "/app/.env.example",
            "/root/.ssh/id_rsa.pub",
            "/app/",
            "/app/readme.md",
        ] {
            assert_eq!(secret_file_name(path), None, "{path}");
        }
    }

    #[test]
    fn a_private_key_header_is_found_on_one_line_within_64_kib() {
        let key =
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";
        assert!(contains_private_key(key));
        // The label on another line does not count.
        assert!(!contains_private_key(
            b"-----BEGIN CERTIFICATE\nPRIVATE KEY-----"
        ));
        // Past the first 64 KiB it is not looked for.
        let mut late = vec![b'a'; 64 * 1024];
        late.extend_from_slice(key);
        assert!(!contains_private_key(&late));
        let mut early = vec![b'a'; 64 * 1024 - key.len()];
        early.extend_from_slice(key);
        assert!(contains_private_key(&early));
        // The label further than 100 bytes from BEGIN does not count.
        let far = format!("-----BEGIN {}PRIVATE KEY-----", "x".repeat(100));
        assert!(!contains_private_key(far.as_bytes()));
        assert!(!contains_private_key(b"-----BEGIN"));
    }
}
