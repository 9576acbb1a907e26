//! An observer that shows a run's progress: a progress bar on a terminal,
//! a log line every two seconds (and at every evaluation) otherwise.

use crate::config::RunConfig;
use crate::error::Result;
use crate::learner::{Observer, RunState};
use crate::metrics::IterMetrics;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Prints to stdout, ignoring a closed pipe.
fn say(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
}

/// A progress bar on a terminal, plain log lines otherwise.
pub struct Progress {
    quiet: bool,
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Progress {
    /// Reports on stdout; with `quiet`, only warnings.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            bar: None,
            last_line: Instant::now(),
        }
    }

    /// Clears the bar.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn status(m: &IterMetrics) -> String {
        let ret = m
            .return_mean
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        let eval = m
            .eval_return
            .map_or_else(String::new, |v| format!("  eval {v:.1}"));
        format!(
            "{:.0} sps  return {ret}{eval}  max KL {:.3}/{}",
            m.sps, m.max_kl, m.eps_kl
        )
    }
}

impl Observer for Progress {
    fn on_start(&mut self, cfg: &RunConfig, start_iter: u64, start_steps: u64) -> Result<()> {
        if self.quiet {
            return Ok(());
        }
        let what = format!(
            "training {} with {} ({} envs × {} steps per iteration, {} steps{})",
            cfg.env,
            cfg.update.algo.name(),
            cfg.num_envs,
            cfg.steps_per_env,
            cfg.total_steps,
            if start_iter > 0 {
                format!(", resuming at iteration {start_iter}")
            } else {
                String::new()
            }
        );
        if std::io::stdout().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(Some(cfg.total_steps), ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30.cyan/blue} {human_pos}/{human_len} steps  {msg}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_position(start_steps);
            bar.println(what);
            bar.enable_steady_tick(Duration::from_millis(200));
            self.bar = Some(bar);
        } else {
            say(&what);
        }
        Ok(())
    }

    fn on_iteration(&mut self, m: &IterMetrics, _run: &dyn RunState) -> Result<()> {
        if self.quiet {
            return Ok(());
        }
        if let Some(bar) = &self.bar {
            bar.set_position(m.env_steps);
            bar.set_message(Self::status(m));
        } else if m.eval_return.is_some() || self.last_line.elapsed() >= Duration::from_secs(2) {
            self.last_line = Instant::now();
            say(&format!(
                "iter {:>5}  steps {:>9}  {:>7.2} s  {}",
                m.iter,
                m.env_steps,
                m.wall_s,
                Self::status(m)
            ));
        }
        Ok(())
    }

    fn on_message(&mut self, msg: &str) {
        if self.quiet && !msg.starts_with("warning") {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => say(msg),
        }
    }
}
