//! The service as a child process (the real binary), for tests that read its log or kill it.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{ISSUER, SECRET};

pub struct Server {
    pub child: Child,
    pub base: String,
    pub db: String,
}

impl Server {
    /// Starts `interlude serve` on a free port with its database in `dir`.
    pub async fn start_in(dir: &Path) -> Server {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let db = format!("sqlite://{}", dir.join("s.db").display());
        let mut child = Command::new(env!("CARGO_BIN_EXE_interlude"))
            .arg("serve")
            .env("INTERLUDE_ISSUER", ISSUER)
            .env("INTERLUDE_SECRET", SECRET)
            .env("INTERLUDE_LISTEN", format!("127.0.0.1:{port}"))
            .env("INTERLUDE_DATABASE_URL", &db)
            .env("INTERLUDE_LOG_FORMAT", "json")
            .env("INTERLUDE_RATE_LIMIT_PER_MINUTE", "0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..400 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                return Server { child, base, db };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not start");
    }

    /// Kills the process (SIGKILL) and returns what it logged.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut log = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut log);
        }
        log
    }
}
