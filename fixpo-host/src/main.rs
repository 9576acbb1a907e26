//! `fixpo`: train, evaluate, inspect and plot FixPO policies.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use fixpo_core::Algo;
use fixpo_host::config::RunConfig;
use fixpo_host::io::{CONFIG_FILE, POLICY_FILE};
use fixpo_host::plot::{PlotOptions, XAxis};
use fixpo_host::progress::Progress;
use fixpo_host::train::{self, StopReason, TrainOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod device_cli;

/// FixPO (Fixup Policy Optimization): PPO-like training with a guaranteed
/// KL trust region.
#[derive(Parser)]
#[command(name = "fixpo", version, about, long_about = None)]
struct Cli {
    /// Worker threads for rollouts and updates (default: all cores).
    /// Results do not depend on it.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Train a policy; writes config.toml, metrics.jsonl, policy.fxp,
    /// checkpoint.bin and curve.png into --out.
    Train(TrainArgs),
    /// Evaluate a policy file (or a run directory) on a task; JSON on stdout.
    Eval {
        /// Policy file, or a run directory holding policy.fxp.
        policy: PathBuf,
        /// Task (default: the one in the run's config.toml).
        #[arg(long)]
        env: Option<String>,
        /// Episodes per mode (deterministic and stochastic).
        #[arg(long, default_value_t = 10)]
        episodes: u32,
        /// Seed of the episodes' start states.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Show a policy file's header, sizes, checksum and normalisation.
    Inspect {
        /// The policy file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the built-in tasks with their dimensions.
    Envs {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Plot one or many runs' metrics into one PNG (runs grouped by a
    /// config key, seeds drawn as a band).
    Plot {
        /// Run directories (or metrics.jsonl files).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Output PNG.
        #[arg(long, short)]
        out: PathBuf,
        /// Horizontal axis.
        #[arg(long, value_enum, default_value_t = XArg::Steps)]
        x: XArg,
        /// Config key that groups runs (one colour per value).
        #[arg(long, default_value = "algo")]
        group_by: String,
        /// Image size in pixels, WIDTHxHEIGHT.
        #[arg(long, default_value = "1000x800", value_parser = parse_size)]
        size: (u32, u32),
    },
    /// Measure training throughput (env steps/s including updates) and the
    /// time split between environment stepping and updates.
    Bench {
        /// Task.
        #[arg(long, default_value = "pendulum")]
        env: String,
        /// Environment steps to run.
        #[arg(long, default_value_t = 163_840)]
        steps: u64,
        /// Use the task's tuned preset instead of the reference settings.
        #[arg(long)]
        preset: bool,
        /// Override a setting (key=value), repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Talk to a controller over a serial port or socket: push and pull
    /// policies, adapt on the device and watch it, reset (docs/device.md).
    Device(device_cli::DeviceArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum XArg {
    /// Environment steps.
    Steps,
    /// Training wall time.
    Wall,
    /// Iterations (updates, for a device run).
    Iters,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Task (see `fixpo envs`); may come from --config instead.
    #[arg(long)]
    env: Option<String>,
    /// Update rule.
    #[arg(long, value_parser = algo_parser())]
    algo: Option<Algo>,
    /// Environment steps to train for.
    #[arg(long)]
    steps: Option<u64>,
    /// Seed.
    #[arg(long)]
    seed: Option<u64>,
    /// TOML file of settings (e.g. a run's config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override a setting (key=value), repeatable; applied after --config.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    sets: Vec<String>,
    /// Stop once an evaluation's mean return reaches this.
    #[arg(long, allow_negative_numbers = true)]
    target_return: Option<f32>,
    /// Run directory.
    #[arg(long)]
    out: PathBuf,
    /// Continue the run in --out from its checkpoint (only --steps may
    /// change).
    #[arg(long)]
    resume: bool,
    /// Overwrite a run already in --out.
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Print nothing but errors and the final summary.
    #[arg(long, short)]
    quiet: bool,
    /// Do not draw curve.png.
    #[arg(long)]
    no_plot: bool,
    /// Stop as if interrupted after this many iterations (for tests).
    #[arg(long, hide = true)]
    stop_after_iters: Option<u64>,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            // `fixpo device` has one exit code per kind of failure.
            match e.downcast_ref::<fixpo_host::device::DeviceError>() {
                Some(d) => ExitCode::from(d.exit_code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// The error and its causes on one line, each cause once.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !msg.contains(&s) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&s);
        }
    }
    msg.replace('\n', " ")
}

/// Prints to stdout, ignoring a closed pipe.
fn say(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
}

fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global()
            .context("cannot start the thread pool")?;
    }
    match cli.cmd {
        Cmd::Train(args) => cmd_train(args),
        Cmd::Device(args) => device_cli::run(args),
        Cmd::Eval {
            policy,
            env,
            episodes,
            seed,
        } => {
            let (file, env, options) = policy_and_env(&policy, env)?;
            let report = fixpo_host::policy::eval_file(&file, &env, &options, episodes, seed)?;
            say(&serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Inspect { file, json } => {
            let info = fixpo_host::policy::inspect(&file)?;
            if json {
                say(&serde_json::to_string_pretty(&info)?);
            } else {
                say(&format!(
                    "file        {} ({} bytes)",
                    info.path.display(),
                    info.file_len
                ));
                say(&format!("format      fixpo policy v{}", info.version));
                say(&format!(
                    "policy      {} {}→{}×{}→{} ({} parameters)",
                    info.kind, info.obs, info.hid, info.hid, info.act, info.param_count
                ));
                say(&format!("checksum    crc32 {} (ok)", info.crc32));
                say(&format!(
                    "obs norm    clip ±{}, {} samples",
                    info.obs_clip, info.obs_count
                ));
                say(&format!("  mean      {}", list(&info.obs_mean)));
                say(&format!("  std       {}", list(&info.obs_std)));
                say(&format!(
                    "actions     low {}  high {}",
                    list(&info.action_low),
                    list(&info.action_high)
                ));
                if !info.action_std.is_empty() {
                    say(&format!("  std       {}", list(&info.action_std)));
                }
                match &info.critic {
                    Some(c) => say(&format!(
                        "critic      value {}→{}×{}→1 ({} parameters, rms {}), return σ_R {} (mean {}, {} samples)",
                        info.obs,
                        info.hid,
                        info.hid,
                        c.param_count,
                        c.param_rms,
                        c.ret_sigma,
                        c.ret_mean,
                        c.ret_count
                    )),
                    None => say("critic      none"),
                }
                say(&format!(
                    "fits tasks  {}",
                    if info.fits_tasks.is_empty() {
                        "(none built in)".to_owned()
                    } else {
                        info.fits_tasks.join(", ")
                    }
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Envs { json } => {
            let rows = fixpo_host::tasks::all_tasks();
            if json {
                let v: Vec<_> = rows
                    .iter()
                    .map(|i| {
                        serde_json::json!({
                            "name": i.name,
                            "obs": i.obs_dim,
                            "act": i.act_dim,
                            "action": action_kind(i),
                            "max_episode_steps": i.max_episode_steps,
                            "description": i.description,
                        })
                    })
                    .collect();
                say(&serde_json::to_string_pretty(&v)?);
            } else {
                say(&format!(
                    "{:<24} {:>4} {:>4}  {:<12} {:>6}  description",
                    "name", "obs", "act", "actions", "steps"
                ));
                for i in rows.iter().copied() {
                    say(&format!(
                        "{:<24} {:>4} {:>4}  {:<12} {:>6}  {}",
                        i.name,
                        i.obs_dim,
                        i.act_dim,
                        action_kind(i),
                        i.max_episode_steps,
                        i.description
                    ));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Plot {
            runs,
            out,
            x,
            group_by,
            size,
        } => {
            let opts = PlotOptions {
                x: match x {
                    XArg::Steps => XAxis::EnvSteps,
                    XArg::Wall => XAxis::WallS,
                    XArg::Iters => XAxis::Iters,
                },
                group_by,
                size,
            };
            fixpo_host::plot::plot_runs(&runs, &out, &opts)?;
            say(&format!("wrote {}", out.display()));
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench {
            env,
            steps,
            preset,
            sets,
            json,
        } => {
            // A MuJoCo task's preset is the reference settings (with C_β 3).
            let base = if preset || fixpo_host::tasks::is_mujoco_name(&env) {
                RunConfig::preset(&env)?
            } else {
                RunConfig::reference(fixpo_host::tasks::task_info(&env)?.name)
            };
            let mut sets = sets;
            sets.insert(0, format!("total_steps={steps}"));
            let cfg = base.with_sets(&sets)?;
            let settings = if fixpo_host::tasks::is_mujoco_name(&env) {
                "reference (MuJoCo preset, C_β 3)"
            } else if preset {
                "preset"
            } else {
                "reference"
            };
            let r = fixpo_host::bench::bench(cfg, settings)?;
            if json {
                say(&serde_json::to_string_pretty(&r)?);
            } else {
                say(&format!(
                    "{} ({} settings, batch {}, {} threads, {} kernels): {} env steps in {:.2} s",
                    r.env, r.settings, r.batch, r.threads, r.kernels, r.env_steps, r.wall_s
                ));
                say(&format!(
                    "  throughput   {:.0} env steps/s including updates",
                    r.env_steps_per_s
                ));
                say(&format!(
                    "  time split   env stepping {:.0}%, updates {:.0}%, other {:.0}%",
                    100.0 * r.collect_frac,
                    100.0 * r.update_frac,
                    100.0 * r.other_frac
                ));
                say(&format!(
                    "  collection   {:.0} env steps/s while stepping",
                    r.collect_steps_per_s
                ));
                say(&format!(
                    "  fixup        {:.3} fixup steps per primary step",
                    r.fixup_per_primary
                ));
                if let (Some(raw), Some(ratio)) = (r.raw_steps_per_s, r.train_over_raw) {
                    say(&format!(
                        "  raw MuJoCo   {raw:.0} env steps/s ({} threads, random actions; a batch of steps after each training iteration)",
                        r.threads
                    ));
                    say(&format!(
                        "  ratio        training / raw = {:.1}% (target ≥ 60%)",
                        100.0 * ratio
                    ));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--algo`: one of fixpo-core's rule names (listed in `--help`).
fn algo_parser() -> impl clap::builder::TypedValueParser<Value = Algo> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Algo::ALL.map(Algo::name))
        .try_map(|s| Algo::from_name(&s).ok_or("not an update rule"))
}

fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{s}` is not WIDTHxHEIGHT"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|&n| (200..=4000).contains(&n))
            .ok_or_else(|| format!("`{v}` is not a size in 200..=4000 pixels"))
    };
    Ok((n(w)?, n(h)?))
}

fn action_kind(i: &fixpo_core::envs::EnvInfo) -> &'static str {
    match i.action {
        fixpo_core::envs::ActionKind::Continuous { .. } => "continuous",
        fixpo_core::envs::ActionKind::Discrete => "discrete",
    }
}

fn list(v: &[f32]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
    format!("[{}]", items.join(", "))
}

/// The policy file and task for `fixpo eval`: a run directory gives both.
/// A task's options as `(key, value)` pairs.
type TaskOptions = Vec<(String, f64)>;

/// The policy file, its task and the task's options: the task from `--env`
/// or else the run's `config.toml` beside the file; the options from that
/// `config.toml` when it names the same task (so a policy trained with,
/// say, `env.forward_reward_weight=2` is evaluated on that task).
fn policy_and_env(path: &Path, env: Option<String>) -> Result<(PathBuf, String, TaskOptions)> {
    let (file, dir) = if path.is_dir() {
        (path.join(POLICY_FILE), path.to_owned())
    } else {
        (
            path.to_owned(),
            path.parent().map(Path::to_owned).unwrap_or_default(),
        )
    };
    let cfg_path = dir.join(CONFIG_FILE);
    let cfg = match std::fs::read_to_string(&cfg_path) {
        // A user environment's run names its own task: read the settings
        // without looking the task up.
        Ok(text) => Some(
            RunConfig::parse_toml(&text)
                .with_context(|| format!("cannot read {}", cfg_path.display()))?,
        ),
        Err(_) => None,
    };
    match (env, cfg) {
        (Some(env), Some(cfg)) if fixpo_host::tasks::same_task(&env, &cfg.env) => {
            let options = cfg.env_option_pairs();
            Ok((file, env, options))
        }
        (Some(env), _) => Ok((file, env, Vec::new())),
        (None, Some(cfg)) => {
            if fixpo_host::tasks::task_info(&cfg.env).is_err() {
                bail!(
                    "`{}` was trained on `{}`, which is not a built-in task: pass --env NAME (a task of the same shape)",
                    path.display(),
                    cfg.env
                );
            }
            let options = cfg.env_option_pairs();
            Ok((file, cfg.env, options))
        }
        (None, None) => bail!(
            "no task given for `{}`: pass --env NAME (no config.toml beside it)",
            path.display()
        ),
    }
}

fn cmd_train(a: TrainArgs) -> Result<ExitCode> {
    let config = if a.resume {
        if a.config.is_some()
            || !a.sets.is_empty()
            || a.algo.is_some()
            || a.seed.is_some()
            || a.env.is_some()
            || a.target_return.is_some()
        {
            bail!(
                "--resume continues the run in `{}` with its saved configuration; only --steps may change",
                a.out.display()
            );
        }
        let mut cfg = train::checkpoint_config(&a.out)?;
        if let Some(s) = a.steps {
            cfg.total_steps = s;
        }
        cfg
    } else {
        let file = match &a.config {
            Some(p) => Some(fixpo_host::io::read_string(p)?),
            None => None,
        };
        // The typed flags apply last, as values, not as text.
        let mut cfg = RunConfig::resolve(a.env.as_deref(), file.as_deref(), &a.sets)?;
        if let Some(algo) = a.algo {
            cfg.update.algo = algo;
        }
        if let Some(v) = a.steps {
            cfg.total_steps = v;
        }
        if let Some(v) = a.seed {
            cfg.seed = v;
        }
        if let Some(v) = a.target_return {
            cfg.target_return = Some(v);
        }
        cfg.validate()?;
        cfg
    };

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                eprintln!("interrupted again: quitting now (the last checkpoint is intact)");
                std::process::exit(130);
            }
            eprintln!("stopping after this iteration (Ctrl-C again to quit at once)");
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    let opts = TrainOptions {
        config,
        out_dir: Some(a.out.clone()),
        resume: a.resume,
        force: a.force,
        stop_after_iters: a.stop_after_iters,
        stop: Some(stop.clone()),
        plot: !a.no_plot,
    };
    let mut progress = Progress::new(a.quiet);
    let s = train::train(&opts, &mut progress)?;
    progress.finish();

    let eval = s
        .last_eval
        .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    say(&format!(
        "{}: {} iterations, {} env steps, {:.2} s training ({:.0} steps/s); last eval return {}; fixup/primary steps {:.3}",
        match s.stop {
            StopReason::Finished => "done",
            StopReason::TargetReached => "target reached",
            StopReason::Interrupted => "interrupted",
        },
        s.iters,
        s.env_steps,
        s.wall_s,
        s.env_steps as f64 / s.wall_s.max(1e-9),
        eval,
        s.fixup_grad_steps as f64 / s.primary_grad_steps.max(1) as f64,
    ));
    if let Some((steps, wall)) = s.target_reached {
        say(&format!(
            "target return reached after {steps} env steps, {wall:.2} s"
        ));
    }
    if s.stop == StopReason::Interrupted {
        say(&format!(
            "checkpoint saved; continue with: fixpo train --out {} --resume",
            a.out.display()
        ));
        if stop.load(Ordering::SeqCst) {
            return Ok(ExitCode::from(130));
        }
    }
    Ok(ExitCode::SUCCESS)
}
