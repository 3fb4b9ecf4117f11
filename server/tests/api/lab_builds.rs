//! Builds and images through a lab's Docker endpoint, as an attacker with
//! two learners would try them: every request that once got through (a
//! directive that hides a line, a vertical tab, a quoted flag name, another
//! learner's image by id or name, a forged image id printed by a `RUN`
//! step, a shared build cache, racing creates), variants of each, and a
//! listener on loopback that must never hear from the engine. A
//! differential test builds one corpus through the endpoint and through
//! the host's own CLI and compares what the engine made.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use crate::common::{
    client::Client,
    labs::{endpoint_request as send, remove_lab_containers, Terminal},
    spawn_app_with, test_config, TestApp, TestDatabase,
};
use drydock::docker::proxy::SessionNames;
use serde_json::{json, Value};

const LAB: &str = "docker-cli";

async fn docker_app(db: TestDatabase) -> TestApp {
    let mut config = test_config(&db);
    config.labs.capacity = 6;
    config.labs.reap_interval_secs = 1;
    spawn_app_with(db, config).await
}

/// A learner's started lab: its session, endpoint socket and terminal.
struct Lab {
    id: String,
    sock: PathBuf,
    names: SessionNames,
    term: Terminal,
}

async fn start(app: &TestApp, learner: &Client) -> Lab {
    let (status, lab) = learner.start_lab(LAB).await;
    assert_eq!(status, 201, "{lab}");
    let id = lab["id"].as_str().unwrap().to_string();
    let mut term = learner.terminal(&id).await.expect("owner may attach");
    term.expect(&format!("{LAB}:")).await;
    let names = SessionNames::of(&id);
    let sock = app
        .state
        .config
        .labs
        .socket_dir
        .join(names.prefix())
        .join("docker.sock");
    Lab {
        id,
        sock,
        names,
        term,
    }
}

async fn send_json(sock: &std::path::Path, method: &str, path: &str, body: Value) -> (u16, String) {
    send(
        sock,
        method,
        path,
        "application/json",
        Some(body.to_string().into_bytes()),
    )
    .await
}

/// A build context: the Dockerfile and other files.
fn context(dockerfile: &[u8], files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, data).unwrap();
    };
    add("Dockerfile", dockerfile);
    for (name, data) in files {
        add(name, data);
    }
    tar.into_inner().unwrap()
}

/// `docker build` through an endpoint: the status and the whole stream.
async fn build(
    sock: &std::path::Path,
    query: &str,
    dockerfile: &str,
    files: &[(&str, &[u8])],
) -> (u16, String) {
    send(
        sock,
        "POST",
        &format!("/v1.41/build?{query}"),
        "application/x-tar",
        Some(context(dockerfile.as_bytes(), files)),
    )
    .await
}

/// A build that the engine ran to its end (no error in its stream).
fn built(answer: &(u16, String)) -> bool {
    answer.0 == 200 && !answer.1.contains("\"error\"")
}

/// A listener on loopback that counts every connection it gets.
async fn loopback_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, hits)
}

fn url_encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn builds_cannot_reach_the_host_or_another_learners_images() {
    let app = docker_app(TestDatabase::sqlite()).await;
    let (alice, bob) = (Client::arrive(&app).await, Client::arrive(&app).await);
    let mut a = start(&app, &alice).await;
    let b = start(&app, &bob).await;
    let (port, hits) = loopback_listener().await;
    let engine = &app.state.engine;

    // Bob builds an image with a secret in it.
    let secret = format!("bob-{}", uuid::Uuid::new_v4().simple());
    let bobs = build(
        &b.sock,
        "t=secret:1",
        "FROM drydock/busybox:1\nCOPY secret /secret\n",
        &[("secret", secret.as_bytes())],
    )
    .await;
    assert!(built(&bobs), "{bobs:?}");
    let bob_tag = b.names.image("secret:1");
    let bob_id = engine.image(&bob_tag).await.unwrap().unwrap().id.unwrap();
    let bob_hex = bob_id.trim_start_matches("sha256:").to_string();

    // The three ways past the old screen, then variants of each class.
    let url = format!("http://127.0.0.1:{port}/readyz");
    let refused: Vec<String> = vec![
        // A `# check` directive before `# escape`: the engine kept `\`.
        format!("# check=skip=all\n# escape=`\nFROM drydock/busybox:1\nRUN echo `\nADD {url} /r\n"),
        format!("# syntax=docker/dockerfile:1\nFROM drydock/busybox:1\nADD {url} /r\n"),
        format!("# unknown=1\n# escape=`\nFROM drydock/busybox:1\nRUN echo `\nADD {url} /r\n"),
        // A backslash, then a vertical tab (and other whitespace the screen trimmed).
        format!("FROM drydock/busybox:1\nRUN echo \\\u{0b}\nADD {url} /r\n"),
        format!("FROM drydock/busybox:1\nRUN echo \\\u{0c}\nADD {url} /r\n"),
        format!("FROM drydock/busybox:1\nRUN echo \\\r \nADD {url} /r\n"),
        format!("FROM drydock/busybox:1\nRUN echo \\\u{85}\nADD {url} /r\n"),
        // A quoted flag name, in every quoting, and upper case.
        format!("FROM drydock/busybox:1\nCOPY --fr\"om\"={bob_tag} /secret /s\n"),
        format!("FROM drydock/busybox:1\nCOPY --fr'om'={bob_tag} /secret /s\n"),
        format!("FROM drydock/busybox:1\nCOPY \"--from={bob_tag}\" /secret /s\n"),
        format!("FROM drydock/busybox:1\nCOPY --FROM={bob_tag} /secret /s\n"),
        format!("FROM drydock/busybox:1\nCOPY --from={bob_id} /secret /s\n"),
        format!(
            "FROM drydock/busybox:1\nCOPY --from={} /secret /s\n",
            &bob_hex[..12]
        ),
        // Bob's image as a base, by engine name, id and short id.
        format!("FROM {bob_tag}\n"),
        format!("FROM {bob_id}\n"),
        format!("FROM {}\n", &bob_hex[..12]),
        format!("FROM secret:1\nCOPY --from={bob_tag} /secret /s\n"),
        // Remote sources in other forms.
        format!("FROM drydock/busybox:1\nADD {url} /r\n"),
        format!("FROM drydock/busybox:1\nADD [\"{url}\", \"/r\"]\n"),
        format!("FROM drydock/busybox:1\nARG U={url}\nADD $U /r\n"),
        format!("FROM drydock/busybox:1\nADD h\\\nttp://127.0.0.1:{port}/x /r\n"),
        format!("FROM drydock/busybox:1\nONBUILD ADD {url} /r\n"),
        format!("FROM drydock/busybox:1\nRUN <<EOF\nADD {url} /r\nEOF\n"),
        // Drydock's labels, in any spelling.
        "FROM drydock/busybox:1\nLABEL dryd\"ock\".ports=8080/tcp\n".into(),
        "FROM drydock/busybox:1\nLABEL DRYDOCK.session=x\n".into(),
    ];
    for dockerfile in &refused {
        let answer = build(&a.sock, "t=try:1", dockerfile, &[]).await;
        assert!(
            (400..500).contains(&answer.0),
            "{dockerfile:?} must be refused: {answer:?}"
        );
        assert!(
            answer.1.contains("\"message\""),
            "a refusal says why: {answer:?}"
        );
    }
    assert!(engine
        .image(&a.names.image("try:1"))
        .await
        .unwrap()
        .is_none());

    // `--label` values are written into the file Drydock generates: a quote
    // cannot add a label, a line end cannot add an instruction.
    let labels = json!({"note": "x' drydock.ports='8080"}).to_string();
    let answer = build(
        &a.sock,
        &format!("t=labelled:1&labels={}", url_encode(&labels)),
        "FROM drydock/busybox:1\n",
        &[],
    )
    .await;
    assert!(built(&answer), "{answer:?}");
    let config = engine
        .image(&a.names.image("labelled:1"))
        .await
        .unwrap()
        .unwrap()
        .config
        .unwrap();
    let labelled = config.labels.unwrap_or_default();
    assert_eq!(
        labelled.get("note").map(String::as_str),
        Some("x' drydock.ports='8080"),
        "{labelled:?}"
    );
    assert!(!labelled.contains_key("drydock.ports"), "{labelled:?}");
    let injected = json!({"note": format!("a\nADD {url} /r")}).to_string();
    let answer = build(
        &a.sock,
        &format!("t=labelled:2&labels={}", url_encode(&injected)),
        "FROM drydock/busybox:1\n",
        &[],
    )
    .await;
    assert!((400..500).contains(&answer.0), "{answer:?}");

    // A CRLF continuation is a continuation to both readers, and so is a
    // backtick under `# escape`, the one directive both know: the ADD is
    // only text an echo prints in what the engine gets, and nothing is
    // fetched.
    for (tag, dockerfile) in [
        (
            "crlf:1",
            format!("FROM drydock/busybox:1\r\nRUN echo \\\r\nADD {url} /r\r\n"),
        ),
        (
            "tick:1",
            format!("# escape=`\nFROM drydock/busybox:1\nRUN echo `\nADD {url} /r\n"),
        ),
    ] {
        let answer = build(&a.sock, &format!("t={tag}"), &dockerfile, &[]).await;
        assert!(built(&answer), "{answer:?}");
        // FROM, Drydock's LABEL and the RUN: no fourth step.
        assert!(answer.1.contains("Step 3/3 : RUN"), "{}", answer.1);
    }

    // A forged image id printed by a RUN step is not Alice's image.
    let forged = format!(
        "FROM drydock/busybox:1\nRUN echo ' ---> {}' && echo 'sha256:{bob_hex}' && echo '{{\"aux\":{{\"ID\":\"{bob_id}\"}}}}'\n",
        &bob_hex[..12]
    );
    let answer = build(&a.sock, "", &forged, &[]).await;
    assert!(built(&answer), "{answer:?}");
    let (_, listed) = send(&a.sock, "GET", "/v1.41/images/json?all=1", "", None).await;
    assert!(
        !listed.contains(&bob_hex),
        "Bob's image is not Alice's: {listed}"
    );
    for reference in [bob_id.clone(), bob_hex[..12].to_string()] {
        let (status, _) = send(
            &a.sock,
            "DELETE",
            &format!("/v1.41/images/{reference}?force=1"),
            "",
            None,
        )
        .await;
        assert_eq!(status, 404, "{reference}");
        let (status, _) = send_json(
            &a.sock,
            "POST",
            "/v1.41/containers/create?name=thief",
            json!({"Image": reference, "Cmd": ["cat", "/secret"]}),
        )
        .await;
        assert!(
            (400..500).contains(&status) && status != 404,
            "{reference}: {status}"
        );
    }
    assert!(
        engine.image(&bob_id).await.unwrap().is_some(),
        "Bob's image stays"
    );

    // No shared cache: the same Dockerfile and context as Bob's builds
    // anew for Alice and gives another image.
    let same = build(
        &a.sock,
        "t=same:1",
        "FROM drydock/busybox:1\nCOPY secret /secret\n",
        &[("secret", secret.as_bytes())],
    )
    .await;
    assert!(built(&same), "{same:?}");
    // Her own earlier builds may serve the step with her label; the COPY
    // step, the first with Bob's content, is built anew.
    let copy_step = same
        .1
        .split("COPY secret")
        .nth(1)
        .expect("the COPY step ran");
    assert!(!copy_step.contains("Using cache"), "{}", same.1);
    let alices = engine
        .image(&a.names.image("same:1"))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(alices.id.as_deref(), Some(bob_id.as_str()));
    // ... while Alice's own second build of it takes her own cache.
    let again = build(
        &a.sock,
        "t=same:2",
        "FROM drydock/busybox:1\nCOPY secret /secret\n",
        &[("secret", secret.as_bytes())],
    )
    .await;
    assert!(again.1.contains("Using cache"), "{}", again.1);

    // What Alice sees of the engine names nothing of Bob's.
    for path in [
        "/v1.41/system/df",
        "/v1.41/images/json?all=1",
        "/v1.41/info",
    ] {
        let (status, answer) = send(&a.sock, "GET", path, "", None).await;
        assert_eq!(status, 200, "{path}");
        assert!(!answer.contains(b.names.prefix()), "{path}: {answer}");
        assert!(!answer.contains(&bob_hex), "{path}: {answer}");
        assert!(
            !answer.contains(a.names.prefix()),
            "{path} hides the namespace: {answer}"
        );
    }
    // The images Alice's builds made carry her session's label, and the
    // ledger holds exactly those (never an id read from output).
    let labelled = engine
        .images_labelled(&[("drydock.child-of", &a.id)])
        .await
        .unwrap();
    assert!(
        labelled.contains(alices.id.as_ref().unwrap()),
        "{labelled:?}"
    );
    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT image_id FROM lab_images WHERE session_id = $1")
            .bind(&a.id)
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert!(
        !recorded.iter().any(|r| r.contains(&bob_hex)),
        "{recorded:?}"
    );
    assert!(
        recorded.iter().all(|r| labelled.contains(r)),
        "{recorded:?} vs {labelled:?}"
    );

    // The CLI in the lab builds and runs its own image as before.
    let out = a
        .term
        .output_of("printf 'FROM drydock/busybox:1\\nCOPY m /m\\nCMD [\"cat\", \"/m\"]\\n' > Dockerfile; echo $((6*7)) > m; docker build -q -t cli:1 . >/dev/null && docker run --rm cli:1")
        .await;
    assert!(out.contains("\n42"), "{out}");
    // ... with another Dockerfile name, a build argument and a target
    // stage, and `commit -c` from the CLI.
    let out = a
        .term
        .output_of("printf 'FROM drydock/busybox:1 AS base\\nARG WHO=nobody\\nENV WHO=$WHO\\nFROM base AS final\\nCMD echo hello-$WHO\\nFROM drydock/busybox:1\\nCMD echo wrong-stage\\n' > sub.Dockerfile; docker build -q -f sub.Dockerfile --build-arg WHO=learner --target final -t args:1 . >/dev/null && docker run --rm args:1; docker run -d --name c1 drydock/busybox:1 sleep 300 >/dev/null && docker commit -c 'CMD [\"echo\", \"from-commit\"]' -c 'ENV N=7' c1 snap2:1 >/dev/null && docker run --rm snap2:1 && docker run --rm snap2:1 sh -c 'echo n=$N'; docker rm -f c1 >/dev/null")
        .await;
    assert!(out.contains("\nhello-learner"), "{out}");
    assert!(
        out.contains("\nfrom-commit") && out.contains("\nn=7"),
        "{out}"
    );

    // A chain of Alice's own images: child:1 stands on same:1, so the
    // lab's end must remove the child first (the engine refuses a parent).
    let chain = build(&a.sock, "t=child:1", "FROM same:1\nENV CHILD=1\n", &[]).await;
    assert!(built(&chain), "{chain:?}");

    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the engine fetched from the host"
    );
    a.term.close().await;
    for (learner, lab) in [(&alice, &a.id), (&bob, &b.id)] {
        assert_eq!(learner.delete(&format!("/api/v1/labs/{lab}")).await, 204);
        let left = engine
            .images_labelled(&[("drydock.child-of", lab)])
            .await
            .unwrap();
        assert_eq!(left, Vec::<String>::new(), "every image of {lab} went");
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lab_images WHERE session_id = $1")
            .bind(lab)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        assert_eq!(rows, 0, "no stale ledger rows");
    }
    remove_lab_containers(&app).await;
}

#[tokio::test]
async fn a_sessions_budget_labels_and_names_hold_under_attack() {
    let app = docker_app(TestDatabase::sqlite()).await;
    let (alice, bob) = (Client::arrive(&app).await, Client::arrive(&app).await);
    let mut a = start(&app, &alice).await;
    let b = start(&app, &bob).await;
    let engine = &app.state.engine;

    // 16 creates of 1 GiB at once against a budget of 1 GiB: one passes.
    let creates = (0..16).map(|i| {
        let sock = a.sock.clone();
        async move {
            send_json(
                &sock,
                "POST",
                &format!("/v1.41/containers/create?name=big{i}"),
                json!({"Image": "drydock/busybox:1", "Cmd": ["sleep", "300"], "HostConfig": {"Memory": 1u64 << 30}}),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(creates).await;
    let passed = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(passed, 1, "{answers:?}");
    assert!(
        answers.iter().any(|(s, m)| *s == 409 && m.contains("MiB")),
        "{answers:?}"
    );
    let (status, _) = send(
        &a.sock,
        "DELETE",
        "/v1.41/containers/big0?force=1",
        "",
        None,
    )
    .await;
    let _ = status;
    for i in 0..16 {
        send(
            &a.sock,
            "DELETE",
            &format!("/v1.41/containers/big{i}?force=1"),
            "",
            None,
        )
        .await;
    }

    // Networks and volumes are counted (the lab network is one of 4).
    for name in ["n1", "n2", "n3"] {
        let (status, answer) = send_json(
            &a.sock,
            "POST",
            "/v1.41/networks/create",
            json!({"Name": name}),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
    }
    let (status, answer) = send_json(
        &a.sock,
        "POST",
        "/v1.41/networks/create",
        json!({"Name": "n4"}),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    for i in 0..8 {
        let (status, answer) = send_json(
            &a.sock,
            "POST",
            "/v1.41/volumes/create",
            json!({"Name": format!("v{i}")}),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
    }
    let (status, answer) = send_json(
        &a.sock,
        "POST",
        "/v1.41/volumes/create",
        json!({"Name": "v8"}),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    // A volume create that is no JSON is refused, and makes nothing.
    let before = engine
        .volumes_labelled(&[("drydock.child-of", &a.id)])
        .await
        .unwrap()
        .len();
    for body in ["not json", "[1]", "\"x\""] {
        let (status, _) = send(
            &a.sock,
            "POST",
            "/v1.41/volumes/create",
            "application/json",
            Some(body.as_bytes().to_vec()),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, _) = send(
        &a.sock,
        "POST",
        "/v1.41/networks/create",
        "application/json",
        Some(b"{oops".to_vec()),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        engine
            .volumes_labelled(&[("drydock.child-of", &a.id)])
            .await
            .unwrap()
            .len(),
        before
    );

    // Lab networks leave the host no address: the engine's option, the
    // host's bridges without IPv4, and the routes a child container sees.
    let host_addresses = host_ipv4_addresses();
    assert!(!host_addresses.is_empty());
    for network in [a.names.network(), a.names.object("n1")] {
        let (status, found) = send(
            &a.sock,
            "GET",
            &format!("/v1.41/networks/{}", a.names.strip(&network)),
            "",
            None,
        )
        .await;
        assert_eq!(status, 200, "{found}");
        let found: Value = serde_json::from_str(&found).unwrap();
        assert_eq!(
            found["Options"]["com.docker.network.bridge.inhibit_ipv4"], "true",
            "{found}"
        );
        assert_eq!(found["Internal"], true);
        let bridge = format!("br-{}", &found["Id"].as_str().unwrap()[..12]);
        let out = std::process::Command::new("ip")
            .args(["-4", "-o", "addr", "show", "dev", &bridge])
            .output()
            .unwrap();
        assert!(out.status.success(), "{bridge} exists");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "",
            "{bridge} has no IPv4 on the host"
        );
    }
    let (status, answer) = send_json(
        &a.sock,
        "POST",
        "/v1.41/containers/create?name=probe",
        json!({"Image": "drydock/busybox:1", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "n1"}}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = send(&a.sock, "POST", "/v1.41/containers/probe/start", "", None).await;
    assert_eq!(status, 204, "{answer}");
    let probe = a.names.object("probe");
    let routes = engine
        .exec(&probe, &["ip", "route"], None)
        .await
        .unwrap()
        .stdout;
    let own = engine
        .exec(&probe, &["ip", "-4", "-o", "addr"], None)
        .await
        .unwrap()
        .stdout;
    assert!(routes.contains("dev"), "{routes}");
    for line in routes.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "via") {
            let gateway = words[i + 1];
            assert!(
                !host_addresses.contains(&gateway.to_string()),
                "a route via the host: {line}"
            );
        }
        if let Some(subnet) = words.first().filter(|w| w.contains('/')) {
            for host in &host_addresses {
                assert!(
                    !in_subnet(host, subnet),
                    "host address {host} is on-link: {line}\n{own}"
                );
            }
        }
    }

    // `before`/`since` name only the session's containers: Bob's and a
    // missing one answer alike.
    let (status, _) = send_json(
        &b.sock,
        "POST",
        "/v1.41/containers/create?name=bobs",
        json!({"Image": "drydock/busybox:1"}),
    )
    .await;
    assert_eq!(status, 201);
    let list = |name: &str, key: &str| {
        format!(
            "/v1.41/containers/json?all=1&filters={}",
            url_encode(&json!({key: {name: true}}).to_string())
        )
    };
    for key in ["before", "since"] {
        let theirs = send(&a.sock, "GET", &list("bobs", key), "", None).await;
        let missing = send(&a.sock, "GET", &list("nobody", key), "", None).await;
        let engine_name = send(
            &a.sock,
            "GET",
            &list(&b.names.object("bobs"), key),
            "",
            None,
        )
        .await;
        assert_eq!(theirs.0, 404, "{theirs:?}");
        assert_eq!(
            theirs.1.replace("bobs", "X"),
            missing.1.replace("nobody", "X")
        );
        assert_eq!(engine_name.0, 404, "{engine_name:?}");
        let mine = send(&a.sock, "GET", &list("probe", key), "", None).await;
        assert_eq!(mine.0, 200, "{mine:?}");
    }
    let (status, _) = send(
        &a.sock,
        "GET",
        "/v1.41/containers/json?before=bobs",
        "",
        None,
    )
    .await;
    assert_eq!(status, 404);

    // API versions newer than the engine's are refused.
    for path in ["/v1.99/version", "/v1.42/containers/json", "/v1.410/info"] {
        let (status, answer) = send(&a.sock, "GET", path, "", None).await;
        assert_eq!(status, 400, "{path}: {answer}");
    }

    // Anonymous volumes go with the containers prune removes.
    let (status, answer) = send_json(
        &a.sock,
        "POST",
        "/v1.41/containers/create?name=anon",
        json!({"Image": "drydock/busybox:1", "Cmd": ["true"], "Volumes": {"/scratch": {}}}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let anon = engine.inspect(&a.names.object("anon")).await.unwrap();
    let volume = anon
        .mounts
        .unwrap()
        .into_iter()
        .find(|m| m.destination.as_deref() == Some("/scratch"))
        .and_then(|m| m.name)
        .expect("an anonymous volume");
    let (status, answer) = send(&a.sock, "POST", "/v1.41/containers/prune", "", None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains(anon.id.as_deref().unwrap()), "{answer}");
    let (status, _) = send(
        &a.sock,
        "GET",
        &format!("/v1.41/volumes/{volume}"),
        "",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let out = std::process::Command::new("docker")
        .args(["volume", "inspect", &volume])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the anonymous volume {volume} is gone from the engine"
    );
    assert!(
        engine.inspect(&a.names.object("probe")).await.is_ok(),
        "a running container stays"
    );

    // Commit: every --change applies, newer CLIs' full names work, and the
    // image claims none of Drydock's labels but the session's own.
    let commit = format!(
        "/v1.41/commit?container=probe&repo={}&tag=1&changes={}&changes={}&changes={}",
        url_encode("docker.io/library/snap"),
        url_encode("ENV A=1"),
        url_encode("ENV B=2"),
        url_encode("LABEL mine=yes"),
    );
    let (status, answer) = send(&a.sock, "POST", &commit, "", None).await;
    assert_eq!(status, 201, "{answer}");
    let (status, inspect) = send(&a.sock, "GET", "/v1.41/images/snap:1/json", "", None).await;
    assert_eq!(status, 200, "{inspect}");
    let image: Value = serde_json::from_str(&inspect).unwrap();
    let env = image["Config"]["Env"].to_string();
    assert!(env.contains("A=1") && env.contains("B=2"), "{env}");
    for (key, value) in image["Config"]["Labels"].as_object().unwrap() {
        if key.to_ascii_lowercase().starts_with("drydock.") {
            assert!(
                value == ""
                    || (key == "drydock.child-of" && value == a.id.as_str())
                    || (key == "drydock.managed" && value == "true"),
                "{key}={value}"
            );
        }
    }
    for change in [
        "LABEL dryd\"ock\".ports=8080/tcp",
        "RUN id",
        "WORKDIR /proc/self/fd/7",
        "CMD echo \\\u{0b}",
    ] {
        let path = format!(
            "/v1.41/commit?container=probe&repo=bad&changes={}",
            url_encode(change)
        );
        let (status, answer) = send(&a.sock, "POST", &path, "", None).await;
        assert_eq!(status, 403, "{change}: {answer}");
    }
    // A container of the committed image publishes nothing it did not ask for.
    let (status, answer) = send_json(
        &a.sock,
        "POST",
        "/v1.41/containers/create?name=fromsnap",
        json!({"Image": "snap:1"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let labels = engine
        .inspect(&a.names.object("fromsnap"))
        .await
        .unwrap()
        .config
        .unwrap()
        .labels
        .unwrap();
    assert_eq!(
        labels.get("drydock.ports").map(String::as_str),
        Some(""),
        "{labels:?}"
    );

    let out = a
        .term
        .output_of("docker image inspect snap:1 --format '{{len .Config.Env}}-ok'")
        .await;
    let env_count = out
        .trim()
        .strip_suffix("-ok")
        .and_then(|n| n.parse::<usize>().ok());
    assert!(
        env_count.is_some_and(|n| n >= 3),
        "the CLI inspects snap:1: {out}"
    );

    a.term.close().await;
    for (learner, lab) in [(&alice, &a.id), (&bob, &b.id)] {
        assert_eq!(learner.delete(&format!("/api/v1/labs/{lab}")).await, 204);
    }
    assert!(engine
        .image(&a.names.image("snap:1"))
        .await
        .unwrap()
        .is_none());
    remove_lab_containers(&app).await;
}

/// The host's IPv4 addresses (every interface).
fn host_ipv4_addresses() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let i = words.iter().position(|w| *w == "inet")?;
            Some(words.get(i + 1)?.split('/').next()?.to_string())
        })
        .collect()
}

fn in_subnet(address: &str, subnet: &str) -> bool {
    let parse = |a: &str| a.parse::<std::net::Ipv4Addr>().ok().map(u32::from);
    let Some((net, bits)) = subnet.split_once('/') else {
        return false;
    };
    let (Some(net), Some(addr), Ok(bits)) = (parse(net), parse(address), bits.parse::<u32>())
    else {
        return false;
    };
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits.min(32))
    };
    net & mask == addr & mask
}

/// The image settings a Dockerfile leads to, Drydock's labels left out.
fn settings(image: &bollard::models::ImageInspect) -> Value {
    let config = serde_json::to_value(image.config.clone().unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for key in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
        "Healthcheck",
        "Shell",
        "OnBuild",
    ] {
        out.insert(key.to_string(), config[key].clone());
    }
    let labels: BTreeMap<String, Value> = config["Labels"]
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("drydock."))
        .collect();
    out.insert("Labels".into(), json!(labels));
    json!(out)
}

#[tokio::test]
async fn the_endpoint_builds_what_the_host_cli_builds_or_refuses() {
    let app = docker_app(TestDatabase::sqlite()).await;
    let learner = Client::arrive(&app).await;
    let a = start(&app, &learner).await;
    let engine = &app.state.engine;
    let corpus: &[&str] = &[
        "FROM drydock/busybox:1\nENV A=1 B=\"two words\" C=$A\nENV D ${B}-x\nLABEL a.b=\"x y\" c=$A\nWORKDIR /app\nWORKDIR sub\nUSER 1000:1000\nEXPOSE 8080 9000/udp\nVOLUME /data\nSTOPSIGNAL SIGTERM\nCMD echo $HOME\n",
        "FROM drydock/busybox:1\nARG V=default\nENV V=$V W=${V:-none} X=${UNSET:-fallback} Y=${V:+set} Z=${UNSET:+set}\nENTRYPOINT [\"/bin/sh\", \"-c\"]\nCMD [\"echo hi\"]\nHEALTHCHECK --interval=30s --retries=3 CMD true\n",
        "FROM drydock/busybox:1\r\nENV A=1 \\\r\n    B=2\r\n# a comment\r\n\r\nLABEL x='single $quoted' y=\"esc \\\"q\\\" \\$d\" z=a\\ b\r\n",
        "# a comment, not a directive\nfrom drydock/busybox:1 as base\nenv P=/x:$PATH\nFROM base\nSHELL [\"/bin/sh\", \"-e\", \"-c\"]\nCMD echo shell-form\nHEALTHCHECK NONE\n",
        "FROM drydock/busybox:1\nRUN echo built > /tmp/built \\\n  && echo more >> /tmp/built\nCMD [\"cat\", \"/tmp/built\"]\nENTRYPOINT echo \"$0\" '$1'\n",
        "FROM drydock/busybox:1 AS one\nENV FIRST=1\nFROM drydock/busybox:1\nCOPY --from=one /bin/busybox /copied\nCOPY --chown=1000:1000 f /f\nADD f /g\nARG T\nENV T=${T:-unset}\nUSER nobody\n",
        "# escape=`\nFROM drydock/busybox:1\nENV A=1 `\n  B=2\n",
        "FROM drydock/busybox:1\nENV A=\"unterminated\n",
        "FROM drydock/busybox:1\nENV A=$(id)\n",
        "FROM drydock/busybox:1\nENV A=${UNSET+set}\n",
        "FROM drydock/busybox:1\nCOPY --chmod=755 f /f\n",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    for (n, dockerfile) in corpus.iter().enumerate() {
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
        std::fs::write(dir.path().join("f"), "file\n").unwrap();
        let host_tag = format!("drydock-difftest-{}:{n}", &a.id[..8]);
        let host = std::process::Command::new("docker")
            .env("DOCKER_BUILDKIT", "0")
            .args([
                "build",
                "-q",
                "--force-rm",
                "--network",
                "none",
                "--label",
                "drydock.managed=true",
                "-t",
                &host_tag,
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        let answer = build(
            &a.sock,
            &format!("t=diff:{n}"),
            dockerfile,
            &[("f", b"file\n")],
        )
        .await;
        if built(&answer) {
            assert!(
                host.status.success(),
                "the endpoint built what the host refuses: {dockerfile:?}"
            );
            let ours = engine
                .image(&a.names.image(&format!("diff:{n}")))
                .await
                .unwrap()
                .unwrap();
            let theirs = engine.image(&host_tag).await.unwrap().unwrap();
            assert_eq!(settings(&ours), settings(&theirs), "{dockerfile:?}");
            compared += 1;
        } else {
            assert!((400..500).contains(&answer.0), "{dockerfile:?}: {answer:?}");
            assert!(answer.1.contains("message"), "{answer:?}");
        }
        if host.status.success() {
            let _ = engine.remove_image(&host_tag).await;
        }
    }
    assert_eq!(
        compared, 7,
        "the readable part of the corpus was built and compared"
    );
    a.term.close().await;
    assert_eq!(learner.delete(&format!("/api/v1/labs/{}", a.id)).await, 204);
    remove_lab_containers(&app).await;
}

/// The server's peak memory (kB), from outside its process.
fn peak_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// A Docker lab on a `drydock serve` process of its own (measured from
/// outside), with a running container `box` (`binds`: its volumes).
struct ServedLab {
    home: crate::common::process::ServerHome,
    server: crate::common::process::Server,
    who: Client,
    id: String,
    term: Terminal,
    sock: PathBuf,
}

impl ServedLab {
    async fn start(binds: &[&str]) -> Self {
        let home = crate::common::process::ServerHome::new();
        let content = crate::common::workspace_root().join("content");
        let server = home.serve(&content, &[]).await;
        let who = home.learner().await;
        let (status, lab) = who.start_lab(LAB).await;
        assert_eq!(status, 201, "{lab}");
        let id = lab["id"].as_str().unwrap().to_string();
        let mut term = who.terminal(&id).await.unwrap();
        term.expect(&format!("{LAB}:")).await;
        let sock = home
            .dir
            .path()
            .join("labs")
            .join(SessionNames::of(&id).prefix())
            .join("docker.sock");
        let (status, answer) = send_json(
            &sock,
            "POST",
            "/v1.41/containers/create?name=box",
            json!({"Image": "drydock/busybox:1", "Cmd": ["sleep", "600"], "HostConfig": {"Binds": binds}}),
        )
        .await;
        assert_eq!(status, 201, "{answer}");
        let (status, answer) = send(&sock, "POST", "/v1.41/containers/box/start", "", None).await;
        assert_eq!(status, 204, "{answer}");
        Self {
            home,
            server,
            who,
            id,
            term,
            sock,
        }
    }

    /// The lab ends; the server stops.
    async fn end(self) {
        self.term.close().await;
        assert_eq!(
            self.who.delete(&format!("/api/v1/labs/{}", self.id)).await,
            204
        );
        drop(self.server);
    }
}

/// A tar of one file of `size` bytes, all `byte`, written to `path`.
fn big_tar(path: &std::path::Path, size: u64, byte: u8) {
    let mut tar = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(
        &mut header,
        "big.bin",
        std::io::Read::take(std::io::repeat(byte), size),
    )
    .unwrap();
    tar.finish().unwrap();
}

#[tokio::test]
async fn uploads_are_streamed_not_held_in_memory() {
    let lab = ServedLab::start(&["data:/data"]).await;
    let (dir, sock, server) = (lab.home.dir.path(), &lab.sock, &lab.server);

    // A 47 MiB archive, sent 12 times at once (streamed by curl from disk).
    let archive = dir.join("big.tar");
    big_tar(&archive, 47 << 20, 7);
    let pid = server.child.id();
    let before = peak_kb(pid);
    let uploads = (0..12).map(|_| {
        let (sock, archive) = (sock.clone(), archive.clone());
        async move {
            let out = tokio::process::Command::new("curl")
                .args([
                    "-s",
                    "-m",
                    "300",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-T",
                ])
                .arg(&archive)
                .args(["-H", "Content-Type: application/x-tar", "--unix-socket"])
                .arg(sock)
                .arg("http://lab/v1.41/containers/box/archive?path=/data")
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&out.stdout).to_string()
        }
    });
    let codes = futures_util::future::join_all(uploads).await;
    let after = peak_kb(pid);
    eprintln!("12 uploads of 47 MiB: the server's peak memory went from {before} kB to {after} kB");
    assert!(codes.iter().all(|c| c == "200"), "{codes:?}");
    assert!(
        after.saturating_sub(before) < 64 << 10,
        "the server held uploads in memory: {before} kB -> {after} kB"
    );
    let (status, _) = send(
        sock,
        "HEAD",
        "/v1.41/containers/box/archive?path=/data/big.bin",
        "",
        None,
    )
    .await;
    assert_eq!(status, 200, "the file arrived");
    lab.end().await;
}

/// Open files of process `pid` that are unnamed temporary files.
fn temp_files_open(pid: u32) -> usize {
    let tmp = std::env::temp_dir();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter(|target| {
                    target.starts_with(&tmp) && target.to_string_lossy().ends_with("(deleted)")
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn broken_uploads_get_clear_errors_and_leave_nothing_behind() {
    let lab = ServedLab::start(&[]).await;
    let (dir, sock, id) = (lab.home.dir.path(), &lab.sock, lab.id.clone());
    let pid = lab.server.child.id();
    let files_before = temp_files_open(pid);

    // Truncated, not a tar at all, or compressed: a 400 that says so.
    let whole = context(
        b"FROM drydock/busybox:1\nCOPY big /big\n",
        &[("big", &[7u8; 100_000])],
    );
    let mut gzip = vec![0x1f, 0x8b];
    gzip.extend_from_slice(&whole[..100]);
    for (what, body) in [
        ("truncated", whole[..60_000].to_vec()),
        ("not a tar", b"hello, this is no archive".to_vec()),
        ("compressed", gzip),
    ] {
        for path in [
            "/v1.41/build?t=broken:1",
            "/v1.41/containers/box/archive?path=/tmp",
        ] {
            let method = if path.contains("archive") {
                "PUT"
            } else {
                "POST"
            };
            let (status, answer) =
                send(sock, method, path, "application/x-tar", Some(body.clone())).await;
            assert_eq!(status, 400, "{what} {path}: {answer}");
            assert!(answer.contains("\"message\""), "{what} {path}: {answer}");
        }
    }
    // Larger than the lab's 50 MiB budget.
    let big = dir.join("too-big.tar");
    big_tar(&big, 51 << 20, 1);
    let curl = |extra: &[&str]| {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-T"])
            .arg(&big)
            .args(["-H", "Content-Type: application/x-tar", "--unix-socket"])
            .arg(sock)
            .args(extra)
            .arg("http://lab/v1.41/containers/box/archive?path=/tmp");
        cmd
    };
    let out = curl(&["-m", "120"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.ends_with("400") && text.contains("larger than"),
        "{text}"
    );

    // Over the budget, the endpoint reads on (and drops) up to one budget
    // more so that a client still sending gets the answer. An attacker who
    // never stops, on a raw connection and in chunks with no length, is
    // cut off there: the server does not read forever.
    {
        use tokio::io::AsyncWriteExt;
        let mut raw = tokio::net::UnixStream::connect(sock).await.unwrap();
        raw.write_all(
            b"PUT /v1.41/containers/box/archive?path=/tmp HTTP/1.1\r\nHost: lab\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
        let chunk = [b"100000\r\n".as_slice(), &vec![0u8; 1 << 20], b"\r\n"].concat();
        let mut sent = 0u64;
        let endless = async {
            while sent < 400 << 20 {
                if raw.write_all(&chunk).await.is_err() {
                    return true;
                }
                sent += 1 << 20;
            }
            false
        };
        let cut = tokio::time::timeout(std::time::Duration::from_secs(60), endless)
            .await
            .unwrap_or(false);
        assert!(
            cut,
            "the endpoint was still reading after {} MiB",
            sent >> 20
        );
        // Twice the budget, and what the socket buffers hold.
        assert!(sent < 110 << 20, "cut off only after {} MiB", sent >> 20);
    }

    // A client that gives up half-way through its upload: while it sends,
    // the server holds the upload in a temporary file (seen from outside),
    // and when it goes, the file goes too.
    let mut slow = tokio::process::Command::from(curl(&["--limit-rate", "1M"]))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while temp_files_open(pid) <= files_before {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload was never spooled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    slow.kill().await.unwrap();
    // The session's upload turn is free again at once: a good upload passes.
    let started = std::time::Instant::now();
    let good = context(b"FROM drydock/busybox:1\n", &[("note", b"fine\n")]);
    let (status, answer) = send(
        sock,
        "PUT",
        "/v1.41/containers/box/archive?path=/tmp",
        "application/x-tar",
        Some(good),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // No temporary file is left open, and no container but the box.
    assert_eq!(
        temp_files_open(pid),
        files_before,
        "temporary files left open"
    );
    let mine = [("drydock.child-of", id.as_str())];
    let engine =
        drydock::docker::engine::Engine::connect(None, std::time::Duration::from_secs(10)).unwrap();
    assert_eq!(engine.list_labelled(&mine).await.unwrap().len(), 1);
    lab.end().await;
}
