//! The project's images and a local registry serving them, for tests (see hack/registry.sh).
//!
//! Building the images (`hack/build-images.sh`) and pushing them into a registry's storage
//! (`hack/registry.sh fill`) happens once and is cached in `target/<profile>/test-images/`,
//! keyed by the two scripts' contents; a file lock makes concurrent test processes (nextest
//! runs one per test) wait for the first one instead of racing it. Each test then only
//! starts a `docker-registry` on that (read-only) storage inside its own network namespace,
//! on the namespace's loopback `127.0.0.1:5000`, which takes a few tens of milliseconds.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::containerd::hack_dir;
use crate::netns::{run, NetNs};

/// Where every registry listens, inside its own network namespace.
pub const REGISTRY_ADDR: &str = "127.0.0.1:5000";

/// The built images (`images/*.tar`) and the filled registry storage (`registry/data`).
pub struct Images {
    pub images_dir: PathBuf,
    pub registry_data: PathBuf,
}

/// Builds and pushes the images once (per content of the scripts), then returns them.
pub fn images() -> anyhow::Result<&'static Images> {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    if let Some(images) = IMAGES.get() {
        return Ok(images);
    }
    let scripts = [hack_dir().join("build-images.sh"), hack_dir().join("registry.sh")];
    let mut stamp = 0u64;
    for s in &scripts {
        // FNV-1a: a stable hash of the scripts, so a changed script rebuilds the cache.
        for b in std::fs::read(s).with_context(|| format!("read {}", s.display()))? {
            stamp = (stamp ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    let exe = std::env::current_exe().context("current_exe")?;
    let profile_dir = exe.parent().and_then(|d| d.parent()).context("test binary dir")?;
    let root = profile_dir.join("test-images").join(format!("{stamp:016x}"));
    std::fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;
    let lock = File::create(root.join("lock")).context("create the images lock")?;
    lock.lock().context("lock the images cache")?;
    let images = Images { images_dir: root.join("images"), registry_data: root.join("registry/data") };
    if !root.join("ready").exists() {
        let _ = std::fs::remove_dir_all(root.join("registry"));
        std::fs::create_dir_all(root.join("registry"))?;
        run(Command::new("bash").arg(hack_dir().join("build-images.sh")).arg(&images.images_dir))?;
        run(Command::new("bash").arg(hack_dir().join("registry.sh")).arg("fill").arg(&images.registry_data).arg(&images.images_dir))?;
        File::create(root.join("ready"))?;
    }
    drop(lock);
    Ok(IMAGES.get_or_init(|| images))
}

/// A `docker-registry` serving the project's images inside a network namespace; killed (by
/// PID) on drop.
pub struct Registry {
    child: Child,
}

impl Registry {
    /// Starts a registry on `127.0.0.1:5000` of `netns`, over the shared storage.
    pub fn serve_in(netns: &NetNs, dir: &std::path::Path) -> anyhow::Result<Registry> {
        let images = images()?;
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {REGISTRY_ADDR}\n",
                images.registry_data.display()
            ),
        )?;
        let log = File::create(dir.join("registry.log"))?;
        let child = netns
            .command("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("start docker-registry")?;
        let registry = Registry { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        let url = format!("http://{REGISTRY_ADDR}/v2/");
        while run(netns.command("curl").args(["-fs", "-o", "/dev/null", &url])).is_err() {
            if Instant::now() > deadline {
                bail!("the registry did not answer; see {}", dir.join("registry.log").display());
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        Ok(registry)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
