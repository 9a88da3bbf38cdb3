//! Reading inputs (files or standard input, bounded in size) and writing output; the CLI's only
//! file and terminal I/O besides the demo.

use anyhow::{Context, Result, bail};
use ecr_policy_guard_core::text::tick;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Policy files larger than this cannot be ECR policies (10,240 characters of at most 4 bytes);
/// reading stops there so a huge file costs no memory.
pub const MAX_POLICY_FILE_BYTES: usize = 64 * 1024;
/// A config file larger than this is not a config file.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// Opens a file (or stdin for `-`) to be read as a stream.
pub fn open_input(path: &str) -> Result<Box<dyn Read + Send>> {
    if path == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let file = std::fs::File::open(Path::new(path))
        .with_context(|| format!("cannot read {}", display(path)))?;
    Ok(Box::new(file))
}

/// Reads a file (or stdin for `-`), refusing more than `limit` bytes.
pub fn read_bytes(path: &str, limit: usize) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin()
            .lock()
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(Path::new(path)).and_then(|f| {
            // One allocation of the file's size, not repeated doubling.
            let size = f.metadata().map_or(0, |m| m.len()).min(limit as u64 + 1);
            bytes.reserve_exact(usize::try_from(size).unwrap_or(0) + 1);
            f.take(limit as u64 + 1).read_to_end(&mut bytes)
        })
    };
    read.with_context(|| format!("cannot read {}", display(path)))?;
    if bytes.len() > limit {
        bail!("{} is larger than {limit} bytes", display(path));
    }
    Ok(bytes)
}

/// Reads a file (or stdin for `-`) as UTF-8, refusing more than `limit` bytes.
pub fn read_input(path: &str, limit: usize) -> Result<String> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid UTF-8 (invalid byte at offset {})",
            display(path),
            e.utf8_error().valid_up_to()
        )
    })
}

/// How messages name an input: standard input by that name, a file quoted.
pub fn display(path: &str) -> String {
    match path {
        "-" => ecr_policy_guard_core::render::text::input_name(path).to_owned(),
        _ => tick(path),
    }
}

/// Set once standard output's reader has gone (`... | head`): the CLI then writes nothing more
/// and stops quietly, as Unix tools do.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Writes to standard output through `write`, flushing; a closed pipe is not an error.
pub fn write_stdout(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    if stdout_closed() {
        return Ok(());
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    match write(&mut stdout).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other.context("cannot write to standard output"),
    }
}

/// Writes text to standard output.
pub fn print(out: &str) -> Result<()> {
    write_stdout(|w| w.write_all(out.as_bytes()))
}
