//! A second Docker engine of the test's own (ENVIRONMENT.md's recipe): its
//! own network namespace, data root, socket and containerd namespace, so a
//! test can stop it, start it again or fill its disk without touching the
//! engine every other test uses. It holds the images the test lab content
//! needs, copied from the main engine.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// Images the test labs run, copied onto every spare engine.
const IMAGES: [&str; 2] = ["drydock/busybox:1", "drydock/docker-lab:1"];

pub struct SpareEngine {
    dir: tempfile::TempDir,
    name: String,
    daemon: Option<Child>,
    /// Whether the data root is a tmpfs of its own (a small disk).
    tmpfs: bool,
}

impl SpareEngine {
    /// Starts an engine whose data root is a tmpfs of `disk_mb` MiB (a disk
    /// a test can fill), or on the machine's disk when `None`.
    pub async fn start(disk_mb: Option<u32>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dd-engine-")
            .tempdir()
            .unwrap();
        let name = format!("dd{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        std::fs::create_dir(dir.path().join("data")).unwrap();
        if let Some(mb) = disk_mb {
            run(
                &[
                    "mount",
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={mb}m"),
                    "tmpfs",
                ],
                &[dir.path().join("data")],
            );
        }
        std::fs::copy("/etc/docker/daemon.json", dir.path().join("daemon.json")).unwrap();
        run(&["ip", "netns", "add", &name], &[]);
        run(
            &[
                "ip", "netns", "exec", &name, "ip", "link", "set", "lo", "up",
            ],
            &[],
        );
        let mut engine = Self {
            dir,
            name,
            daemon: None,
            tmpfs: disk_mb.is_some(),
        };
        engine.start_again().await;
        let copy = format!(
            "docker save {} | DOCKER_HOST={} docker load -q",
            IMAGES.join(" "),
            engine.host()
        );
        let loaded = Command::new("sh").args(["-c", &copy]).output().unwrap();
        assert!(
            loaded.status.success(),
            "{}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        engine
    }

    /// `DOCKER_HOST` for this engine.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// The docker CLI against this engine; its standard output, trimmed.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.host())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Starts the daemon (again) and waits until it answers.
    pub async fn start_again(&mut self) {
        assert!(self.daemon.is_none(), "the engine is already running");
        let d = self.dir.path();
        let path = |p: &str| d.join(p).display().to_string();
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(d.join("dockerd.log"))
            .unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.name))
            .args(["dockerd", "--config-file", &path("daemon.json")])
            .args(["--data-root", &path("data"), "--exec-root", &path("exec")])
            .args(["--pidfile", &path("docker.pid")])
            .args(["-H", &self.host()])
            .args(["--containerd-namespace", &self.name])
            .args([
                "--containerd-plugins-namespace",
                &format!("{}-plugins", self.name),
            ])
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dockerd starts");
        self.daemon = Some(child);
        let host = self.host();
        super::eventually("the spare engine answers", Duration::from_secs(30), || {
            let answered = Command::new("docker")
                .args(["version", "--format", "{{.Server.Version}}"])
                .env("DOCKER_HOST", &host)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            std::future::ready(answered.then_some(()))
        })
        .await;
    }

    /// Stops the daemon (SIGTERM, as `systemctl stop docker` does) and
    /// waits until it has exited.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        run(&["kill", "-TERM", &child.id().to_string()], &[]);
        super::eventually("the spare engine stops", Duration::from_secs(60), || {
            std::future::ready(child.try_wait().unwrap())
        })
        .await;
    }

    /// The daemon's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for SpareEngine {
    fn drop(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            // Containers first, so the daemon does not wait out their stop
            // timeouts one by one.
            let _ = Command::new("sh")
                .args(["-c", "docker ps -aq | xargs -r docker rm -f"])
                .env("DOCKER_HOST", self.host())
                .output();
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        if self.tmpfs {
            let _ = Command::new("umount")
                .arg(self.dir.path().join("data"))
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(args: &[&str], paths: &[PathBuf]) {
    let status = Command::new(args[0])
        .args(&args[1..])
        .args(paths)
        .status()
        .unwrap();
    assert!(status.success(), "{args:?} {paths:?} failed");
}
