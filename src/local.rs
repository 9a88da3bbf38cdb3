//! A local AWS for the demo and the tests: moto server on 127.0.0.1, and SDK configuration that
//! points every client at it with dummy credentials, so nothing ever reaches a real endpoint.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecr::config::Credentials;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account moto serves.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// Variable naming the `moto_server` executable; otherwise it is looked up on `PATH`.
pub const MOTO_SERVER_VAR: &str = "MOTO_SERVER";

/// A problem starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "`moto_server` not found on PATH (set {MOTO_SERVER_VAR}, or run through `tests/with-moto`, which installs moto[server])"
    )]
    NotInstalled,
    #[error("cannot start moto server: {0}")]
    Start(std::io::Error),
    #[error("moto server did not answer on {0} within 30 s")]
    NotReady(String),
}

/// A running moto server; stopped when dropped, and also when this process dies (it is
/// started under a shell that kills it once our end of its stdin closes).
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Result<Moto, LocalError> {
        let server = moto_server().ok_or(LocalError::NotInstalled)?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(LocalError::Start)?
            .port();
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read line; kill $pid"#)
            .arg(&server)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(LocalError::Start)?;
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_ready(port)?;
        Ok(moto)
    }

    fn wait_ready(&self, port: u16) -> Result<(), LocalError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let request =
                    "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
                let mut head = [0u8; 12];
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_exact(&mut head).is_ok()
                    && head.starts_with(b"HTTP/1.")
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(LocalError::NotReady(self.endpoint.clone()))
    }

    /// SDK configuration for this server in `region`.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        sdk_config(&self.endpoint, region).await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing stdin makes the shell kill the server; then reap the shell.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(MOTO_SERVER_VAR) {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.is_file())
}

/// SDK configuration for an emulator at `endpoint`: dummy credentials, fixed region.
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "local"))
        .load()
        .await
}
