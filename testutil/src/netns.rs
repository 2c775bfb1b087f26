//! Network namespaces for tests that use pod or service addresses: everything with private
//! addresses must stay inside a namespace the test creates (see ENVIRONMENT.md). Enter it
//! with `nsenter --net=/var/run/netns/NAME` ([`NetNs::command`]), never `ip netns exec`
//! (which remounts /sys and hides the cgroups runc needs).

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context};

/// A named network namespace with `lo` up, deleted on drop.
pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// Creates `NAME-PID-N` (unique per process and call) and brings `lo` up.
    pub fn create(name: &str) -> anyhow::Result<NetNs> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!("{name}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = NetNs { name };
        run(ns.command("ip").args(["link", "set", "lo", "up"]))?;
        Ok(ns)
    }

    /// `/var/run/netns/NAME`.
    pub fn path(&self) -> String {
        format!("/var/run/netns/{}", self.name)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path())).arg(program);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Runs a command to completion and fails with its stderr when it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("run {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl NetNs {
    /// Makes the host's `127.0.0.1:port` answer on `127.0.0.1:port` inside the namespace too,
    /// so that a component started there (kube-proxy) reaches an apiserver started on the
    /// host, over loopback only.
    ///
    /// A socket belongs to the network namespace of the thread that created it: the
    /// listener is created by a short-lived thread that entered the namespace (`setns`
    /// changes only the calling thread), and each connection to the host is made from a
    /// thread that never left the host's namespace. Bytes are copied both ways by two
    /// threads per connection. The relay lives until the test process exits.
    pub fn forward_loopback(&self, port: u16) -> anyhow::Result<()> {
        use std::net::{Shutdown, TcpListener, TcpStream};
        let path = self.path();
        let listener = std::thread::spawn(move || -> anyhow::Result<TcpListener> {
            let ns = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).context("setns")?;
            TcpListener::bind(("127.0.0.1", port)).with_context(|| format!("bind 127.0.0.1:{port} in {path}"))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("setns thread panicked"))??;
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", port)) else { continue };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                };
                if let (Ok(i2), Ok(o2)) = (inbound.try_clone(), outbound.try_clone()) {
                    pipe(inbound, o2);
                    pipe(outbound, i2);
                }
            }
        });
        Ok(())
    }
}
