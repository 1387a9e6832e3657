//! Per-layer progress of pulls, pushes, saves and loads, on stderr: an
//! indicatif bar per active layer on a terminal, plain lines otherwise,
//! nothing with `-q`; and the bar of a big COPY. Shared between the transfer
//! threads. The only module that knows about indicatif.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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
    /// The bars, in [`Mode::Bars`] only.
    bars: Option<MultiProgress>,
}

/// One task's progress (a layer being transferred).
pub struct Task<'a> {
    progress: &'a Progress,
    label: String,
    bar: Option<ProgressBar>,
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
        let bars = (mode == Mode::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { mode, bars }
    }

    /// Prints a line that is not about one task (above the bars).
    pub fn line(&self, text: &str) {
        match (&self.bars, self.mode) {
            (_, Mode::Quiet) => {}
            // A line the terminal cannot take is lost, as eprintln's would be.
            (Some(bars), _) => bars.println(text).unwrap_or(()),
            (None, _) => log::info!("{text}"),
        }
    }

    /// One line about a task that needs no progress (`label: what`).
    pub fn note(&self, label: &str, what: &str) {
        self.line(&format!("{label}: {what}"));
    }

    /// Starts a task: `label` (e.g. a short layer id), `what` (e.g.
    /// "Downloading"), and its size if known.
    pub fn start(&self, label: &str, what: &str, total: Option<u64>) -> Task<'_> {
        let label = label.to_string();
        let mut bar = None;
        match (&self.bars, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bars), _) => {
                let b = ProgressBar::new(total.unwrap_or(0))
                    .with_style(bar_style(total.is_some_and(|t| t > 0)))
                    .with_prefix(label.clone())
                    .with_message(what.to_string());
                bar = Some(bars.add(b));
            }
            (None, _) => {
                let size = total.map(|t| format!(" {}", human::bytes(t)));
                log::info!("{label}: {what}{}", size.unwrap_or_default());
            }
        }
        Task {
            progress: self,
            label,
            bar,
        }
    }
}

/// `label: what [=====     ] done/total`, or `label: what done` without a
/// total.
fn bar_style(sized: bool) -> ProgressStyle {
    let template = if sized {
        "{prefix}: {msg} [{bar:30}] {bytes}/{total_bytes}"
    } else {
        "{prefix}: {msg} {bytes}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Task<'_> {
    /// Counts `n` more bytes done.
    pub fn add(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Ends the task with a final word ("Pull complete", "Pushed", ...).
    pub fn finish(mut self, what: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            if let Some(bars) = &self.progress.bars {
                bars.remove(&bar);
            }
        }
        self.progress.line(&format!("{}: {what}", self.label));
    }
}

impl Drop for Task<'_> {
    /// A task that ends without [`finish`](Task::finish) (an error) leaves
    /// no bar behind.
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            if let Some(bars) = &self.progress.bars {
                bars.remove(&bar);
            }
        }
    }
}

/// The progress of writing one big layer (COPY), on stderr:
/// `copying done / total (percent%)`, cleared when dropped.
pub struct Copying(ProgressBar);

impl Copying {
    /// A bar for `total` bytes.
    pub fn new(total: u64) -> Copying {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("     copying {bytes} / {total_bytes} ({percent}%)")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Copying(bar)
    }

    /// Sets the bytes done so far.
    pub fn set(&self, done: u64) {
        self.0.set_position(done);
    }
}

impl Drop for Copying {
    fn drop(&mut self) {
        self.0.finish_and_clear();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mode takes the whole life of tasks (bars are drawn to a
    /// hidden stderr here: indicatif draws nothing off a terminal).
    #[test]
    fn every_mode_runs_tasks_to_the_end() {
        for mode in [Mode::Quiet, Mode::Plain, Mode::Bars] {
            let p = Progress::with_mode(mode);
            let sized = p.start("abc", "Downloading", Some(10));
            let open_ended = p.start("def", "Copying", None);
            sized.add(4);
            open_ended.add(4);
            p.note("ghi", "Already exists");
            sized.finish("Pull complete");
            drop(open_ended);
            assert_eq!(p.bars.is_some(), mode == Mode::Bars);
        }
        let copying = Copying::new(100);
        copying.set(50);
    }
}
