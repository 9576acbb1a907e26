//! Learning curves as PNG: return and max KL against environment steps (or
//! wall time), one colour per group of runs (e.g. per update rule), seeds
//! drawn as a band from the lowest to the highest run around their mean,
//! and the trust-region radius ε_KL as a dashed line.
//!
//! Text is drawn with the Hack typeface shipped by the
//! `epaint_default_fonts` crate (MIT / Bitstream Vera licence), so plots
//! need no system fonts.

use crate::error::{HostError, Result};
use crate::io::{CONFIG_FILE, METRICS_FILE};
use crate::metrics::{IterMetrics, read_metrics};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// What to put on the horizontal axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XAxis {
    /// Environment steps.
    #[default]
    EnvSteps,
    /// Training wall time in seconds.
    WallS,
    /// Iterations (the update number of a device run).
    Iters,
}

/// How to draw a plot.
#[derive(Clone, Debug)]
pub struct PlotOptions {
    /// Horizontal axis.
    pub x: XAxis,
    /// Configuration key whose value groups runs (one colour per value).
    pub group_by: String,
    /// Image width and height in pixels.
    pub size: (u32, u32),
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            x: XAxis::EnvSteps,
            group_by: "algo".into(),
            size: (1000, 800),
        }
    }
}

struct RunData {
    label: String,
    env: String,
    metrics: Vec<IterMetrics>,
}

/// One group's curve of one metric: mean and band over runs on a grid.
struct Curve {
    x: Vec<f64>,
    mean: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
}

fn load_run(dir: &Path, group_by: &str) -> Result<RunData> {
    let (metrics_path, config_path) = if dir.is_file() {
        (dir.to_owned(), dir.with_file_name(CONFIG_FILE))
    } else {
        (dir.join(METRICS_FILE), dir.join(CONFIG_FILE))
    };
    let metrics = read_metrics(&metrics_path)?;
    if metrics.is_empty() {
        return Err(HostError::Plot {
            path: metrics_path,
            reason: "no iterations recorded yet".into(),
        });
    }
    let (label, env) = match crate::io::read_string(&config_path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
    {
        Some(t) => {
            let label = match t.get(group_by) {
                Some(toml::Value::String(s)) => s.clone(),
                Some(v) => format!("{group_by}={v}"),
                None => "run".into(),
            };
            let env = t
                .get("env")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned();
            (label, env)
        }
        None => (dir.display().to_string(), String::new()),
    };
    Ok(RunData {
        label,
        env,
        metrics,
    })
}

/// Linear interpolation of `(xs, ys)` at `x`; `None` outside the range.
fn interp(xs: &[f64], ys: &[f64], x: f64) -> Option<f64> {
    let (first, last) = (*xs.first()?, *xs.last()?);
    if x < first - 1e-9 || x > last + 1e-9 {
        return None;
    }
    let i = xs.partition_point(|&v| v < x);
    if i == 0 {
        return Some(ys[0]);
    }
    if i >= xs.len() {
        return Some(ys[xs.len() - 1]);
    }
    let (x0, x1) = (xs[i - 1], xs[i]);
    let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 1.0 };
    Some(ys[i - 1] + t * (ys[i] - ys[i - 1]))
}

fn curve(runs: &[&RunData], x: XAxis, y: impl Fn(&IterMetrics) -> Option<f64>) -> Option<Curve> {
    let series: Vec<(Vec<f64>, Vec<f64>)> = runs
        .iter()
        .map(|r| {
            r.metrics
                .iter()
                .filter_map(|m| {
                    let xv = match x {
                        XAxis::EnvSteps => m.env_steps as f64,
                        XAxis::WallS => m.wall_s,
                        XAxis::Iters => m.iter as f64,
                    };
                    y(m).filter(|v| v.is_finite()).map(|v| (xv, v))
                })
                .unzip()
        })
        .filter(|(xs, _): &(Vec<f64>, Vec<f64>)| !xs.is_empty())
        .collect();
    let grid = series.iter().max_by_key(|(xs, _)| xs.len())?.0.clone();
    let mut c = Curve {
        x: Vec::new(),
        mean: Vec::new(),
        lo: Vec::new(),
        hi: Vec::new(),
    };
    for &gx in &grid {
        let vals: Vec<f64> = series
            .iter()
            .filter_map(|(xs, ys)| interp(xs, ys, gx))
            .collect();
        if vals.is_empty() {
            continue;
        }
        c.x.push(gx);
        c.mean.push(vals.iter().sum::<f64>() / vals.len() as f64);
        c.lo.push(vals.iter().copied().fold(f64::INFINITY, f64::min));
        c.hi.push(vals.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    }
    Some(c)
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font bytes are a valid TrueType file shipped with the crate.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        );
    });
}

fn bounds(curves: &[&Curve], extra: &[f64]) -> (f64, f64, f64, f64) {
    let xs = curves.iter().flat_map(|c| c.x.iter().copied());
    let ys = curves
        .iter()
        .flat_map(|c| c.lo.iter().chain(&c.hi).copied())
        .chain(extra.iter().copied());
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (x0, x1) = if x1 > x0 {
        (x0.min(0.0), x1)
    } else {
        (0.0, x0.max(1.0))
    };
    let pad = ((y1 - y0).abs() * 0.05).max(1e-3);
    (x0, x1, y0 - pad, y1 + pad)
}

fn draw_err(out: &Path, e: impl std::fmt::Display) -> HostError {
    HostError::Plot {
        path: out.to_owned(),
        reason: e.to_string(),
    }
}

/// Draws the runs in `dirs` (run directories or `metrics.jsonl` files) into
/// one PNG at `out`: the return on top (evaluation return when every run
/// has one, else the training return), max KL below with each ε_KL.
/// Runs without environment-step counts (`fixpo device adapt`'s) are drawn
/// against the iteration when the axis is [`XAxis::EnvSteps`].
///
/// # Errors
/// [`HostError::Plot`] or [`HostError::Io`] when a run cannot be read or
/// the image cannot be written.
pub fn plot_runs(dirs: &[PathBuf], out: &Path, opts: &PlotOptions) -> Result<()> {
    if dirs.is_empty() {
        return Err(draw_err(out, "no runs given"));
    }
    let runs: Vec<RunData> = dirs
        .iter()
        .map(|d| load_run(d, &opts.group_by))
        .collect::<Result<_>>()?;
    let no_steps = runs
        .iter()
        .all(|r| r.metrics.iter().all(|m| m.env_steps == 0));
    let x_axis = if opts.x == XAxis::EnvSteps && no_steps {
        XAxis::Iters
    } else {
        opts.x
    };
    let mut groups: BTreeMap<&str, Vec<&RunData>> = BTreeMap::new();
    for r in &runs {
        groups.entry(r.label.as_str()).or_default().push(r);
    }
    let use_eval = runs
        .iter()
        .all(|r| r.metrics.iter().any(|m| m.eval_return.is_some()));
    let single = runs.len() == 1;
    let mut returns = Vec::new();
    let mut train_returns = Vec::new();
    let mut kls = Vec::new();
    let mut eps: Vec<f64> = Vec::new();
    for (label, rs) in &groups {
        let ret = if use_eval {
            curve(rs, x_axis, |m| m.eval_return.map(f64::from))
        } else {
            curve(rs, x_axis, |m| m.return_mean.map(f64::from))
        };
        if let Some(c) = ret {
            returns.push((*label, c));
        }
        if single
            && use_eval
            && let Some(c) = curve(rs, x_axis, |m| m.return_mean.map(f64::from))
        {
            train_returns.push(c);
        }
        if let Some(c) = curve(rs, x_axis, |m| Some(f64::from(m.max_kl))) {
            kls.push((*label, c));
        }
        for r in rs {
            let e = f64::from(r.metrics[0].eps_kl);
            if !eps.iter().any(|&v| (v - e).abs() < 1e-9) {
                eps.push(e);
            }
        }
    }
    let mut envs: Vec<&str> = runs
        .iter()
        .map(|r| r.env.as_str())
        .filter(|e| !e.is_empty())
        .collect();
    envs.dedup();
    let title = format!(
        "{} — {}",
        if envs.is_empty() { "fixpo" } else { envs[0] },
        groups.keys().copied().collect::<Vec<_>>().join(" vs ")
    );
    let x_label = match x_axis {
        XAxis::EnvSteps => "environment steps",
        XAxis::WallS => "training wall time (s)",
        XAxis::Iters if no_steps => "updates",
        XAxis::Iters => "iterations",
    };

    register_font();
    let out_str = out.to_string_lossy().into_owned();
    // The encoder picks the format from the extension: keep `.png` last.
    let tmp = out.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, opts.size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw_err(out, e))?;
        let root = root
            .titled(&title, ("sans-serif", 22))
            .map_err(|e| draw_err(out, e))?;
        let (top, bottom) = root.split_vertically(opts.size.1 * 55 / 100);
        // Red is kept for the ε_KL line.
        const COLORS: [RGBColor; 6] = [
            RGBColor(31, 119, 180),
            RGBColor(255, 127, 14),
            RGBColor(44, 160, 44),
            RGBColor(148, 103, 189),
            RGBColor(140, 86, 75),
            RGBColor(23, 190, 207),
        ];
        let palette = |i: usize| COLORS[i % COLORS.len()].to_rgba();

        // Return.
        let all: Vec<&Curve> = returns
            .iter()
            .map(|(_, c)| c)
            .chain(train_returns.iter())
            .collect();
        let (x0, x1, y0, y1) = bounds(&all, &[]);
        let mut chart = ChartBuilder::on(&top)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| draw_err(out, e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(if use_eval {
                "eval return (deterministic)"
            } else {
                "training return"
            })
            .x_label_formatter(&|v| short(*v))
            .draw()
            .map_err(|e| draw_err(out, e))?;
        for (i, (label, c)) in returns.iter().enumerate() {
            let color = palette(i);
            draw_band(&mut chart, c, color).map_err(|e| draw_err(out, e))?;
            let name = if use_eval && single {
                "eval return".to_owned()
            } else {
                (*label).to_owned()
            };
            chart
                .draw_series(LineSeries::new(
                    c.x.iter().copied().zip(c.mean.iter().copied()),
                    color.stroke_width(2),
                ))
                .map_err(|e| draw_err(out, e))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        for c in &train_returns {
            let color = RGBAColor(120, 120, 120, 0.8);
            chart
                .draw_series(LineSeries::new(
                    c.x.iter().copied().zip(c.mean.iter().copied()),
                    color.stroke_width(1),
                ))
                .map_err(|e| draw_err(out, e))?
                .label("training return")
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw_err(out, e))?;

        // Max KL with the trust-region radius.
        let all: Vec<&Curve> = kls.iter().map(|(_, c)| c).collect();
        let (x0, x1, _, y1) = bounds(&all, &eps);
        let mut chart = ChartBuilder::on(&bottom)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, 0.0..y1)
            .map_err(|e| draw_err(out, e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("max KL(old || new)")
            .x_label_formatter(&|v| short(*v))
            .draw()
            .map_err(|e| draw_err(out, e))?;
        for (i, (label, c)) in kls.iter().enumerate() {
            let color = palette(i);
            draw_band(&mut chart, c, color).map_err(|e| draw_err(out, e))?;
            chart
                .draw_series(LineSeries::new(
                    c.x.iter().copied().zip(c.mean.iter().copied()),
                    color.stroke_width(2),
                ))
                .map_err(|e| draw_err(out, e))?
                .label(format!("{label} max KL"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        for &e in &eps {
            chart
                .draw_series(DashedLineSeries::new(
                    [(x0, e), (x1, e)],
                    8,
                    6,
                    RED.stroke_width(2),
                ))
                .map_err(|err| draw_err(out, err))?
                // ε_KL is an f32 in the metrics: print it as one (0.03, not 0.0299999993).
                .label(format!("eps_kl = {}", e as f32))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| draw_err(out, e))?;
        root.present().map_err(|e| draw_err(out, e))?;
    }
    std::fs::rename(&tmp, out).map_err(|e| HostError::io("cannot write", out_str, e))
}

fn draw_band<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    c: &Curve,
    color: RGBAColor,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    if c.lo.iter().zip(&c.hi).all(|(l, h)| (h - l).abs() < 1e-12) {
        return Ok(());
    }
    let pts: Vec<(f64, f64)> =
        c.x.iter()
            .copied()
            .zip(c.hi.iter().copied())
            .chain(c.x.iter().copied().zip(c.lo.iter().copied()).rev())
            .collect();
    chart.draw_series(std::iter::once(Polygon::new(pts, color.mix(0.2).filled())))?;
    Ok(())
}

/// `12500` → `12.5k`, `2000000` → `2M`.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_and_labels() {
        let xs = [0.0, 10.0, 20.0];
        let ys = [0.0, 1.0, 3.0];
        assert_eq!(interp(&xs, &ys, 15.0), Some(2.0));
        assert_eq!(interp(&xs, &ys, 25.0), None);
        assert_eq!(short(12_500.0), "12.5k");
        assert_eq!(short(2_000_000.0), "2M");
        assert_eq!(short(0.0), "0");
    }
}
