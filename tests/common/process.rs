//! The `zaqar-server` binary as a child process, for tests that need real processes
//! (signals, crashes, several servers on one database).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

pub const BIN: &str = env!("CARGO_BIN_EXE_zaqar-server");

/// A running server and the address it logged.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// The startup line saying where it listens and which store it uses.
    pub listening: String,
    /// The lines logged before that one.
    pub startup: Vec<String>,
    /// Log lines after the "listening" one.
    pub log: mpsc::Receiver<String>,
}

/// Starts the binary in `dir` and waits until it says where it listens.
pub fn start(dir: &Path, args: &[&str]) -> Server {
    start_with_env(dir, args, &[])
}

/// [`start`] with extra environment variables.
pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("ZAQAR_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zaqar-server");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut startup = Vec::new();
    let listening = loop {
        let line = rx.recv().expect("server exited before listening");
        if line.contains("listening on") {
            break line;
        }
        startup.push(line);
    };
    let url = listening
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    Server {
        child,
        url,
        listening,
        startup,
        log: rx,
    }
}

impl Drop for Server {
    /// A test that fails half way must not leave servers running (they would also hold the
    /// test's output open).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends a signal (`-TERM`, `-KILL`) with kill(1).
pub fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}
