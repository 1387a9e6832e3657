//! Per-layer progress of pulls, pushes, saves and loads, on stderr: a redrawn
//! bar per active layer on a terminal, plain lines otherwise, nothing with
//! `-q`. Shared between the transfer threads.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::human;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Nothing.
    Quiet,
    /// One line when a layer starts and one when it ends.
    Plain,
    /// Bars redrawn in place.
    Bars,
}

/// The progress display of one command.
pub struct Progress {
    mode: Mode,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Active bars: (label, done, total).
    bars: Vec<(String, u64, Option<u64>)>,
    /// Lines of bars drawn last time (to move the cursor back over them).
    drawn: usize,
    last_draw: Option<Instant>,
}

/// One task's progress (a layer being transferred).
pub struct Task<'a> {
    progress: &'a Progress,
    label: String,
}

impl Progress {
    /// Bars on a terminal, plain lines otherwise, or nothing when `quiet`.
    pub fn new(quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Plain
        };
        Progress::with_mode(mode)
    }

    /// A display in the given mode.
    pub fn with_mode(mode: Mode) -> Progress {
        Progress {
            mode,
            state: Mutex::new(State::default()),
        }
    }

    /// Prints a line that is not about one task (above the bars).
    pub fn line(&self, text: &str) {
        if self.mode == Mode::Quiet {
            return;
        }
        let mut st = self.lock();
        self.clear(&mut st);
        eprintln!("{text}");
        self.draw(&mut st, true);
    }

    /// One line about a task that needs no progress (`label: what`).
    pub fn note(&self, label: &str, what: &str) {
        self.line(&format!("{label}: {what}"));
    }

    /// Starts a task: `label` (e.g. a short layer id), `what` (e.g.
    /// "Downloading"), and its size if known.
    pub fn start(&self, label: &str, what: &str, total: Option<u64>) -> Task<'_> {
        let label = label.to_string();
        match self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let size = total.map(|t| format!(" {}", human::bytes(t)));
                eprintln!("{label}: {what}{}", size.unwrap_or_default());
            }
            Mode::Bars => {
                let mut st = self.lock();
                st.bars.push((format!("{label}: {what}"), 0, total));
                self.draw(&mut st, true);
            }
        }
        Task {
            progress: self,
            label,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clear(&self, st: &mut State) {
        if self.mode == Mode::Bars && st.drawn > 0 {
            eprint!("\x1b[{}A\x1b[J", st.drawn);
            st.drawn = 0;
        }
    }

    fn draw(&self, st: &mut State, force: bool) {
        if self.mode != Mode::Bars {
            return;
        }
        let now = Instant::now();
        if !force
            && st
                .last_draw
                .is_some_and(|t| now - t < Duration::from_millis(100))
        {
            return;
        }
        self.clear(st);
        let mut err = std::io::stderr().lock();
        for (label, done, total) in &st.bars {
            let line = match total {
                Some(t) if *t > 0 => {
                    let frac = (*done as f64 / *t as f64).min(1.0);
                    let fill = (frac * 30.0) as usize;
                    format!(
                        "{label} [{}{}] {}/{}",
                        "=".repeat(fill),
                        " ".repeat(30 - fill),
                        human::bytes(*done),
                        human::bytes(*t)
                    )
                }
                _ => format!("{label} {}", human::bytes(*done)),
            };
            let _ = writeln!(err, "{line}");
        }
        st.drawn = st.bars.len();
        st.last_draw = Some(now);
    }
}

impl Task<'_> {
    /// Counts `n` more bytes done.
    pub fn add(&self, n: u64) {
        if self.progress.mode != Mode::Bars {
            return;
        }
        let mut st = self.progress.lock();
        let prefix = format!("{}: ", self.label);
        if let Some(bar) = st.bars.iter_mut().find(|b| b.0.starts_with(&prefix)) {
            bar.1 += n;
        }
        self.progress.draw(&mut st, false);
    }

    /// Ends the task with a final word ("Pull complete", "Pushed", ...).
    pub fn finish(self, what: &str) {
        match self.progress.mode {
            Mode::Quiet => {}
            Mode::Plain => eprintln!("{}: {what}", self.label),
            Mode::Bars => {
                let mut st = self.progress.lock();
                let prefix = format!("{}: ", self.label);
                st.bars.retain(|b| !b.0.starts_with(&prefix));
                self.progress.clear(&mut st);
                eprintln!("{}: {what}", self.label);
                self.progress.draw(&mut st, true);
            }
        }
    }
}

/// A reader that reports the bytes read through it to a task.
pub struct Counting<'a, R> {
    /// The wrapped reader.
    pub inner: R,
    /// Where to report.
    pub task: &'a Task<'a>,
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.task.add(n as u64);
        Ok(n)
    }
}
