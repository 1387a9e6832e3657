//! The passphrase of a private key: `SEALER_PASSWORD`, else
//! `COSIGN_PASSWORD` (set but empty means an empty passphrase, as cosign
//! takes it), else asked on the terminal without echo, else an error.

use std::io::{BufRead, IsTerminal, Write};

use super::SignError;

/// Environment variables read, in order.
pub const ENV: [&str; 2] = ["SEALER_PASSWORD", "COSIGN_PASSWORD"];

/// The passphrase; `confirm` asks twice on a terminal (a new key).
pub fn passphrase(prompt: &str, confirm: bool) -> Result<Vec<u8>, SignError> {
    for var in ENV {
        if let Some(v) = std::env::var_os(var) {
            return Ok(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec());
        }
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(SignError::NoPassphrase);
    }
    let first = ask(prompt)?;
    if confirm && ask("Enter password for private key again: ")? != first {
        return Err(SignError::Key("the passwords do not match".into()));
    }
    Ok(first)
}

fn ask(prompt: &str) -> Result<Vec<u8>, SignError> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let old = tcgetattr(&stdin).map_err(|_| SignError::NoPassphrase)?;
    let mut quiet = old.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(|_| SignError::NoPassphrase)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let restored = tcsetattr(&stdin, SetArg::TCSANOW, &old);
    eprintln!();
    read.map_err(|_| SignError::NoPassphrase)?;
    restored.map_err(|_| SignError::NoPassphrase)?;
    Ok(line.trim_end_matches(['\n', '\r']).as_bytes().to_vec())
}
