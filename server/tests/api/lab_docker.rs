//! Docker inside a lab: the stock `docker` CLI in the `docker-cli` lab,
//! typed over the terminal WebSocket, works on the learner's own objects
//! through the lab's Docker endpoint; raw API requests to that endpoint (as
//! an attacker would send them) are refused or neutralised; the budget
//! holds; whatever a session made is gone when it ends, is reset or expires.

use std::{path::PathBuf, time::Duration};

use crate::common::{
    client::Client,
    labs::{endpoint_request, remove_lab_containers, Terminal},
    spawn_app_with, test_config, TestApp, TestDatabase,
};
use drydock::docker::proxy::SessionNames;
use serde_json::{json, Value};

const LAB: &str = "docker-cli";

async fn docker_app(db: TestDatabase, budget_containers: usize) -> TestApp {
    let mut config = test_config(&db);
    config.labs.capacity = 6;
    config.labs.reap_interval_secs = 1;
    config.labs.docker_budget.containers = budget_containers;
    spawn_app_with(db, config).await
}

/// Starts the lab for `learner`: the session id and an open terminal.
async fn start(learner: &Client) -> (String, Terminal) {
    let (status, lab) = learner.start_lab(LAB).await;
    assert_eq!(status, 201, "{lab}");
    let id = lab["id"].as_str().unwrap().to_string();
    let mut term = learner.terminal(&id).await.expect("owner may attach");
    term.expect(&format!("{LAB}:")).await;
    (id, term)
}

/// The host side of a session's endpoint: the socket an attacker inside the
/// lab talks to, reached here without the CLI.
fn socket_of(app: &TestApp, session: &str) -> PathBuf {
    app.state
        .config
        .labs
        .socket_dir
        .join(SessionNames::of(session).prefix())
        .join("docker.sock")
}

/// One raw HTTP request to a lab's endpoint: status and body.
async fn raw(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let body = body.map(|b| b.to_string().into_bytes());
    endpoint_request(socket, method, path, "application/json", body).await
}

/// The engine's view of what a session owns: containers, volumes, networks
/// (by the session's label) and images (by the session's namespace).
async fn owned_by(app: &TestApp, session: &str) -> Vec<String> {
    let engine = &app.state.engine;
    let mine = [("drydock.child-of", session)];
    let mut all: Vec<String> = engine
        .list_labelled(&mine)
        .await
        .unwrap()
        .into_iter()
        .map(|c| format!("container {:?}", c.names))
        .collect();
    all.extend(
        engine
            .volumes_labelled(&mine)
            .await
            .unwrap()
            .into_iter()
            .map(|v| format!("volume {v}")),
    );
    all.extend(
        engine
            .networks_labelled(&mine)
            .await
            .unwrap()
            .into_iter()
            .map(|n| format!("network {n}")),
    );
    let prefix = SessionNames::of(session).image_prefix();
    all.extend(
        engine
            .tags_under(&prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|t| format!("image {t}")),
    );
    all
}

/// How many lines of `out` are a container id (64 hex digits).
fn container_ids(out: &str) -> usize {
    out.lines()
        .map(str::trim)
        .filter(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .count()
}

fn says(out: &str, needles: &[&str]) {
    for needle in needles {
        assert!(out.contains(needle), "expected {needle:?} in:\n{out}");
    }
}

#[tokio::test]
async fn the_docker_cli_in_a_lab_works_on_the_learners_own_objects() {
    let app = docker_app(TestDatabase::sqlite(), 8).await;
    let learner = Client::arrive(&app).await;
    let (id, mut t) = start(&learner).await;

    says(
        &t.output_of("docker version").await,
        &["Server: Drydock lab endpoint", "API version:      1.41"],
    );
    says(
        &t.output_of("docker info").await,
        &["Containers: 0", "Kernel Version"],
    );
    says(
        &t.output_of("docker run --rm drydock/busybox:1 echo hi-from-a-container")
            .await,
        &["\nhi-from-a-container"],
    );
    says(
        &t.output_of("docker images --format '{{.Repository}}:{{.Tag}}'")
            .await,
        &["drydock/busybox:1", "drydock/webapp:1"],
    );

    // A two-container app on the lab network: a web server and a client
    // that reaches it by name; the lab itself reaches it too.
    let created = t
        .output_of("docker run -d --name web -p 8080:8080 drydock/webapp:1")
        .await;
    assert_eq!(container_ids(&created), 1, "{created}");
    let out = t
        .output_of("sleep 1; docker run --rm drydock/busybox:1 sh -c 'printf \"GET / HTTP/1.0\\r\\n\\r\\n\" | nc web 8080' | head -1")
        .await;
    says(&out, &["HTTP/1.1 200 OK"]);
    says(
        // Up to three tries, a second apart: under a loaded suite the lab's
        // first connection to the new name was once answered with nothing.
        &t.output_of("for i in 1 2 3; do r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc web 8080 2>&1 | head -1); case $r in *200*) break;; esac; sleep 1; done; echo \"$r\"")
            .await,
        &["HTTP/1.1 200 OK"],
    );
    says(
        &t.output_of("docker ps").await,
        &["drydock/webapp:1", " web\r"],
    );
    says(&t.output_of("docker logs web").await, &["serving /srv/www"]);
    says(&t.output_of("docker exec web id -u").await, &["\n0"]);
    says(
        &t.output_of(
            "docker inspect -f '{{.Name}} {{.HostConfig.Runtime}} {{.HostConfig.Privileged}}' web",
        )
        .await,
        &["/web runsc-net false"],
    );
    says(
        &t.output_of("docker top web").await,
        &["httpd -f -v -p 8080"],
    );
    says(
        &t.output_of("docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' web")
            .await,
        &["web ", "MiB"],
    );
    says(
        &t.output_of("echo copied-in > note; docker cp note web:/srv/note && docker exec web cat /srv/note; docker cp web:/srv/www/index.html page && head -c 15 page").await,
        &["\ncopied-in", "<!doctype html>"],
    );
    says(&t.output_of("docker stop -t 1 web && docker start web && docker restart -t 1 web && docker kill web").await, &["web\r\nweb\r\nweb\r\nweb"]);
    says(
        &t.output_of("docker wait web; docker ps -a --format '{{.Names}} {{.Status}}'")
            .await,
        &["137", "web Exited (137)"],
    );
    says(
        &t.output_of("docker rm web && docker ps -aq | wc -l").await,
        &["web", "\n0"],
    );

    // Interactive, with a TTY that follows the terminal's size.
    t.resize(100, 30).await;
    t.run("docker run -it --rm drydock/busybox:1 sh").await;
    t.expect("~ $").await;
    says(
        &t.output_of("stty size; [ -t 0 ] && echo stdin-is-a-tty; echo $((6*7))")
            .await,
        &["30 100", "\nstdin-is-a-tty", "42"],
    );
    t.run("exit").await;
    t.expect(&format!("@{LAB}:")).await;
    says(
        &t.output_of("echo back-in-the-lab-$((6*7))").await,
        &["back-in-the-lab-42"],
    );

    // Volumes and networks.
    says(
        &t.output_of("docker volume create data && docker volume ls -q && docker volume inspect -f '{{.Name}}' data").await,
        &["data\r\ndata\r\ndata"],
    );
    says(
        &t.output_of(
            "docker network create appnet >/dev/null && docker network ls --format '{{.Name}}'",
        )
        .await,
        &["appnet", "lab"],
    );
    says(
        &t.output_of("docker run -d --name db --network appnet -v data:/data drydock/busybox:1 sleep 300 >/dev/null && docker network connect lab db && docker inspect -f '{{len .NetworkSettings.Networks}}' db").await,
        &["\n2"],
    );
    says(
        &t.output_of("docker system df").await,
        &["Containers      1", "Local Volumes   1"],
    );
    says(
        &t.output_of("docker rm -f db && docker network rm appnet && docker volume rm data")
            .await,
        &["db", "appnet", "data"],
    );

    // Build, tag, inspect, history, remove.
    let out = t
        .output_of("printf 'FROM drydock/busybox:1\\nCOPY msg /msg\\nCMD [\"cat\", \"/msg\"]\\n' > Dockerfile; echo built-here > msg; docker build -q -t hello:1 . >/dev/null && docker run --rm hello:1")
        .await;
    says(&out, &["\nbuilt-here"]);
    says(
        &t.output_of("docker tag hello:1 hello:2 && docker image inspect -f '{{.RepoTags}}' hello:1 && docker history -q hello:1 | wc -l && docker image rm hello:2 && docker images hello --format '{{.Tag}}'").await,
        &["[hello:1 hello:2]", "Untagged: hello:2", "\n1"],
    );

    // What a host must never allow is refused, with a reason.
    for (cmd, reason) in [
        (
            "docker run --rm --privileged drydock/busybox:1 true",
            "--privileged is refused in this lab",
        ),
        (
            "docker run --rm -v /:/host drydock/busybox:1 true",
            "-v /:/host is refused in this lab",
        ),
        (
            "docker run --rm --pid host drydock/busybox:1 true",
            "--pid host is refused",
        ),
        (
            "docker run --rm -v /var/run/docker.sock:/s drydock/busybox:1 true",
            "the Docker socket is root on the host",
        ),
        (
            "docker run --rm --cap-add SYS_ADMIN drydock/busybox:1 true",
            "--cap-add SYS_ADMIN is refused",
        ),
        ("docker pull alpine", "offline"),
    ] {
        says(
            &t.output_of(cmd).await,
            &["Error response from daemon", reason],
        );
    }
    let refused: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM audit_events WHERE event = 'lab_docker_refused'")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert!(
        refused.iter().any(|d| d.contains("--privileged")),
        "{refused:?}"
    );
    assert!(refused.len() >= 5, "{refused:?}");

    // Stopping the lab removes everything it made, images included.
    assert!(!owned_by(&app, &id).await.is_empty());
    t.close().await;
    assert_eq!(learner.delete(&format!("/api/v1/labs/{id}")).await, 204);
    assert_eq!(owned_by(&app, &id).await, Vec::<String>::new());
    assert!(!socket_of(&app, &id).exists(), "the endpoint is closed");
    remove_lab_containers(&app).await;
}

#[tokio::test]
async fn raw_requests_to_a_labs_endpoint_cannot_escape_it() {
    let app = docker_app(TestDatabase::sqlite(), 3).await;
    let (alice, bob) = (Client::arrive(&app).await, Client::arrive(&app).await);
    let (a, mut ta) = start(&alice).await;
    let (b, mut tb) = start(&bob).await;
    let sock = socket_of(&app, &a);

    // Bob's container, by name and by id, does not exist for Alice.
    let out = tb.output_of("docker run -d --name secret drydock/busybox:1 sleep 300 && docker create --name idle drydock/busybox:1").await;
    assert!(!out.contains("Error"), "{out}");
    let bob_id = app
        .state
        .engine
        .list_labelled(&[("drydock.child-of", &b)])
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running"))
        .unwrap()
        .id
        .clone()
        .unwrap();
    for path in [
        format!("/v1.41/containers/{bob_id}/json"),
        format!("/v1.41/containers/{}/json", &bob_id[..12]),
        "/v1.41/containers/secret/json".to_string(),
        format!(
            "/v1.41/containers/{}/json",
            SessionNames::of(&b).object("secret")
        ),
        format!("/v1.41/containers/{bob_id}/logs?stdout=1"),
        format!("/v1.41/containers/{bob_id}/archive?path=/etc"),
    ] {
        let (status, body) = raw(&sock, "GET", &path, None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    for (method, path) in [
        ("POST", format!("/v1.41/containers/{bob_id}/kill")),
        ("DELETE", format!("/v1.41/containers/{bob_id}?force=1")),
        ("POST", format!("/v1.41/containers/{bob_id}/exec")),
    ] {
        let (status, body) = raw(&sock, method, &path, Some(json!({"Cmd": ["id"]}))).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    let (_, list) = raw(&sock, "GET", "/v1.41/containers/json?all=1", None).await;
    assert!(
        !list.contains(&bob_id) && !list.contains("secret"),
        "{list}"
    );
    let (_, events) = raw(&sock, "GET", "/v1.41/events?until=1", None).await;
    assert!(!events.contains(&bob_id), "{events}");

    // Create bodies that try to smuggle the host in, each refused.
    let image = "drydock/busybox:1";
    let refused: Vec<(&str, Value)> = vec![
        (
            "privileged",
            json!({"Image": image, "HostConfig": {"Privileged": true}}),
        ),
        (
            "top-level HostConfig fields",
            json!({"Image": image, "Privileged": true}),
        ),
        (
            "top-level binds",
            json!({"Image": image, "Binds": ["/:/host"]}),
        ),
        (
            "case-variant duplicate",
            json!({"Image": image, "HostConfig": {"Binds": []}, "hostconfig": {"Binds": ["/:/host"]}}),
        ),
        (
            "lower-case key",
            json!({"Image": image, "HostConfig": {"privileged": true}}),
        ),
        (
            "bind mount",
            json!({"Image": image, "HostConfig": {"Mounts": [{"Type": "bind", "Source": "/", "Target": "/h"}]}}),
        ),
        (
            "engine socket",
            json!({"Image": image, "HostConfig": {"Binds": ["/run/docker.sock:/s"]}}),
        ),
        (
            "volume with driver options",
            json!({"Image": image, "HostConfig": {"Mounts": [{"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"type": "none", "o": "bind", "device": "/"}}}}]}}),
        ),
        (
            "devices",
            json!({"Image": image, "HostConfig": {"Devices": [{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"}]}}),
        ),
        (
            "device requests",
            json!({"Image": image, "HostConfig": {"DeviceRequests": [{"Count": -1, "Capabilities": [["gpu"]]}]}}),
        ),
        (
            "capability",
            json!({"Image": image, "HostConfig": {"CapAdd": ["cap_sys_admin"]}}),
        ),
        (
            "capability ALL",
            json!({"Image": image, "HostConfig": {"CapAdd": ["ALL"]}}),
        ),
        (
            "seccomp",
            json!({"Image": image, "HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}}),
        ),
        (
            "apparmor",
            json!({"Image": image, "HostConfig": {"SecurityOpt": ["apparmor:unconfined"]}}),
        ),
        (
            "selinux",
            json!({"Image": image, "HostConfig": {"SecurityOpt": ["label=disable"]}}),
        ),
        (
            "sysctl",
            json!({"Image": image, "HostConfig": {"Sysctls": {"kernel.core_pattern": "|/x"}}}),
        ),
        (
            "runtime",
            json!({"Image": image, "HostConfig": {"Runtime": "runc"}}),
        ),
        (
            "cgroup parent",
            json!({"Image": image, "HostConfig": {"CgroupParent": "/"}}),
        ),
        (
            "volume driver",
            json!({"Image": image, "HostConfig": {"VolumeDriver": "local-persist"}}),
        ),
        (
            "pid host",
            json!({"Image": image, "HostConfig": {"PidMode": "host"}}),
        ),
        (
            "ipc host",
            json!({"Image": image, "HostConfig": {"IpcMode": "host"}}),
        ),
        (
            "userns host",
            json!({"Image": image, "HostConfig": {"UsernsMode": "host"}}),
        ),
        (
            "uts host",
            json!({"Image": image, "HostConfig": {"UTSMode": "host"}}),
        ),
        (
            "network host",
            json!({"Image": image, "HostConfig": {"NetworkMode": "host"}}),
        ),
        (
            "another learner's namespace",
            json!({"Image": image, "HostConfig": {"NetworkMode": format!("container:{bob_id}")}}),
        ),
        (
            "another learner's volumes",
            json!({"Image": image, "HostConfig": {"VolumesFrom": [bob_id.clone()]}}),
        ),
        (
            "gVisor annotations",
            json!({"Image": image, "HostConfig": {"Annotations": {"dev.gvisor.spec.rootfs.overlay": "none"}}}),
        ),
        (
            "a drydock image overwritten by name",
            json!({"Image": image, "HostConfig": {"Binds": ["/etc:/etc"]}}),
        ),
    ];
    for (what, body) in &refused {
        let (status, answer) = raw(
            &sock,
            "POST",
            "/v1.41/containers/create?name=x",
            Some(body.clone()),
        )
        .await;
        assert!(
            (400..500).contains(&status) && status != 404,
            "{what}: {status} {answer}"
        );
        let message: Value =
            serde_json::from_str(&answer).unwrap_or_else(|_| panic!("{what}: not JSON: {answer}"));
        assert!(
            message["message"].as_str().is_some_and(|m| m.len() > 20),
            "{what}: {answer}"
        );
    }
    assert!(
        owned_by(&app, &a)
            .await
            .iter()
            .all(|o| o.starts_with("network")),
        "nothing was created"
    );

    // Prune is the session's own: Bob's stopped container stays.
    for path in [
        "/v1.41/containers/prune",
        "/v1.41/volumes/prune",
        "/v1.41/networks/prune",
    ] {
        let (status, answer) = raw(&sock, "POST", path, None).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    assert_eq!(
        app.state
            .engine
            .list_labelled(&[("drydock.child-of", &b)])
            .await
            .unwrap()
            .len(),
        2
    );

    // Drydock's own labels cannot be forged.
    let (status, answer) = raw(
        &sock,
        "POST",
        "/v1.41/containers/create",
        Some(json!({"Image": image, "Labels": {"Drydock.Session": &b}})),
    )
    .await;
    assert_eq!(status, 403, "{answer}");

    // More memory than the lab's whole budget is refused, with the numbers.
    let (status, answer) = raw(
        &sock,
        "POST",
        "/v1.41/containers/create",
        Some(json!({"Image": image, "HostConfig": {"Memory": 1_i64 << 40}})),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert!(answer.contains("1024 MiB"), "{answer}");

    // What is allowed comes out confined, whatever was asked for.
    let (status, created) = raw(
        &sock,
        "POST",
        "/v1.41/containers/create?name=greedy",
        Some(json!({"Image": image, "Cmd": ["sleep", "60"], "Labels": {"mine": "yes"},
            "HostConfig": {"Memory": 0, "PidsLimit": 0, "NanoCpus": 64_000_000_000_i64, "CapDrop": [], "ReadonlyRootfs": false}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    let inspect = app
        .state
        .engine
        .inspect(created["Id"].as_str().unwrap())
        .await
        .unwrap();
    let host = inspect.host_config.unwrap();
    assert_eq!(
        host.memory,
        Some(256 << 20),
        "the default share of the budget"
    );
    assert!(
        host.nano_cpus.unwrap() <= 1_000_000_000,
        "{:?}",
        host.nano_cpus
    );
    assert!(host.pids_limit.unwrap() > 0);
    assert_eq!(host.runtime.as_deref(), Some("runsc-net"));
    assert_eq!(host.privileged, Some(false));
    let labels = inspect.config.unwrap().labels.unwrap();
    assert_eq!(labels["drydock.child-of"], a);
    assert_eq!(labels["mine"], "yes");
    assert!(!labels.contains_key("drydock.session"), "{labels:?}");

    // Old API versions, a start with a body, and everything off the list.
    for (method, path, body) in [
        (
            "POST",
            "/v1.23/containers/create".to_string(),
            Some(json!({"Image": image})),
        ),
        (
            "POST",
            "/v1.41/containers/greedy/start".to_string(),
            Some(json!({"Binds": ["/:/host"], "Privileged": true})),
        ),
        ("POST", "/v1.41/swarm/init".to_string(), Some(json!({}))),
        ("GET", "/v1.41/services".to_string(), None),
        ("GET", "/v1.41/secrets".to_string(), None),
        ("GET", "/v1.41/configs".to_string(), None),
        ("GET", "/v1.41/plugins".to_string(), None),
        ("GET", "/v1.41/nodes".to_string(), None),
        ("POST", "/v1.41/images/prune".to_string(), None),
        ("POST", "/v1.41/images/load".to_string(), None),
        (
            "POST",
            "/v1.41/images/create?fromImage=alpine".to_string(),
            None,
        ),
        ("POST", "/v1.41/images/create?fromSrc=-".to_string(), None),
        (
            "POST",
            "/v1.41/images/drydock/busybox:1/push".to_string(),
            None,
        ),
        ("GET", "/v1.41/distribution/alpine/json".to_string(), None),
        ("POST", "/session".to_string(), None),
        ("POST", "/grpc".to_string(), None),
        (
            "POST",
            "/v1.41/build?remote=http://127.0.0.1:9/x.tar".to_string(),
            None,
        ),
        ("POST", "/v1.41/build?networkmode=host".to_string(), None),
        (
            "POST",
            format!("/v1.41/commit?container={bob_id}&repo=stolen"),
            None,
        ),
        (
            "POST",
            "/v1.41/images/drydock/busybox:1/tag?repo=drydock/webapp&tag=1".to_string(),
            None,
        ),
        (
            "DELETE",
            "/v1.41/images/drydock/busybox:1?force=1".to_string(),
            None,
        ),
        ("GET", "/v1.41/containers/../../info".to_string(), None),
        ("GET", "/v1.41//containers/json".to_string(), None),
    ] {
        let (status, answer) = raw(&sock, method, &path, body).await;
        assert!(
            (400..500).contains(&status),
            "{method} {path}: {status} {answer}"
        );
    }
    assert!(app
        .state
        .engine
        .image("drydock/busybox:1")
        .await
        .unwrap()
        .is_some());
    assert!(app
        .state
        .engine
        .tags_under("stolen")
        .await
        .unwrap()
        .is_empty());

    // The budget: three containers at most (greedy is one).
    let created = ta.output_of("docker create --name two drydock/busybox:1 && docker create --name three drydock/busybox:1").await;
    assert_eq!(container_ids(&created), 2, "{created}");
    says(
        &ta.output_of("docker create --name four drydock/busybox:1")
            .await,
        &["Error response from daemon", "3 containers"],
    );

    // A fork bomb and a memory hog in Alice's child do not reach Bob's lab.
    says(
        &ta.output_of("docker run -d --name bomb drydock/busybox:1 sh -c 'f(){ f|f& }; f' >/dev/null; docker rm -f two three >/dev/null; docker run -d --name hog -m 64m drydock/busybox:1 sh -c 'x=a; while :; do x=$x$x; done' >/dev/null; echo started-$((1+1))").await,
        &["started-2"],
    );
    let mut echo_ms = Vec::new();
    for i in 0..20 {
        let began = std::time::Instant::now();
        tb.output_of(&format!("echo ping-{i}")).await;
        echo_ms.push(began.elapsed().as_millis());
    }
    echo_ms.sort();
    eprintln!(
        "Bob's echo while Alice's children misbehave: p50 {} ms, p99 {} ms",
        echo_ms[10], echo_ms[19]
    );
    assert!(echo_ms[19] < 5_000, "{echo_ms:?}");

    ta.close().await;
    tb.close().await;
    for (learner, id) in [(&alice, &a), (&bob, &b)] {
        assert_eq!(learner.delete(&format!("/api/v1/labs/{id}")).await, 204);
        assert_eq!(owned_by(&app, id).await, Vec::<String>::new());
    }
    remove_lab_containers(&app).await;
}

#[tokio::test]
async fn nothing_of_a_session_survives_reset_expiry_or_a_stop_on_postgres() {
    let app = docker_app(TestDatabase::postgres().await, 8).await;
    let learner = Client::arrive(&app).await;
    let (id, mut t) = start(&learner).await;
    let make = "docker volume create keep >/dev/null; docker network create side >/dev/null; docker run -d --name left -v keep:/k drydock/busybox:1 sleep 600 >/dev/null; printf 'FROM drydock/busybox:1\\nCOPY f /f\\n' > Dockerfile; echo x > f; docker build -q -t mine:1 . >/dev/null; docker images -q mine | wc -l";
    says(&t.output_of(make).await, &["\n1"]);
    let made = owned_by(&app, &id).await;
    assert!(made.len() >= 5, "{made:?}");
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lab_images WHERE session_id = $1")
        .bind(&id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert!(recorded >= 1, "the build's image is on record");

    // Reset: a fresh lab container, and a clean slate behind it (its own
    // network only), with the CLI working again.
    let (status, _) = learner
        .post(&format!("/api/v1/labs/{id}/reset"), json!({}))
        .await;
    assert_eq!(status, 200);
    let after: Vec<String> = owned_by(&app, &id).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].starts_with("network"), "{after:?}");
    t.close().await;
    let mut t = learner.terminal(&id).await.unwrap();
    t.expect(&format!("{LAB}:")).await;
    says(&t.output_of(make).await, &["\n1"]);

    // Expiry: the reaper ends the session and removes what it made.
    sqlx::query("UPDATE lab_sessions SET expires_at = $1 WHERE id = $2")
        .bind(drydock::db::now_ms() - 1000)
        .bind(&id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    learner
        .wait_for_status(&id, "ended", Duration::from_secs(30))
        .await;
    assert_eq!(owned_by(&app, &id).await, Vec::<String>::new());
    let recorded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lab_images WHERE session_id = $1")
        .bind(&id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(recorded, 0);
    t.close().await;
    remove_lab_containers(&app).await;
}
