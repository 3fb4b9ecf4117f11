//! Grading stories against the real Docker engine (gVisor when offered):
//! every runtime and image check meets a compliant and a non-compliant
//! submission, the evasions of `hardening-checks.md` are seen through,
//! dangerous or broken submissions are refused with a clear answer, and
//! nothing the grader creates stays behind. Then learners go through the
//! HTTP API on SQLite and PostgreSQL, stale grades are re-graded, the CLI
//! grades a file, and a lab exercise is checked from outside the lab.

use std::time::{Duration, Instant};

use crate::common::{
    client::Client,
    grading::{
        bad_request, check, containers_running, describe, docker, every_image_check,
        every_run_check, exercise, grade_cases, grading_leftovers, ids_of, Case, SECRET,
    },
    spawn_app, workspace_root, TestApp, TestDatabase,
};
use drydock::db::{self, Backend};
use drydock_app::api_exercises::Submission;
use drydock_grader::checks::catalog::CheckArea;
use serde_json::json;

/// The hardened command of `least-privilege-run`, as its instructions ask.
const HARDENED_RUN: &str = "docker run -d --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges --read-only --tmpfs /tmp:rw,noexec,nosuid,size=16m --network none --memory 128m --pids-limit 100 drydock/webapp:1";

/// What the evasions are checked against: gVisor lets the grader run
/// options (seccomp=unconfined, SYS_PTRACE) that it refuses under runc.
async fn grading_app() -> TestApp {
    let app = spawn_app(TestDatabase::sqlite()).await;
    assert!(
        app.state.engine.offers_gvisor().await.unwrap(),
        "these stories expect the engine to offer gVisor (runsc)"
    );
    app
}

/// `drydock/webapp@sha256:<id>`: the exercise image named by digest.
async fn webapp_by_digest(app: &TestApp) -> String {
    let image = app
        .state
        .engine
        .image("drydock/webapp:1")
        .await
        .unwrap()
        .expect("drydock/webapp:1 is built (drydock images build)");
    let id = image.id.unwrap();
    format!("drydock/webapp@{id}")
}

/// Run submissions for [`every_run_check`]; `digest_ref` names the image by digest.
fn run_cases(digest_ref: &str) -> Vec<Case> {
    let every: Vec<&str> = ids_of(CheckArea::Run);
    vec![
        Case::run(
            "everything hardened",
            format!(
                "docker run -d --user 1000:1000 --cap-drop ALL --security-opt no-new-privileges \
                 --read-only --tmpfs /tmp:rw,noexec,nosuid,size=16m \
                 -v ./secrets:/run/secrets:ro -e APP_DB_PASSWORD_FILE=/run/secrets/db_password \
                 --network backend -p 127.0.0.1:8080:8080 --memory 128m --cpus 0.5 --pids-limit 100 \
                 --ulimit nofile=1024:2048 --restart on-failure:5 \
                 --health-cmd 'wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1' \
                 --health-interval 1s --health-retries 3 \
                 --log-driver json-file --log-opt max-size=10m --log-opt max-file=3 {digest_ref}"
            ),
        )
        .passes(&every),
        Case::run("Docker's defaults", "docker run -d drydock/webapp:1")
            .fails(&[
                "RUN-CAP-DROP-ALL",
                "RUN-NO-NEW-PRIVS",
                "RUN-NONROOT",
                "RUN-READONLY-ROOTFS",
                "RUN-TMPFS-SAFE",
                "RUN-NETWORK",
                "RUN-MEMORY",
                "RUN-CPU",
                "RUN-PIDS",
                "RUN-ULIMITS",
                "RUN-RESTART",
                "RUN-HEALTH",
                "RUN-LOGGING",
                "RUN-IMAGE-DIGEST",
            ])
            .passes(&[
                "RUN-NOT-PRIVILEGED",
                "RUN-NO-DANGEROUS-CAPS",
                "RUN-SECCOMP",
                "RUN-LSM",
                "RUN-USERNS",
                "RUN-VOLUMES-RO",
                "RUN-NO-SENSITIVE-MOUNT",
                "RUN-NO-DOCKER-SOCK",
                "RUN-PROPAGATION",
                "RUN-HOST-NS",
                "RUN-NO-DEVICES",
                "RUN-PORTS",
                "RUN-NO-ENV-SECRETS",
            ]),
        // Each option below looks like hardening, or hides its weakness.
        Case::run(
            "evasions that run",
            format!(
                "docker run -d --user 0:0 --cap-drop all \
                 --security-opt no-new-privileges=false --security-opt seccomp=unconfined \
                 --security-opt apparmor=unconfined --userns host \
                 --read-only -v ./www:/srv/www --tmpfs /tmp:rw,exec,size=16m -v ./data:/srv/data \
                 -p 80:8080 --memory 128m --memory-swap -1 --cpu-shares 512 --pids-limit 100000 \
                 --ulimit nofile=100000:100000 --restart always \
                 --health-cmd false --health-interval 1s --health-retries 1 --log-driver none \
                 -e P4SS={SECRET} drydock/webapp:1"
            ),
        )
        .fails(&[
            "RUN-NONROOT",
            "RUN-NO-NEW-PRIVS",
            "RUN-SECCOMP",
            "RUN-LSM",
            "RUN-USERNS",
            "RUN-READONLY-ROOTFS",
            "RUN-TMPFS-SAFE",
            "RUN-VOLUMES-RO",
            "RUN-PORTS",
            "RUN-MEMORY",
            "RUN-CPU",
            "RUN-PIDS",
            "RUN-ULIMITS",
            "RUN-RESTART",
            "RUN-HEALTH",
            "RUN-LOGGING",
            "RUN-NO-ENV-SECRETS",
            "RUN-NETWORK",
            "RUN-IMAGE-DIGEST",
        ])
        .passes(&[
            "RUN-CAP-DROP-ALL",
            "RUN-NOT-PRIVILEGED",
            "RUN-NO-DANGEROUS-CAPS",
            "RUN-NO-SENSITIVE-MOUNT",
            "RUN-NO-DOCKER-SOCK",
            "RUN-PROPAGATION",
            "RUN-HOST-NS",
            "RUN-NO-DEVICES",
        ])
        .says("RUN-NO-NEW-PRIVS", "=false")
        .says("RUN-READONLY-ROOTFS", "/srv/www (writable mount)")
        .says("RUN-TMPFS-SAFE", "exec")
        .says("RUN-MEMORY", "--memory-swap -1")
        .says("RUN-CPU", "--cpu-shares")
        .says("RUN-PIDS", "100000")
        .says("RUN-NO-ENV-SECRETS", "P4SS"),
        Case::run(
            "other spellings of the right thing",
            "docker run -d --user 1000 --cap-drop all --security-opt no-new-privileges:true \
             --read-only -v ./www:/srv/www:ro --tmpfs /tmp:rw,noexec,nosuid,size=16m \
             --network none --memory 128m --memory-swap 128m --cpus 0.5 --pids-limit 100 \
             drydock/webapp:1",
        )
        .passes(&[
            "RUN-NONROOT",
            "RUN-CAP-DROP-ALL",
            "RUN-NO-NEW-PRIVS",
            "RUN-READONLY-ROOTFS",
            "RUN-TMPFS-SAFE",
            "RUN-VOLUMES-RO",
            "RUN-NETWORK",
            "RUN-MEMORY",
            "RUN-CPU",
            "RUN-PIDS",
        ]),
        // The request is what a learner would run at home (under runc,
        // where the capability is granted), whatever gVisor makes of it.
        Case::run(
            "all dropped, one added back with its CAP_ prefix",
            "docker run -d --user 1000:1000 --cap-drop all --cap-add CAP_NET_RAW drydock/webapp:1",
        )
        .fails(&["RUN-CAP-DROP-ALL"])
        .passes(&["RUN-NO-DANGEROUS-CAPS"])
        .says("RUN-CAP-DROP-ALL", "NET_RAW"),
        Case::run(
            "root by name and a lowercase dangerous capability",
            "docker run -d --user root:root --cap-drop ALL --cap-add sys_ptrace drydock/webapp:1",
        )
        .fails(&["RUN-NONROOT", "RUN-NO-DANGEROUS-CAPS", "RUN-CAP-DROP-ALL"])
        .says("RUN-NO-DANGEROUS-CAPS", "SYS_PTRACE")
        .passes(&["RUN-NOT-PRIVILEGED"]),
        Case::run(
            "a health check that cannot fail",
            "docker run -d --user 1000:1000 --health-cmd true --health-interval 1s drydock/webapp:1",
        )
        .fails(&["RUN-HEALTH"])
        .passes(&["RUN-NONROOT"]),
        // Refused: graded as failures without being run.
        Case::run("--privileged", "docker run -d --privileged drydock/webapp:1")
            .fails(&["RUN-NOT-PRIVILEGED"])
            .notes(&["Drydock did not start this container", "--privileged"]),
        Case::run("--pid host", "docker run -d --pid host drydock/webapp:1")
            .fails(&["RUN-HOST-NS"])
            .notes(&["Drydock did not start this container", "--pid host"]),
        Case::run("--device", "docker run -d --device /dev/sda drydock/webapp:1")
            .fails(&["RUN-NO-DEVICES"])
            .notes(&["Drydock did not start this container", "/dev/sda"]),
        Case::run("/run instead of the socket", "docker run -d -v /run:/run drydock/webapp:1")
            .fails(&["RUN-NO-DOCKER-SOCK"])
            .notes(&["Drydock did not start this container", "Docker socket"]),
        Case::run("the host's root, read-only", "docker run -d -v /:/host:ro drydock/webapp:1")
            .fails(&["RUN-NO-SENSITIVE-MOUNT"])
            .notes(&["Drydock did not start this container", "read-only still leaks"]),
        Case::run(
            "shared propagation",
            "docker run -d -v ./data:/srv/data:ro,rshared drydock/webapp:1",
        )
        .fails(&["RUN-PROPAGATION"])
        .notes(&["Drydock did not start this container", "rshared"]),
        Case::compose(
            "a compose service asking for privileges",
            "services:\n  web:\n    image: drydock/webapp:1\n    privileged: true\n",
        )
        .fails(&["RUN-NOT-PRIVILEGED"])
        .notes(&["Drydock did not start this container", "--privileged"]),
    ]
}

/// Dockerfile submissions for [`every_image_check`].
fn image_cases(busybox_digest: &str) -> Vec<Case> {
    let www = ("www/index.html", "<p>hello</p>\n");
    let key = (
        "id_rsa",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAFAKEFAKEFAKEdrydocktestonly\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    let git = (
        "app/.git/config",
        "[remote \"origin\"]\n\turl = https://git.example.com/x.git\n",
    );
    let mut every: Vec<&str> = ids_of(CheckArea::Image);
    every.retain(|id| *id != "IMG-BASE-DIGEST");
    vec![
        Case::dockerfile(
            "everything hardened",
            r#"FROM drydock/busybox:1
USER 0:0
COPY www/ /srv/www/
RUN if command -v apt-get >/dev/null; then apt-get update && apt-get install -y --no-install-recommends ca-certificates=20230311 && rm -rf /var/lib/apt/lists/*; fi \
 && find / -xdev -perm /6000 -type f -exec chmod a-s {} +
HEALTHCHECK --interval=2s --timeout=2s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1
EXPOSE 8080
USER 1000:1000
CMD ["httpd", "-f", "-p", "8080", "-h", "/srv/www"]
"#,
            &[www],
        )
        .passes(&every)
        .fails(&["IMG-BASE-DIGEST"]),
        Case::dockerfile(
            "evasions, first batch",
            &format!(
                r#"FROM drydock/busybox:1
USER root
ADD www/ /srv/www/
COPY id_rsa /root/.ssh/id_rsa
RUN rm /root/.ssh/id_rsa
COPY app/ /srv/app/
ENV P4SS={SECRET}
RUN echo '#!/bin/sh' > /srv/tool && chmod 4755 /srv/tool && find / -xdev -perm /6000 -type f -exec chmod a-s {{}} +
RUN apt-get update || true
RUN apt-get install -y --allow-unauthenticated sudo openssh-server || true
RUN wget -q -O - http://tools.example.com/install.sh | sh || true
RUN echo 'guest::1001:1001::/home/guest:/bin/sh' >> /etc/passwd
RUN chmod u+s /srv/tool
VOLUME /sys/fs/cgroup
EXPOSE 22
HEALTHCHECK NONE
USER 0:0
CMD ["httpd", "-f", "-p", "8080", "-h", "/srv/www"]
"#
            ),
            &[www, key, git],
        )
        .fails(&[
            "IMG-NONROOT-USER",
            "IMG-NO-EMPTY-PW",
            "IMG-NO-SETUID",
            "IMG-NO-SUDO",
            "IMG-HEALTHCHECK",
            "IMG-COPY-NOT-ADD",
            "IMG-BASE-DIGEST",
            "IMG-NO-SECRET-ENVARG",
            "IMG-NO-SECRET-FILES",
            "IMG-BUILD-SECRET-MOUNT",
            "IMG-NO-JUNK-FILES",
            "IMG-UPDATE-WITH-INSTALL",
            "IMG-PKG-PINNED",
            "IMG-MINIMAL",
            "IMG-VERIFIED-PKGS",
            "IMG-NO-PIPE-TO-SHELL",
            "IMG-NO-SSH",
            "IMG-NO-SYS-VOLUME",
        ])
        .passes(&["IMG-BASE-TAG", "IMG-UNIQUE-UID"])
        .says("IMG-NO-SETUID", "/srv/tool")
        .says("IMG-NO-SECRET-FILES", "deleted later but still in that layer")
        .says("IMG-NO-SECRET-ENVARG", "P4SS")
        .says("IMG-NO-EMPTY-PW", "guest")
        .says("IMG-NO-JUNK-FILES", ".git"),
        Case::dockerfile(
            "root by name, an overwritten token, a check that cannot fail",
            &format!(
                r#"FROM drydock/busybox:1
COPY www/ /srv/www/
ENV API_TOKEN={SECRET}
ENV API_TOKEN=""
HEALTHCHECK CMD true
USER root:root
CMD ["httpd", "-f", "-p", "8080", "-h", "/srv/www"]
"#
            ),
            &[www],
        )
        .fails(&["IMG-NONROOT-USER", "IMG-NO-SECRET-ENVARG", "IMG-HEALTHCHECK"])
        .passes(&["IMG-NO-SECRET-FILES", "IMG-COPY-NOT-ADD", "IMG-NO-SETUID"])
        .says("IMG-NONROOT-USER", "root:root")
        .says("IMG-NO-SECRET-ENVARG", "API_TOKEN")
        .says("IMG-HEALTHCHECK", "can never fail"),
        Case::dockerfile(
            "a second root account and a secret under an innocent name",
            &format!(
                r#"FROM drydock/busybox:1
USER 0
COPY www/ /srv/www/
RUN echo 'toor:x:0:0::/root:/bin/sh' >> /etc/passwd
ENV MOTD={SECRET}
HEALTHCHECK --interval=2s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1
USER toor
CMD ["httpd", "-f", "-p", "8080", "-h", "/srv/www"]
"#
            ),
            &[www],
        )
        .fails(&["IMG-NONROOT-USER", "IMG-UNIQUE-UID", "IMG-NO-SECRET-ENVARG"])
        .passes(&["IMG-HEALTHCHECK", "IMG-NO-EMPTY-PW"])
        .says("IMG-NONROOT-USER", "uid 0")
        .says("IMG-UNIQUE-UID", "toor")
        .says("IMG-NO-SECRET-ENVARG", "MOTD"),
        Case::dockerfile("USER 0", "FROM drydock/busybox:1\nUSER 0\n", &[])
            .fails(&["IMG-NONROOT-USER"]),
        Case::dockerfile(
            "a base pinned by digest",
            &format!("FROM {busybox_digest}\nUSER 1000:1000\n"),
            &[],
        )
        .passes(&["IMG-BASE-DIGEST", "IMG-BASE-TAG"]),
        Case::dockerfile(
            "latest behind an ARG",
            "ARG BASE=drydock/busybox:latest\nFROM $BASE\nUSER 1000:1000\n",
            &[],
        )
        .fails(&["IMG-BASE-TAG", "IMG-BASE-DIGEST"])
        .notes(&["Not built", "drydock/busybox:latest"]),
    ]
}

#[tokio::test]
async fn every_runtime_check_sees_through_hardening_that_is_not() {
    let app = grading_app().await;
    let digest = webapp_by_digest(&app).await;
    let started = Instant::now();
    let mut problems = grade_cases(&app, &every_run_check(), &run_cases(&digest)).await;

    // A non-root image, overridden at run time with -u 0.
    let nonroot_image = exercise(
        "nonroot-image",
        "title = \"t\"\nsummary = \"s\"\nkind = \"run\"\ninstructions = \"i\"\nimage = \"busybox\"",
        &[("RUN-NONROOT", "")],
        Some("drydock/busybox:1"),
    );
    let override_cases = vec![
        Case::run(
            "the image's own user",
            "docker run -d drydock/busybox:1 sleep 60",
        )
        .passes(&["RUN-NONROOT"]),
        Case::run(
            "-u 0 over a non-root image",
            "docker run -d -u 0 drydock/busybox:1 sleep 60",
        )
        .fails(&["RUN-NONROOT"]),
    ];
    problems.extend(grade_cases(&app, &nonroot_image, &override_cases).await);
    eprintln!("runtime table graded in {:?}", started.elapsed());

    let left = grading_leftovers(&app);
    assert!(left.is_empty(), "the grader left behind: {left:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[tokio::test]
async fn every_image_check_reads_every_layer_not_only_the_dockerfile() {
    let app = grading_app().await;
    let busybox = app
        .state
        .engine
        .image("drydock/busybox:1")
        .await
        .unwrap()
        .expect("drydock/busybox:1 is built");
    let digest = format!("drydock/busybox:1@{}", busybox.id.unwrap());
    let started = Instant::now();
    let mut problems = grade_cases(&app, &every_image_check(), &image_cases(&digest)).await;

    // Running the image proves (or disproves) that its check really passes.
    let healthy = exercise(
        "healthy-image",
        "title = \"t\"\nsummary = \"s\"\nkind = \"dockerfile\"\ninstructions = \"i\"",
        &[("IMG-HEALTHCHECK", "wait_healthy = 1")],
        None,
    );
    let serve = "CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/srv/www\"]\n";
    let health_cases = vec![
        Case::dockerfile(
            "a check that passes when the service answers",
            &format!("FROM drydock/busybox:1\nCOPY www/ /srv/www/\nHEALTHCHECK --interval=1s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1\n{serve}"),
            &[("www/index.html", "ok\n")],
        )
        .passes(&["IMG-HEALTHCHECK"]),
        Case::dockerfile(
            "a check of the wrong port",
            &format!("FROM drydock/busybox:1\nCOPY www/ /srv/www/\nHEALTHCHECK --interval=1s --retries=1 CMD wget -q -O /dev/null http://127.0.0.1:9/ || exit 1\n{serve}"),
            &[("www/index.html", "ok\n")],
        )
        .fails(&["IMG-HEALTHCHECK"]),
    ];
    problems.extend(grade_cases(&app, &healthy, &health_cases).await);
    eprintln!("image table graded in {:?}", started.elapsed());

    let left = grading_leftovers(&app);
    assert!(left.is_empty(), "the grader left behind: {left:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_check_has_a_compliant_and_a_non_compliant_submission() {
    let mut cases = run_cases("drydock/webapp@sha256:0");
    cases.extend(image_cases("drydock/busybox:1@sha256:0"));
    let mut missing = Vec::new();
    for area in [CheckArea::Run, CheckArea::Image] {
        for id in ids_of(area) {
            if !cases.iter().any(|c| c.pass.iter().any(|p| p == id)) {
                missing.push(format!("{id} never expected to pass"));
            }
            if !cases.iter().any(|c| c.fail.iter().any(|f| f == id)) {
                missing.push(format!("{id} never expected to fail"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[tokio::test]
async fn dangerous_or_broken_submissions_are_refused_with_a_reason() {
    let app = grading_app().await;
    let grader = &app.state.grading;
    let run = every_run_check();
    let image = every_image_check();
    let submit_run = |command: &str| Submission::Run {
        command: command.into(),
    };
    let submit_compose = |service: &str| Submission::Compose {
        service: service.into(),
    };
    let submit_dockerfile = |text: &str, files: &[(&str, &str)]| Submission::Dockerfile {
        dockerfile: text.into(),
        files: files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };

    let message = bad_request(
        grader
            .grade(
                &run,
                &submit_run("docker run --frobnicate drydock/webapp:1"),
                None,
            )
            .await,
    );
    assert!(message.contains("unknown flag --frobnicate"), "{message}");

    let message = bad_request(
        grader
            .grade(
                &run,
                &submit_compose("services:\n  web: [image: drydock/webapp:1\n"),
                None,
            )
            .await,
    );
    assert!(
        message.contains("line"),
        "a YAML error names its line: {message}"
    );

    // Several services are graded one by one, up to four of them.
    let five: String = std::iter::once("services:\n".to_string())
        .chain(["a", "b", "c", "d", "db"].map(|n| format!("  {n}:\n    image: drydock/webapp:1\n")))
        .collect();
    let message = bad_request(grader.grade(&run, &submit_compose(&five), None).await);
    assert!(
        message.contains("at most 4") && message.contains("`db`"),
        "{message}"
    );

    let message = bad_request(
        grader
            .grade(&run, &Submission::Flag { value: "x".into() }, None)
            .await,
    );
    assert!(message.contains("This is a run exercise"), "{message}");

    let message = bad_request(
        grader
            .grade(
                &image,
                &submit_dockerfile("FROM debian:12\nUSER 1000\n", &[]),
                None,
            )
            .await,
    );
    assert!(
        message.contains("debian:12") && message.contains("drydock/busybox:1"),
        "{message}"
    );

    let huge = format!(
        "FROM drydock/busybox:1\n{}",
        "# padding padding padding padding\n".repeat(2000)
    );
    let message = bad_request(
        grader
            .grade(&image, &submit_dockerfile(&huge, &[]), None)
            .await,
    );
    assert!(message.contains("at most 64 KiB"), "{message}");

    let message = bad_request(
        grader
            .grade(
                &image,
                &submit_dockerfile("FROM drydock/busybox:1\nCOPY x /x\n", &[("../x", "escape")]),
                None,
            )
            .await,
    );
    assert!(
        message.contains("\"../x\"") && message.contains(".."),
        "{message}"
    );

    // A build that fails still gets its purely static checks graded; a
    // check the built image must confirm fails, whatever the text says.
    let report = grader
        .grade(
            &image,
            &submit_dockerfile("FROM drydock/busybox:1\nRUN false\nUSER 1000:1000\n", &[]),
            None,
        )
        .await
        .expect("a failed build is a report");
    let check = |id: &str| report.checks.iter().find(|c| c.id == id).unwrap().clone();
    assert!(
        report.notes.iter().any(|n| n.contains("The build failed")),
        "{}",
        describe(&report)
    );
    assert!(check("IMG-BASE-TAG").passed, "{}", describe(&report));
    for id in ["IMG-COPY-NOT-ADD", "IMG-NONROOT-USER"] {
        let c = check(id);
        assert!(
            !c.passed && c.message.contains("did not build"),
            "{}",
            describe(&report)
        );
    }
    let setuid = check("IMG-NO-SETUID");
    assert!(
        !setuid.passed && setuid.message.contains("did not build"),
        "{}",
        describe(&report)
    );

    let left = grading_leftovers(&app);
    assert!(left.is_empty(), "the grader left behind: {left:?}");
}

#[tokio::test]
async fn a_build_that_overruns_its_time_is_stopped_and_leaves_nothing() {
    let app = grading_app().await;
    let slow = exercise(
        "slow-build",
        "title = \"t\"\nsummary = \"s\"\nkind = \"dockerfile\"\ninstructions = \"i\"\nbuild_timeout_secs = 5",
        &[("IMG-BASE-TAG", ""), ("IMG-NO-SETUID", "")],
        None,
    );
    let marker = format!("drydock-timeout-{}", uuid::Uuid::new_v4().simple());
    let dockerfile = format!("FROM drydock/busybox:1\nRUN echo {marker} >/dev/null && sleep 30\n");
    let started = Instant::now();
    let report = app
        .state
        .grading
        .grade(
            &slow,
            &Submission::Dockerfile {
                dockerfile,
                files: Default::default(),
            },
            None,
        )
        .await
        .expect("a build past its time is a report");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(15), "grading took {took:?}");
    assert!(
        report.notes.iter().any(|n| n.contains("longer than 5 s")),
        "{}",
        describe(&report)
    );
    assert!(!report.checks[1].passed, "{}", describe(&report));
    assert!(
        report.checks[0].passed,
        "static checks are still graded: {}",
        describe(&report)
    );

    // The build container (sleeping) goes away with the build.
    crate::common::eventually(
        "the timed-out build's container goes away",
        Duration::from_secs(15),
        || std::future::ready(containers_running(&marker).is_empty().then_some(())),
    )
    .await;
    let left = grading_leftovers(&app);
    assert!(left.is_empty(), "the grader left behind: {left:?}");
}

const SUBMISSIONS: &str = "/api/v1/exercises/least-privilege-run/submissions";

async fn a_learner_hardens_a_run_command_over_the_api(backend: Backend) {
    let app = spawn_app(TestDatabase::of(backend).await).await;
    let learner = Client::arrive(&app).await;

    let (status, list) = learner.get("/api/v1/exercises").await;
    assert_eq!(status, 200, "{list}");
    let kinds: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().into(),
                e["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (id, kind) in [
        ("least-privilege-run", "run"),
        ("limit-resources", "compose"),
        ("harden-image", "dockerfile"),
        ("strip-setuid-lab", "lab"),
        ("leaked-password", "flag"),
    ] {
        assert!(
            kinds.contains(&(id.into(), kind.into())),
            "{id} ({kind}) in {kinds:?}"
        );
    }

    // Docker's defaults earn little, and every check says why.
    let (status, weak) = learner
        .post(
            SUBMISSIONS,
            json!({"kind": "run", "command": "docker run -d drydock/webapp:1"}),
        )
        .await;
    assert_eq!(status, 201, "{weak}");
    let report = &weak["report"];
    assert!(
        report["score"].as_u64() < report["max"].as_u64(),
        "{report}"
    );
    assert_eq!(report["passed"], false);
    assert_eq!(weak["attempt"], 1);
    for c in report["checks"].as_array().unwrap() {
        for key in ["id", "passed", "points", "message", "hint", "evidence"] {
            assert!(!c[key].is_null(), "{key} missing in {c}");
        }
    }
    let nonroot = check(&weak, "RUN-NONROOT");
    assert_eq!(nonroot["passed"], false);
    assert_eq!(nonroot["points"], 0);
    assert!(
        nonroot["message"].as_str().unwrap().contains("--user"),
        "{nonroot}"
    );
    assert!(
        nonroot["evidence"].as_str().unwrap().contains("Uid"),
        "{nonroot}"
    );

    let (status, strong) = learner
        .post(SUBMISSIONS, json!({"kind": "run", "command": HARDENED_RUN}))
        .await;
    assert_eq!(status, 201, "{strong}");
    assert_eq!(
        strong["report"]["score"], strong["report"]["max"],
        "{strong}"
    );
    assert_eq!(strong["report"]["passed"], true);
    assert_eq!(strong["attempt"], 2);

    let (status, history) = learner.get(SUBMISSIONS).await;
    assert_eq!(status, 200, "{history}");
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["id"], strong["id"]);
    assert_eq!(history[0]["text"], HARDENED_RUN);
    assert_eq!(history[1]["id"], weak["id"]);

    // Attempts are private.
    let stranger = Client::arrive(&app).await;
    let (status, theirs) = stranger.get(SUBMISSIONS).await;
    assert_eq!(status, 200);
    assert_eq!(theirs, json!([]));
    let (_, detail) = stranger.get("/api/v1/exercises/least-privilege-run").await;
    assert_eq!(detail["history"], json!([]), "{detail}");
    assert_eq!(detail["summary"]["attempts"], 0);

    // A flag is compared on the server.
    let flag = "/api/v1/exercises/leaked-password/submissions";
    let (status, wrong) = learner
        .post(flag, json!({"kind": "flag", "value": "hunter2"}))
        .await;
    assert_eq!(status, 201, "{wrong}");
    assert_eq!(wrong["report"]["passed"], false);
    assert_eq!(wrong["report"]["score"], 0);
    let (status, right) = learner
        .post(
            flag,
            json!({"kind": "flag", "value": " pg-FAKE-drydock-7Qm2vX9rLw4Tn8Kc\n"}),
        )
        .await;
    assert_eq!(status, 201, "{right}");
    assert_eq!(right["report"]["passed"], true);
    assert_eq!(right["report"]["score"], right["report"]["max"]);

    // Mistakes get a status and a sentence.
    let (status, body) = learner
        .post(SUBMISSIONS, json!({"kind": "flag", "value": "x"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("This is a run exercise"),
        "{body}"
    );
    let (status, body) = learner
        .submit("no-such-exercise", json!({"kind": "flag", "value": "x"}))
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no-such-exercise"),
        "{body}"
    );
    let oversized = json!({"kind": "run", "command": "x".repeat(1100 * 1024)});
    let (status, body) = learner.post(SUBMISSIONS, oversized).await;
    assert!(status == 400 || status == 413, "{status} {body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("larger than"),
        "{body}"
    );

    // A compose service: the starter's look-alike limits, then real ones.
    let compose = "/api/v1/exercises/limit-resources/submissions";
    let starter = app.state.content.exercises["limit-resources"]
        .def
        .starter
        .clone();
    let (status, weak) = learner
        .post(compose, json!({"kind": "compose", "service": starter}))
        .await;
    assert_eq!(status, 201, "{weak}");
    for id in [
        "RUN-MEMORY",
        "RUN-CPU",
        "RUN-PIDS",
        "RUN-ULIMITS",
        "RUN-NETWORK",
        "RUN-PORTS",
    ] {
        assert_eq!(check(&weak, id)["passed"], false, "{id}: {weak}");
    }
    let limited = "services:\n  web:\n    image: drydock/webapp:1\n    user: \"1000:1000\"\n    mem_limit: 128m\n    cpus: 0.5\n    pids_limit: 100\n    ulimits:\n      nofile: { soft: 1024, hard: 2048 }\n    networks: [backend]\n    ports:\n      - \"127.0.0.1:8080:8080\"\nnetworks:\n  backend: {}\n";
    let (status, good) = learner
        .post(compose, json!({"kind": "compose", "service": limited}))
        .await;
    assert_eq!(status, 201, "{good}");
    assert_eq!(good["report"]["score"], good["report"]["max"], "{good}");
    // Several services: every one is started and graded, and one service
    // left unlimited fails the checks it misses, by name.
    let service = |name: &str, limits: bool| {
        let mut text = format!("  {name}:\n    image: drydock/webapp:1\n    user: \"1000:1000\"\n    networks: [backend]\n");
        if limits {
            text.push_str("    mem_limit: 128m\n    cpus: 0.5\n    pids_limit: 100\n    ulimits:\n      nofile: { soft: 1024, hard: 2048 }\n");
        }
        text
    };
    let file = |admin_limited: bool| {
        format!(
            "services:\n{}{}networks:\n  backend: {{}}\n",
            service("web", true),
            service("admin", admin_limited)
        )
    };
    let (status, half) = learner
        .post(compose, json!({"kind": "compose", "service": file(false)}))
        .await;
    assert_eq!(status, 201, "{half}");
    for id in ["RUN-MEMORY", "RUN-CPU", "RUN-PIDS", "RUN-ULIMITS"] {
        let c = check(&half, id);
        assert_eq!(c["passed"], false, "{id}: {half}");
        let message = c["message"].as_str().unwrap();
        assert!(
            message.contains("service `admin`") && !message.contains("service `web`"),
            "{id}: {c}"
        );
    }
    assert_eq!(check(&half, "RUN-NETWORK")["passed"], true, "{half}");
    let (status, both) = learner
        .post(compose, json!({"kind": "compose", "service": file(true)}))
        .await;
    assert_eq!(status, 201, "{both}");
    assert_eq!(both["report"]["score"], both["report"]["max"], "{both}");
    assert!(
        check(&both, "RUN-MEMORY")["message"]
            .as_str()
            .unwrap()
            .contains("Every service (2)"),
        "{both}"
    );
    let five = format!(
        "services:\n{}networks:\n  backend: {{}}\n",
        ["a", "b", "c", "d", "e"].map(|n| service(n, true)).concat()
    );
    let (status, body) = learner
        .post(compose, json!({"kind": "compose", "service": five}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("at most 4"),
        "{body}"
    );

    let (_, list) = learner.get("/api/v1/exercises").await;
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "least-privilege-run")
        .unwrap();
    assert_eq!(mine["attempts"], 2, "{mine}");
    assert_eq!(mine["passed"], true, "{mine}");
    assert_eq!(mine["best"], strong["report"]["max"], "{mine}");
    let left = grading_leftovers(&app);
    assert!(left.is_empty(), "the grader left behind: {left:?}");
}

#[tokio::test]
async fn a_learner_hardens_a_run_command_over_the_api_on_sqlite() {
    a_learner_hardens_a_run_command_over_the_api(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_learner_hardens_a_run_command_over_the_api_on_postgres() {
    a_learner_hardens_a_run_command_over_the_api(Backend::Postgres).await;
}

#[tokio::test]
async fn stale_grades_are_regraded_and_the_command_line_grades_a_file() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let learner = Client::arrive(&app).await;
    let (status, weak) = learner
        .post(
            SUBMISSIONS,
            json!({"kind": "run", "command": "docker run -d drydock/webapp:1"}),
        )
        .await;
    assert_eq!(status, 201, "{weak}");
    let grader = &app.state.grading;
    let db = &app.state.db;

    // Up to date: nothing to do.
    assert_eq!(
        grader.regrade("least-privilege-run", false).await.unwrap(),
        (0, 1, 0)
    );

    // The exercise's checks changed since: the stored grade is stale.
    sqlx::query("UPDATE submissions SET rubric = 'an-older-rubric', score = 999, graded_at = 0")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(
        grader.regrade("least-privilege-run", false).await.unwrap(),
        (1, 0, 0)
    );
    let rows = db::submissions::for_exercise(db, "least-privilege-run")
        .await
        .unwrap();
    let current = &app.state.content.exercises["least-privilege-run"].rubric;
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0].rubric, current);
    assert_eq!(rows[0].score, weak["report"]["score"].as_i64().unwrap());
    assert!(rows[0].graded_at > 0);
    let (_, history) = learner.get(SUBMISSIONS).await;
    assert_eq!(
        history[0]["report"]["score"], weak["report"]["score"],
        "{history}"
    );
    assert_eq!(
        grader.regrade("least-privilege-run", false).await.unwrap(),
        (0, 1, 0)
    );
    assert_eq!(
        grader.regrade("least-privilege-run", true).await.unwrap(),
        (1, 0, 0)
    );

    // An author grades a file from the command line.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("command.txt");
    std::fs::write(&file, HARDENED_RUN).unwrap();
    let database = format!("sqlite://{}/cli.db", dir.path().display());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_drydock"))
            .current_dir(workspace_root())
            .env("DRYDOCK_DATABASE_URL", database)
            .args(["grade", "--exercise", "least-privilege-run"])
            .arg(&file)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let max = app.state.content.exercises["least-privilege-run"].max_points();
    assert!(
        stdout.contains(&format!(
            "Run the web app with least privilege: {max} / {max} points — passed"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("✓ RUN-NONROOT"), "{stdout}");
    assert!(stdout.contains("graded in"), "{stdout}");
}

#[tokio::test]
async fn a_learner_strips_setuid_bits_in_the_lab_and_the_grader_checks_from_outside() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let learner = Client::arrive(&app).await;
    let submit = "/api/v1/exercises/strip-setuid-lab/submissions";

    let (status, body) = learner.post(submit, json!({"kind": "lab"})).await;
    assert_eq!(
        status, 409,
        "without a lab there is nothing to check: {body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("Start the lab"),
        "{body}"
    );

    let (status, lab) = learner.start_lab("image-security").await;
    assert_eq!(status, 201, "{lab}");
    let id = lab["id"].as_str().unwrap().to_string();
    learner
        .wait_for_status(&id, "running", Duration::from_secs(60))
        .await;

    // Nothing done yet: the check names every file still carrying a bit.
    // (Collected, not asserted at once, so the lab is always stopped.)
    let mut problems = Vec::new();
    let (status, before) = learner.post(submit, json!({"kind": "lab"})).await;
    assert_eq!(status, 201, "{before}");
    let setuid = check(&before, "LAB-NO-SETUID");
    let message = setuid["message"].as_str().unwrap();
    if setuid["passed"] != false {
        problems.push(format!(
            "LAB-NO-SETUID passed before any bit was removed: {before}"
        ));
    }
    for file in [
        "app/bin/backup-helper",
        "app/bin/report",
        "app/libexec/net-probe",
    ] {
        if !message.contains(file) {
            problems.push(format!("{file} is not named in {message:?}"));
        }
    }
    assert!(!message.contains("shop-api"), "{message}");

    // What the learner would type, done from the control plane as the learner.
    let out = app
        .state
        .engine
        .exec(
            &format!("drydock-{id}"),
            &[
                "sh",
                "-c",
                "find /home/learner -perm /6000 -type f -exec chmod a-s {} +",
            ],
            Some("1000"),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(0), "{out:?}");

    let (status, after) = learner.post(submit, json!({"kind": "lab"})).await;
    assert_eq!(status, 201, "{after}");
    assert_eq!(after["report"]["passed"], true, "{after}");
    assert_eq!(after["attempt"], 2);

    assert_eq!(learner.delete(&format!("/api/v1/labs/{id}")).await, 204);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn what_a_crashed_grader_left_behind_is_cleaned_up() {
    let app = spawn_app(TestDatabase::sqlite()).await;
    let instance = format!("drydock.instance={}", app.state.config.labs.instance);
    let name = format!(
        "drydock-grade-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let grading = format!("drydock.grading={name}");
    let image = format!("drydock-grade:{name}");

    // Labelled as the grader labels them: the run's container, its volume,
    // and a built image.
    let labels = [
        "--label",
        "drydock.managed=true",
        "--label",
        &instance,
        "--label",
        &grading,
    ];
    docker(
        &[
            &["create", "--name", &name][..],
            &labels,
            &["drydock/busybox:1", "sleep", "60"],
        ]
        .concat(),
    );
    docker(&[&["volume", "create"][..], &labels, &[&format!("{name}-v0")]].concat());
    let source = docker(&["create", "drydock/busybox:1"]);
    docker(&[
        "commit",
        "--change",
        "LABEL drydock.managed=true",
        "--change",
        &format!("LABEL {instance}"),
        "--change",
        &format!("LABEL {grading}"),
        &source,
        &image,
    ]);
    docker(&["rm", &source]);
    assert_eq!(
        grading_leftovers(&app).len(),
        3,
        "{:?}",
        grading_leftovers(&app)
    );

    let removed = app.state.grading.clean_leftovers().await.unwrap();
    let left = grading_leftovers(&app);
    // Whatever the grader missed, this test made it: remove it.
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &name])
        .output();
    let _ = std::process::Command::new("docker")
        .args(["volume", "rm", "-f", &format!("{name}-v0")])
        .output();
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &image])
        .output();
    assert!(
        left.is_empty(),
        "clean_leftovers removed {removed} and missed {left:?}"
    );
    assert_eq!(removed, 3);
}
