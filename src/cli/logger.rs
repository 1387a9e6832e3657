//! The one logger of the `sealer` binary: the libraries report through the
//! `log` macros, this prints them on stderr as the command line always has
//! (`warning: ...`, `error: ...`, progress lines as they are) and decides
//! the level: `info` by default, `-v` debug, `-vv` trace, or `RUST_LOG`
//! (`error`, `warn`, `info`, `debug`, `trace`, `off`). A detached mount
//! server's stderr is its log file, so it logs there.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let mut err = std::io::stderr().lock();
        // A closed stderr cannot be told about itself.
        let _ = match r.level() {
            Level::Error => writeln!(err, "error: {}", r.args()),
            Level::Warn => writeln!(err, "warning: {}", r.args()),
            Level::Info => writeln!(err, "{}", r.args()),
            Level::Debug => writeln!(err, "debug: {}: {}", r.target(), r.args()),
            Level::Trace => writeln!(err, "trace: {}: {}", r.target(), r.args()),
        };
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// The level `RUST_LOG` asks for, if it names one.
fn from_env() -> Option<LevelFilter> {
    let v = std::env::var("RUST_LOG").ok()?;
    // `RUST_LOG=sealer=debug` style: the last level named wins.
    v.split([',', '='])
        .filter_map(|p| p.trim().parse::<LevelFilter>().ok())
        .next_back()
}

/// Installs the logger: `verbose` counts `-v` flags.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => from_env().unwrap_or(LevelFilter::Info),
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    if log::set_logger(&Stderr).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rust_log_levels() {
        let parse = |s: &str| {
            s.split([',', '='])
                .filter_map(|p| p.trim().parse::<log::LevelFilter>().ok())
                .next_back()
        };
        assert_eq!(parse("debug"), Some(log::LevelFilter::Debug));
        assert_eq!(parse("sealer=trace"), Some(log::LevelFilter::Trace));
        assert_eq!(parse("warn,sealer_fs=error"), Some(log::LevelFilter::Error));
        assert_eq!(parse("nonsense"), None);
    }
}
