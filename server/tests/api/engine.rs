//! The lab engine against the real Docker engine: build the base image
//! offline, run a container under the default sandbox policy, look inside.

use std::time::Duration;

use crate::common::workspace_root;
use drydock::{
    config::Config,
    docker::{
        engine::{Engine, EngineError},
        images::{BuildOutcome, LabImage},
        policy::{SandboxLabels, SandboxLimits, SandboxPolicy},
    },
};
use futures_util::FutureExt;

fn engine() -> Engine {
    Engine::connect(None, Duration::from_secs(10)).expect("engine handle")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn base_image(engine: &Engine) -> LabImage {
    let images =
        LabImage::load_all(&workspace_root().join("content/images")).expect("image definitions");
    let busybox = images
        .into_iter()
        .find(|i| i.name == "busybox")
        .expect("busybox image defined");
    busybox
        .build(engine)
        .await
        .expect("base image builds offline");
    busybox
}

#[tokio::test]
async fn the_base_image_builds_offline_and_a_second_build_is_a_no_op() {
    let engine = engine();
    let image = base_image(&engine).await;
    let started = std::time::Instant::now();
    assert_eq!(image.build(&engine).await.unwrap(), BuildOutcome::UpToDate);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an unchanged image is not rebuilt"
    );
}

#[tokio::test]
async fn a_sandboxed_container_runs_non_root_with_every_limit_applied() {
    let engine = engine();
    let image = base_image(&engine).await;
    let gvisor = engine.offers_gvisor().await.unwrap();
    let session = unique("engine-test");
    let labels = SandboxLabels {
        owner: "test-owner".into(),
        lab: "skeleton".into(),
        session: session.clone(),
    };
    let limits = Config::default().sandbox;
    let policy = SandboxPolicy::strict(labels, limits.clone(), gvisor.then(|| "runsc".to_string()));

    let id = engine
        .start_sandbox(&policy, &image.tag, &["sleep", "300"])
        .await
        .expect("sandbox starts");
    let outcome = async {
        // The shell user is the unprivileged learner.
        let out = engine.exec(&id, &["id", "-u"], None).await.unwrap();
        assert_eq!(out.stdout.trim(), "1000", "{out:?}");

        // PID 1 has no capabilities at all, not even in its bounding set.
        let status = engine
            .exec(&id, &["cat", "/proc/1/status"], None)
            .await
            .unwrap()
            .stdout;
        assert!(status.contains("CapBnd:\t0000000000000000"), "{status}");
        assert!(
            status
                .lines()
                .any(|l| l.starts_with("Uid:") && l.contains("1000")),
            "{status}"
        );
        if !gvisor {
            // gVisor's /proc does not show this line; runc's does.
            assert!(status.contains("NoNewPrivs:\t1"), "{status}");
        }

        // The root filesystem is read-only; /tmp is a writable tmpfs.
        let write_root = engine
            .exec(&id, &["sh", "-c", "echo x > /owned"], None)
            .await
            .unwrap();
        assert_ne!(
            write_root.exit_code,
            Some(0),
            "writing to / must fail: {write_root:?}"
        );
        let write_tmp = engine
            .exec(&id, &["sh", "-c", "echo x > /tmp/ok && cat /tmp/ok"], None)
            .await
            .unwrap();
        assert_eq!(write_tmp.stdout.trim(), "x", "{write_tmp:?}");

        // Only loopback: no interface with a route out.
        let ifaces = engine
            .exec(&id, &["ls", "/sys/class/net"], None)
            .await
            .unwrap();
        assert!(!ifaces.stdout.contains("eth0"), "{ifaces:?}");

        // The engine's own record shows every limit.
        let inspect = engine.inspect(&id).await.unwrap();
        let host = inspect.host_config.expect("host config");
        assert_eq!(host.memory, Some(limits.memory_mb as i64 * 1024 * 1024));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.nano_cpus, Some((limits.cpus * 1e9) as i64));
        assert_eq!(host.pids_limit, policy.host_config().pids_limit);
        assert!(host.pids_limit.unwrap() >= limits.pids);
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert!(host
            .security_opt
            .unwrap_or_default()
            .iter()
            .any(|o| o == "no-new-privileges:true"));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert!(host.tmpfs.unwrap_or_default().contains_key("/tmp"));
        let runtime = host.runtime.unwrap_or_default();
        if gvisor {
            assert_eq!(runtime, "runsc");
        }
        let config = inspect.config.expect("config");
        assert_eq!(config.user.as_deref(), Some("1000:1000"));
        let l = config.labels.unwrap_or_default();
        assert_eq!(l.get("drydock.managed").map(String::as_str), Some("true"));
        assert_eq!(
            l.get("drydock.owner").map(String::as_str),
            Some("test-owner")
        );
        assert_eq!(l.get("drydock.lab").map(String::as_str), Some("skeleton"));
        assert_eq!(l.get("drydock.session"), Some(&session));
        eprintln!("sandbox checked under runtime {runtime:?} (gVisor offered: {gvisor})");
    };
    // Whatever the assertions say, the container goes.
    let result = std::panic::AssertUnwindSafe(outcome).catch_unwind().await;
    engine.remove(&id).await.expect("remove");
    assert!(engine
        .list_labelled(&[("drydock.session", &session)])
        .await
        .unwrap()
        .is_empty());
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn a_missing_runtime_is_refused_and_leaves_nothing_behind() {
    let engine = engine();
    let image = base_image(&engine).await;
    let session = unique("engine-test");
    let labels = SandboxLabels {
        owner: "test-owner".into(),
        lab: "skeleton".into(),
        session: session.clone(),
    };
    let policy = SandboxPolicy::strict(
        labels,
        SandboxLimits::default(),
        Some("no-such-runtime".into()),
    );
    let err = engine
        .start_sandbox(&policy, &image.tag, &["true"])
        .await
        .expect_err("must fail");
    assert!(matches!(err, EngineError::MissingRuntime(_)), "{err:?}");
    assert!(engine
        .list_labelled(&[("drydock.session", &session)])
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn cleanup_by_label_removes_every_matching_container() {
    let engine = engine();
    let image = base_image(&engine).await;
    let owner = unique("cleanup-owner");
    for n in 0..2 {
        let labels = SandboxLabels {
            owner: owner.clone(),
            lab: "skeleton".into(),
            session: unique(&format!("s{n}")),
        };
        let policy = SandboxPolicy::strict(labels, SandboxLimits::default(), None);
        engine
            .start_sandbox(&policy, &image.tag, &["sleep", "300"])
            .await
            .unwrap();
    }
    assert_eq!(
        engine
            .list_labelled(&[("drydock.owner", &owner)])
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        engine
            .remove_labelled(&[("drydock.owner", &owner)])
            .await
            .unwrap(),
        2
    );
    assert!(engine
        .list_labelled(&[("drydock.owner", &owner)])
        .await
        .unwrap()
        .is_empty());
}
