//! The tutorial cannot rot: this test reads `docs/tutorial/*.md` in file order and runs every
//! shell block, as a learner would, checking the output wherever the tutorial shows it. The
//! convention is documented in `docs/tutorial/README.md` ("How this tutorial is tested"):
//!
//! - ```` ```sh ```` (or `bash`): run with `bash` (`set -e`, `set -a`); a non-zero exit fails
//!   the test. Blocks run one after the other in the same working directory, and the
//!   variables they set carry over to the next blocks, as in one terminal.
//! - ```` ```sh window=NAME ````: what the learner runs in its own tmux window. Started in the
//!   background (its own process group, output in `.tutorial/NAME.log`); if a window NAME is
//!   already running it is first stopped as Ctrl-C would (SIGINT to its process group).
//! - ```` ```sh ctrl-c=NAME ````: Ctrl-C in window NAME (the block's text is only a comment).
//! - ```` ```sh skip ````: not run (the tutorial says why next to it).
//! - a ```` ```text ```` block right after a run block (only blank lines between them): the
//!   expected output (stdout and stderr together), compared line by line with whitespace
//!   runs collapsed, and the patterns `<age>`, `<hash>`, `<ip>`, `<n>`, `<any>`; a line
//!   `...` stands for any number of lines.
//! - a file containing `<!-- tutorial-runner: skip-file -->` is not run at all.
//!
//! While writing the tutorial, `TUTORIAL_UNTIL=03` runs the files `00` to `03` only; a
//! failure leaves its output in the message, with the tail of every window's log.
//!
//! Everything runs inside ONE network namespace the test creates (so the tutorial's
//! `127.0.0.1`, pod IPs and ClusterIPs are that namespace's), with the workspace's debug
//! binaries and `hack/` first on `PATH`, `HOME` set to a fresh working directory. On drop it
//! stops the kubelet, removes every container from the containerds the tutorial started
//! (their shims would outlive them otherwise), kills every window and every process left in
//! the namespace — all started by this test — and removes the pods' network namespaces, the
//! namespace and the directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use testutil::netns::{run, NetNs};

/// How long one block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(150);

/// A fenced code block of the tutorial.
#[derive(Debug)]
struct Block {
    file: String,
    /// 1-based line of the opening fence.
    line: usize,
    action: Action,
    code: String,
    expected: Option<String>,
}

#[derive(Debug, PartialEq)]
enum Action {
    Run,
    Window(String),
    CtrlC(String),
    Skip,
}

/// The runnable blocks of one markdown file (or none when the file opts out).
fn parse(file: &str, text: &str) -> anyhow::Result<Vec<Block>> {
    if text.contains("<!-- tutorial-runner: skip-file") {
        return Ok(Vec::new());
    }
    let mut blocks: Vec<Block> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    // Whether only blank lines separate the last run block from here.
    let mut after_run_block = false;
    while i < lines.len() {
        let Some(info) = lines[i].strip_prefix("```") else {
            if !lines[i].trim().is_empty() {
                after_run_block = false;
            }
            i += 1;
            continue;
        };
        let start = i;
        let mut code = String::new();
        i += 1;
        while i < lines.len() && !lines[i].starts_with("```") {
            code.push_str(lines[i]);
            code.push('\n');
            i += 1;
        }
        if i == lines.len() {
            bail!("{file}:{}: unclosed code block", start + 1);
        }
        i += 1;
        let mut words = info.split_whitespace();
        let lang = words.next().unwrap_or("");
        match lang {
            "sh" | "bash" => {
                let mut action = Action::Run;
                for word in words {
                    action = match word.split_once('=') {
                        Some(("window", name)) => Action::Window(name.to_string()),
                        Some(("ctrl-c", name)) => Action::CtrlC(name.to_string()),
                        None if word == "skip" => Action::Skip,
                        _ => bail!("{file}:{}: unknown word {word:?} in ```{info}", start + 1),
                    };
                }
                after_run_block = action == Action::Run;
                blocks.push(Block { file: file.to_string(), line: start + 1, action, code, expected: None });
            }
            "text" | "console" if after_run_block => {
                let last = blocks.last_mut().context("a run block")?;
                last.expected = Some(code);
                after_run_block = false;
            }
            _ => after_run_block = false,
        }
    }
    Ok(blocks)
}

// ---------------------------------------------------------------------------------------
// Expected output: patterns.

/// A piece of an expected line.
#[derive(Debug)]
enum Piece {
    Lit(char),
    /// `<age>`: kubectl's ages, `5s`, `3m38s`, `2d`.
    Age,
    /// `<hash>`: letters and digits (a pod-template-hash, a random suffix, a chain hash).
    Hash,
    /// `<ip>`: a dotted IPv4 address.
    Ip,
    /// `<n>`: digits.
    Num,
    /// `<any>`: anything, possibly nothing.
    Any,
}

fn pieces(pattern: &str) -> Vec<Piece> {
    const TOKENS: [(&str, fn() -> Piece); 5] =
        [("<age>", || Piece::Age), ("<hash>", || Piece::Hash), ("<ip>", || Piece::Ip), ("<n>", || Piece::Num), ("<any>", || Piece::Any)];
    let mut out = Vec::new();
    let mut rest = pattern;
    'outer: while let Some(c) = rest.chars().next() {
        for (token, piece) in TOKENS {
            if let Some(after) = rest.strip_prefix(token) {
                out.push(piece());
                rest = after;
                continue 'outer;
            }
        }
        out.push(Piece::Lit(c));
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Whether `text` matches `pieces` entirely (backtracking over the variable-length pieces).
fn matches(pieces: &[Piece], text: &str) -> bool {
    let Some((first, rest)) = pieces.split_first() else { return text.is_empty() };
    let class = |ok: fn(char) -> bool, min: usize| -> bool {
        let mut ends = Vec::new();
        for (n, (i, c)) in text.char_indices().enumerate() {
            if n >= min {
                ends.push(i);
            }
            if !ok(c) {
                return ends.into_iter().rev().any(|end| matches(rest, &text[end..]));
            }
        }
        ends.push(text.len());
        ends.into_iter().rev().any(|end| matches(rest, &text[end..]))
    };
    match first {
        Piece::Lit(c) => text.starts_with(*c) && matches(rest, &text[c.len_utf8()..]),
        Piece::Age => class(|c| c.is_ascii_digit() || "smhdy".contains(c), 2),
        Piece::Hash => class(|c| c.is_ascii_alphanumeric(), 1),
        Piece::Ip => class(|c| c.is_ascii_digit() || c == '.', 7),
        Piece::Num => class(|c| c.is_ascii_digit(), 1),
        Piece::Any => (0..=text.len()).rev().filter(|&i| text.is_char_boundary(i)).any(|i| matches(rest, &text[i..])),
    }
}

/// Collapses whitespace runs to one space and trims.
fn squash(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the actual output matches the expected block (line by line; `...` skips lines).
fn output_matches(expected: &str, actual: &str) -> bool {
    fn go(exp: &[String], act: &[String]) -> bool {
        match exp.split_first() {
            None => act.is_empty(),
            Some((e, rest)) if e == "..." => (0..=act.len()).any(|skip| go(rest, &act[skip..])),
            Some((e, rest)) => act.split_first().is_some_and(|(a, act_rest)| matches(&pieces(e), a) && go(rest, act_rest)),
        }
    }
    let lines = |s: &str| -> Vec<String> {
        let mut v: Vec<String> = s.lines().map(squash).collect();
        while v.last().is_some_and(|l| l.is_empty()) {
            v.pop();
        }
        while v.first().is_some_and(|l| l.is_empty()) {
            v.remove(0);
        }
        v
    };
    go(&lines(expected), &lines(actual))
}

#[test]
fn output_patterns_match_what_they_should_and_nothing_else() {
    assert!(output_matches("NAME   READY   AGE\nweb-<hash>-<hash>   1/1   <age>", "NAME READY AGE\nweb-7b5c4b9d6f-k2x8p  1/1     3m38s\n"));
    assert!(!output_matches("web-<hash>   1/1", "web-7b5c-x   1/1"));
    assert!(output_matches("a\n...\nz", "a\nb\nc\nz"));
    assert!(output_matches("a\n...\nz", "a\nz"));
    assert!(!output_matches("a\nz", "a\nb\nz"));
    assert!(output_matches("/* default/web -> <ip>:80 */ <any>", "/* default/web -> 10.88.0.5:80 */ statistic mode random"));
    assert!(!output_matches("<ip>:80", "10.88:80"));
    assert!(output_matches("rv <n>", "rv 1234"));
    assert!(!output_matches("rv <n>", "rv 12a"));
    assert!(output_matches("web <none> <age>", "web   <none>   5s"));
}

#[test]
fn blocks_are_parsed_with_their_expected_output() -> anyhow::Result<()> {
    let md = "x\n```sh\necho hi\n```\n\n```text\nhi\n```\n```sh window=etcd\netcd\n```\n```text\nlog\n```\n```sh skip\nno\n```\n";
    let blocks = parse("f.md", md)?;
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0].expected.as_deref(), Some("hi\n"));
    assert_eq!(blocks[1].action, Action::Window("etcd".into()));
    assert_eq!(blocks[1].expected, None, "a window's output is not checked");
    assert_eq!(blocks[2].action, Action::Skip);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Running it.

/// A long-running component started by a `window=` block.
struct Window {
    name: String,
    child: Child,
}

/// The namespace, the working directory and every window.
struct Tutorial {
    work: PathBuf,
    state: PathBuf,
    path_env: String,
    windows: Vec<Window>,
    netns: NetNs,
}

impl Tutorial {
    fn start() -> anyhow::Result<Tutorial> {
        let netns = NetNs::create("tutorial")?;
        let work = std::env::temp_dir().join(format!("kube-tutorial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        let state = work.join(".tutorial");
        std::fs::create_dir_all(&state)?;
        let bin = testutil::binary("kube-apiserver")?.parent().context("bin dir")?.to_path_buf();
        let hack = testutil::containerd::hack_dir().canonicalize()?;
        let path_env = format!("{}:{}:{}", bin.display(), hack.display(), std::env::var("PATH").unwrap_or_default());
        std::fs::write(state.join("cwd"), work.to_str().context("utf-8 path")?)?;
        Ok(Tutorial { work, state, path_env, windows: Vec::new(), netns })
    }

    /// `bash SCRIPT` inside the namespace, in the tutorial's environment.
    fn bash(&self, script: &Path, log: &Path) -> anyhow::Result<Command> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let mut cmd = self.netns.command("bash");
        cmd.arg(script)
            .current_dir(&self.work)
            .env_clear()
            .env("PATH", &self.path_env)
            .env("HOME", &self.work)
            .env("TERM", "dumb")
            .env("LANG", "C.UTF-8")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        Ok(cmd)
    }

    /// The script for a block: the previous blocks' directory and variables, then the code.
    fn script(&self, code: &str, save_state: bool) -> String {
        let state = self.state.display();
        let mut s = format!("set -a\ncd \"$(cat {state}/cwd)\"\n[ -f {state}/env ] && . {state}/env\n");
        if save_state {
            let _ = writeln!(s, "trap 'rc=$?; export -p > {state}/env; pwd > {state}/cwd; exit $rc' EXIT\nset -e");
        }
        s.push_str(code);
        s
    }

    fn run_block(&mut self, n: usize, block: &Block) -> anyhow::Result<()> {
        match &block.action {
            Action::Skip => Ok(()),
            Action::CtrlC(name) => self.stop_window(name),
            Action::Window(name) => {
                self.stop_window(name)?;
                let script = self.state.join(format!("window-{name}.sh"));
                std::fs::write(&script, self.script(&block.code, false))?;
                let child = self.bash(&script, &self.state.join(format!("{name}.log")))?.spawn()?;
                self.windows.push(Window { name: name.clone(), child });
                Ok(())
            }
            Action::Run => {
                let script = self.state.join(format!("block-{n}.sh"));
                std::fs::write(&script, self.script(&block.code, true))?;
                let out_path = self.state.join(format!("block-{n}.out"));
                let mut child = self.bash(&script, &out_path)?.spawn()?;
                let deadline = Instant::now() + BLOCK_TIMEOUT;
                let status = loop {
                    if let Some(status) = child.try_wait()? {
                        break Some(status);
                    }
                    if Instant::now() > deadline {
                        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
                        let _ = child.wait();
                        break None;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                };
                let output = std::fs::read_to_string(&out_path).unwrap_or_default();
                let failure = match (status, &block.expected) {
                    (None, _) => format!("timed out after {BLOCK_TIMEOUT:?}"),
                    (Some(s), _) if !s.success() => format!("exited with {s}"),
                    (Some(_), Some(expected)) if !output_matches(expected, &output) => format!("unexpected output; expected:\n{expected}"),
                    _ => return Ok(()),
                };
                bail!(
                    "{}:{} (block {n}) {failure}\n--- command:\n{}--- output:\n{output}--- components' logs (tail):\n{}",
                    block.file,
                    block.line,
                    block.code,
                    self.logs_tail(25)
                )
            }
        }
    }

    /// Ctrl-C in a window: SIGINT to its process group, then SIGKILL after 10 s.
    fn stop_window(&mut self, name: &str) -> anyhow::Result<()> {
        let Some(i) = self.windows.iter().position(|w| w.name == name) else { return Ok(()) };
        let mut w = self.windows.remove(i);
        signal_group(&w.child, "INT");
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                signal_group(&w.child, "KILL");
                w.child.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn logs_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        let mut logs: Vec<PathBuf> = std::fs::read_dir(&self.state)
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "log")).collect())
            .unwrap_or_default();
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let _ = writeln!(out, "== {}:\n{}", log.display(), all[all.len().saturating_sub(lines)..].join("\n"));
        }
        out
    }
}

fn signal_group(child: &Child, signal: &str) {
    let _ = Command::new("kill").args([&format!("-{signal}"), "--", &format!("-{}", child.id())]).status();
}

impl Drop for Tutorial {
    fn drop(&mut self) {
        // The kubelet first, so that it restarts nothing; containerd last, once its
        // containers are gone.
        let mut windows = std::mem::take(&mut self.windows);
        windows.sort_by_key(|w| match w.name.as_str() {
            "kubelet" => 0,
            "containerd" => 2,
            _ => 1,
        });
        let mut pod_netns = Vec::new();
        for mut w in windows {
            if w.name == "containerd" {
                for socket in containerd_sockets(&self.work) {
                    pod_netns.extend(testutil::containerd::remove_all_containers(&socket));
                }
            }
            signal_group(&w.child, "KILL");
            let _ = w.child.wait();
        }
        // What is left in the namespace was started by this test (the registry, shims).
        if let Ok(pids) = run(Command::new("ip").args(["netns", "pids", &self.netns.name])) {
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        testutil::containerd::remove_pod_netns(pod_netns);
        // Mounts under the working directory (containerd's overlays, emptyDirs), deepest first.
        if let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") {
            let mut mounts: Vec<&str> = mountinfo
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| Path::new(m).starts_with(&self.work))
                .collect();
            mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in mounts {
                let _ = Command::new("umount").arg("-l").arg(m).output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// `*/containerd.sock` one or two levels under the working directory.
fn containerd_sockets(work: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(work).into_iter().flatten().flatten() {
        let sock = dir.path().join("containerd.sock");
        if sock.exists() {
            out.push(sock);
        }
    }
    out
}

#[test]
fn the_tutorial_runs_as_written() -> anyhow::Result<()> {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/tutorial");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&docs)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md") && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(|c: char| c.is_ascii_digit())))
        .collect();
    files.sort();
    // While writing the tutorial: `TUTORIAL_UNTIL=03` runs the files 00 to 03 only.
    let until = std::env::var("TUTORIAL_UNTIL").ok();
    if let Some(until) = &until {
        files.retain(|f| f.file_name().is_some_and(|n| n.to_string_lossy()[..2] <= until[..]));
    }
    let mut blocks = Vec::new();
    for f in &files {
        let name = format!("docs/tutorial/{}", f.file_name().context("name")?.to_string_lossy());
        blocks.extend(parse(&name, &std::fs::read_to_string(f)?)?);
    }
    assert!(until.is_some() || blocks.len() > 20, "the tutorial has {} runnable blocks", blocks.len());
    let mut tutorial = Tutorial::start()?;
    let started = Instant::now();
    for (n, block) in blocks.iter().enumerate() {
        let t = Instant::now();
        tutorial.run_block(n + 1, block)?;
        eprintln!("{}:{} {:?} {:.1}s", block.file, block.line, block.action, t.elapsed().as_secs_f64());
    }
    eprintln!("the whole tutorial ran in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}
