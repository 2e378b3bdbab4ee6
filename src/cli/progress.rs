//! How apply's progress is shown: a live table on a terminal (indicatif, one line per service,
//! redrawn in place), plain timestamped lines on stderr elsewhere (CI logs), or one JSON object
//! per line on stdout with `--output json`.

use crate::deploy::apply::{Progress, Step};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The display for this run.
pub enum Shown {
    Lines(Lines),
    Json(JsonLines),
    Live(Box<Live>),
}

/// JSON lines with `--output json`, a live table on a terminal (unless TERM is dumb), else plain
/// lines.
pub fn for_output(json: bool) -> Arc<Shown> {
    use std::io::IsTerminal;
    let start = Instant::now();
    Arc::new(if json {
        Shown::Json(JsonLines { start })
    } else if std::io::stderr().is_terminal()
        && std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb")
    {
        Shown::Live(Box::new(Live::new()))
    } else {
        Shown::Lines(Lines { start })
    })
}

impl Progress for Shown {
    fn step(&self, subject: &str, step: Step, detail: &str) {
        match self {
            Shown::Lines(l) => l.step(subject, step, detail),
            Shown::Json(j) => j.step(subject, step, detail),
            Shown::Live(l) => l.step(subject, step, detail),
        }
    }
}

impl Shown {
    /// Leaves the display clean when the rollout ends (the live table stays on screen).
    pub fn finish(&self) {
        if let Shown::Live(l) = self {
            l.finish();
        }
    }
}

/// `[  1.2s] db: healthy`, on stderr: for CI logs.
pub struct Lines {
    start: Instant,
}

impl Progress for Lines {
    fn step(&self, subject: &str, step: Step, detail: &str) {
        let t = self.start.elapsed().as_secs_f64();
        if detail.is_empty() {
            eprintln!("[{t:>6.1}s] {subject}: {}", step.as_str());
        } else {
            eprintln!("[{t:>6.1}s] {subject}: {} ({detail})", step.as_str());
        }
    }
}

/// `{"event":"service","service":"db","status":"healthy","detail":"","elapsed_ms":2300}`.
pub struct JsonLines {
    start: Instant,
}

impl Progress for JsonLines {
    fn step(&self, subject: &str, step: Step, detail: &str) {
        println!(
            "{}",
            serde_json::json!({
                "event": "service",
                "service": subject,
                "status": step.as_str(),
                "detail": detail,
                "elapsed_ms": self.start.elapsed().as_millis(),
            })
        );
    }
}

/// One spinner line per service, redrawn in place on stderr.
pub struct Live {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    style: ProgressStyle,
    done: ProgressStyle,
}

impl Live {
    fn new() -> Live {
        Live {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::default(),
            style: ProgressStyle::with_template("  {spinner} {prefix:<20} {msg} ({elapsed})")
                .expect("a valid template"),
            done: ProgressStyle::with_template("  {prefix:<22} {msg}").expect("a valid template"),
        }
    }
}

impl Progress for Live {
    fn step(&self, subject: &str, step: Step, detail: &str) {
        let mut bars = self.bars.lock().expect("not poisoned");
        let bar = bars.entry(subject.to_string()).or_insert_with(|| {
            let b = self.multi.add(ProgressBar::new_spinner());
            b.set_style(self.style.clone());
            b.set_prefix(subject.to_string());
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        let msg = if detail.is_empty() {
            step.as_str().to_string()
        } else {
            format!("{} ({detail})", step.as_str())
        };
        if step.is_final() || step == Step::NetworkCreated {
            bar.set_style(self.done.clone());
            bar.finish_with_message(msg);
        } else {
            bar.set_message(msg);
        }
    }
}

impl Live {
    fn finish(&self) {
        for b in self.bars.lock().expect("not poisoned").values() {
            if !b.is_finished() {
                b.abandon();
            }
        }
    }
}
