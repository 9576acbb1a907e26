//! End-to-end tests of the `fixpo` binary: train → eval → inspect, exact
//! resume, reproducibility, the trust region in the metrics, plots, and a
//! clear one-line error for each kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TIMING: [&str; 5] = ["wall_s", "sps", "collect_s", "update_s", "eval_s"];

/// A tiny, fast configuration: a few iterations of 1024 steps.
const SMALL: [&str; 12] = [
    "--set",
    "hidden=32",
    "--set",
    "num_envs=4",
    "--set",
    "steps_per_env=256",
    "--set",
    "epochs=3",
    "--set",
    "minibatch=128",
    "--set",
    "fixup_minibatch=1024",
];

fn fixpo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fixpo"))
        .args(args)
        .output()
        .expect("the fixpo binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = fixpo(args);
    assert!(
        out.status.success(),
        "fixpo {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn train(dir: &Path, env: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--env",
        env,
        "--out",
        dir.to_str().unwrap(),
        "--no-plot",
    ];
    args.extend_from_slice(&SMALL);
    args.extend_from_slice(extra);
    ok(&args)
}

/// Metrics lines as JSON objects, without the timing fields.
fn metrics(dir: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut m: serde_json::Map<_, _> = serde_json::from_str(l).unwrap();
            for k in TIMING {
                assert!(m.remove(k).is_some(), "missing {k}");
            }
            m
        })
        .collect()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn train_eval_inspect() {
    let t = tmp();
    let run = path(t.path(), "run");
    let out = ok(&[
        "train",
        "--env",
        "pendulum",
        "--steps",
        "3072",
        "--seed",
        "4",
        "--out",
        run.to_str().unwrap(),
        SMALL[0],
        SMALL[1],
        SMALL[2],
        SMALL[3],
        SMALL[4],
        SMALL[5],
        SMALL[6],
        SMALL[7],
        SMALL[8],
        SMALL[9],
        SMALL[10],
        SMALL[11],
    ]);
    assert!(out.contains("done: 3 iterations"), "{out}");
    for f in [
        "config.toml",
        "metrics.jsonl",
        "policy.fxp",
        "checkpoint.bin",
        "curve.png",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let png = std::fs::read(run.join("curve.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // No temporary files are left behind.
    for e in std::fs::read_dir(&run).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(!name.contains("tmp"), "{name}");
    }

    let lines = metrics(&run);
    assert_eq!(lines.len(), 3);
    for key in [
        "iter",
        "env_steps",
        "return_mean",
        "max_kl",
        "mean_kl",
        "eps_kl",
        "beta",
        "primary_grad_steps",
        "fixup_grad_steps",
        "backtrack_t",
        "backtracks",
        "reverted",
        "lr",
    ] {
        assert!(lines[2].contains_key(key), "{key}");
    }
    assert!(
        lines[2]["eval_return"].is_number(),
        "the last iteration evaluates"
    );

    // The resolved config repeats the run.
    let again = path(t.path(), "again");
    ok(&[
        "train",
        "--config",
        run.join("config.toml").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
        "--no-plot",
    ]);
    assert_eq!(metrics(&run), metrics(&again));
    assert_eq!(
        std::fs::read(run.join("policy.fxp")).unwrap(),
        std::fs::read(again.join("policy.fxp")).unwrap()
    );

    let eval: serde_json::Value =
        serde_json::from_str(&ok(&["eval", run.to_str().unwrap(), "--episodes", "3"])).unwrap();
    assert_eq!(eval["env"], "pendulum");
    assert_eq!(
        eval["deterministic"]["returns"].as_array().unwrap().len(),
        3
    );
    assert!(eval["stochastic"]["mean"].as_f64().unwrap() < 0.0);

    let policy = run.join("policy.fxp");
    let text = ok(&["inspect", policy.to_str().unwrap()]);
    assert!(text.contains("gaussian 3→32×32→1"), "{text}");
    assert!(text.contains("crc32 0x"), "{text}");
    assert!(text.contains("fits tasks  pendulum"), "{text}");
    // The run's file carries its critic (format version 2).
    assert!(text.contains("fixpo policy v2"), "{text}");
    assert!(
        text.contains("critic      value 3→32×32→1 (1217 parameters"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["inspect", "--json", policy.to_str().unwrap()])).unwrap();
    assert_eq!(json["obs_mean"].as_array().unwrap().len(), 3);
    let bytes = std::fs::read(&policy).unwrap();
    let critic = fixpo_core::file::decode_critic::<3, 32>(&bytes)
        .unwrap()
        .expect("a critic");
    let sigma = (critic.ret.var[0] + 1e-8).sqrt();
    assert_eq!(json["critic"]["param_count"], 1217);
    assert_eq!(json["critic"]["ret_sigma"].as_f64().unwrap() as f32, sigma);
    // The Pendulum preset does not normalise rewards: unit statistics.
    assert_eq!(critic.ret, fixpo_core::RunningMeanStd::NEW);
}

#[test]
fn resume_after_interruption_matches_uninterrupted_run() {
    let t = tmp();
    let whole = path(t.path(), "whole");
    let parts = path(t.path(), "parts");
    let common = [
        "--steps",
        "6144",
        "--seed",
        "9",
        "--set",
        "checkpoint_every=2",
    ];
    train(&whole, "pendulum", &common);

    let mut first = common.to_vec();
    first.extend(["--stop-after-iters", "3"]);
    let out = train(&parts, "pendulum", &first);
    assert!(out.contains("interrupted: 3 iterations"), "{out}");
    assert!(out.contains("--resume"), "{out}");
    let out = ok(&[
        "train",
        "--out",
        parts.to_str().unwrap(),
        "--resume",
        "--no-plot",
    ]);
    assert!(out.contains("done: 6 iterations"), "{out}");
    assert_eq!(
        std::fs::read(whole.join("policy.fxp")).unwrap(),
        std::fs::read(parts.join("policy.fxp")).unwrap(),
        "resumed policy differs"
    );
    assert_eq!(metrics(&whole), metrics(&parts));

    // Changing the configuration on resume is refused.
    let e = fixpo(&[
        "train",
        "--out",
        parts.to_str().unwrap(),
        "--resume",
        "--set",
        "lr=0.1",
    ]);
    assert!(!e.status.success());
}

#[test]
fn discrete_task_resumes_exactly_too() {
    let t = tmp();
    let whole = path(t.path(), "whole");
    let parts = path(t.path(), "parts");
    train(&whole, "cartpole", &["--steps", "4096"]);
    train(
        &parts,
        "cartpole",
        &["--steps", "4096", "--stop-after-iters", "1"],
    );
    ok(&["train", "--out", parts.to_str().unwrap(), "--resume"]);
    assert_eq!(
        std::fs::read(whole.join("policy.fxp")).unwrap(),
        std::fs::read(parts.join("policy.fxp")).unwrap()
    );
}

#[test]
fn same_seed_same_metrics_for_any_thread_count_and_task_grouping() {
    let t = tmp();
    let a = path(t.path(), "a");
    let b = path(t.path(), "b");
    let c = path(t.path(), "c");
    let args = ["--steps", "4096", "--seed", "3"];
    train(&a, "pendulum", &args);
    train(&b, "pendulum", &args);
    let mut one = vec!["--threads", "1"];
    one.extend(["train", "--env", "pendulum", "--out", c.to_str().unwrap()]);
    one.extend_from_slice(&SMALL);
    one.extend_from_slice(&args);
    ok(&one);
    // Grouping the environments into fewer, larger rollout tasks changes
    // which thread steps which environment, never the result.
    let d = path(t.path(), "d");
    train(
        &d,
        "pendulum",
        &[
            "--steps",
            "4096",
            "--seed",
            "3",
            "--set",
            "envs_per_worker=4",
        ],
    );
    assert_eq!(metrics(&a), metrics(&b));
    assert_eq!(metrics(&a), metrics(&c));
    assert_eq!(metrics(&a), metrics(&d));
    assert_eq!(
        std::fs::read(a.join("policy.fxp")).unwrap(),
        std::fs::read(d.join("policy.fxp")).unwrap()
    );
    let other = path(t.path(), "other");
    train(&other, "pendulum", &["--steps", "4096", "--seed", "4"]);
    assert_ne!(metrics(&a), metrics(&other));
}

#[test]
fn fixpo_holds_the_kl_bound_on_every_iteration() {
    let t = tmp();
    let run = path(t.path(), "run");
    // A large learning rate pushes the primary phase past the bound, so
    // the fixup phase has work to do.
    train(
        &run,
        "pendulum",
        &[
            "--algo",
            "fixpo",
            "--steps",
            "6144",
            "--set",
            "lr=0.01",
            "--set",
            "eps_kl=0.05",
        ],
    );
    let lines = metrics(&run);
    assert_eq!(lines.len(), 6);
    for m in &lines {
        let (kl, eps) = (m["max_kl"].as_f64().unwrap(), m["eps_kl"].as_f64().unwrap());
        assert!(kl <= eps, "max_kl {kl} > eps_kl {eps} at {m:?}");
    }
}

#[test]
fn plot_many_runs_into_one_png() {
    let t = tmp();
    let a = path(t.path(), "fixpo");
    let b = path(t.path(), "ppo");
    train(&a, "pendulum", &["--steps", "2048"]);
    train(&b, "pendulum", &["--steps", "2048", "--algo", "ppo-clip"]);
    let png = path(t.path(), "cmp.png");
    ok(&[
        "plot",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
}

#[test]
fn envs_lists_tasks_with_dimensions() {
    let out = ok(&["envs"]);
    assert!(out.lines().any(|l| l.starts_with("pendulum")
        && l.split_whitespace().nth(1) == Some("3")
        && l.split_whitespace().nth(2) == Some("1")));
    assert!(out.contains("cartpole"));
}

/// Runs `args`, expecting a failure reported on one line of stderr.
fn fails(args: &[&str], expect: &str) {
    let out = fixpo(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_ne!(out.status.code(), Some(101), "{args:?} panicked: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(
        err.contains(expect),
        "{args:?}: expected `{expect}` in: {err}"
    );
}

#[test]
fn bad_inputs_give_one_clear_line() {
    let t = tmp();
    let out = path(t.path(), "run");
    let o = out.to_str().unwrap();
    fails(
        &["train", "--env", "hopperx", "--out", o],
        "unknown task `hopperx`",
    );
    fails(
        &["train", "--env", "pendulum", "--set", "lr=fast", "--out", o],
        "`lr`",
    );
    fails(
        &[
            "train",
            "--env",
            "pendulum",
            "--set",
            "eps_kl=-1",
            "--out",
            o,
        ],
        "eps_kl",
    );
    fails(
        &[
            "train",
            "--env",
            "pendulum",
            "--set",
            "hidden=48",
            "--out",
            o,
        ],
        "32, 64, 128",
    );
    fails(
        &[
            "train",
            "--env",
            "pendulum",
            "--set",
            "learning_rate=1",
            "--out",
            o,
        ],
        "valid keys",
    );
    let file = path(t.path(), "file");
    std::fs::write(&file, "not a policy file, nor a directory\n".repeat(40)).unwrap();
    let under_file = file.join("run");
    fails(
        &[
            "train",
            "--env",
            "pendulum",
            "--out",
            under_file.to_str().unwrap(),
        ],
        "not writable",
    );
    fails(
        &["inspect", path(t.path(), "missing.fxp").to_str().unwrap()],
        "cannot read",
    );
    fails(&["inspect", file.to_str().unwrap()], "bad magic");

    train(&out, "pendulum", &["--steps", "1024"]);
    let policy = out.join("policy.fxp");
    let mut bytes = std::fs::read(&policy).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let corrupt = path(t.path(), "corrupt.fxp");
    std::fs::write(&corrupt, &bytes).unwrap();
    fails(&["inspect", corrupt.to_str().unwrap()], "checksum");
    fails(
        &["eval", corrupt.to_str().unwrap(), "--env", "pendulum"],
        "checksum",
    );
    fails(
        &["eval", policy.to_str().unwrap(), "--env", "cartpole"],
        "does not fit task `cartpole`",
    );
    fails(
        &["eval", policy.to_str().unwrap(), "--env", "nope"],
        "unknown task",
    );
    // A second run into the same directory must not clobber it silently.
    fails(
        &["train", "--env", "pendulum", "--out", o],
        "already holds a run",
    );
    let bad_cfg = path(t.path(), "bad.toml");
    std::fs::write(&bad_cfg, "env = \"pendulum\"\nepochs = \"ten\"\n").unwrap();
    fails(
        &[
            "train",
            "--config",
            bad_cfg.to_str().unwrap(),
            "--out",
            o,
            "--force",
        ],
        "epochs",
    );
}

#[cfg(not(feature = "mujoco"))]
#[test]
fn mujoco_tasks_need_the_feature() {
    let t = tmp();
    let out = path(t.path(), "run");
    fails(
        &["train", "--env", "hopper", "--out", out.to_str().unwrap()],
        "--features fixpo-host/mujoco",
    );
    assert!(!ok(&["envs"]).contains("hopper"));
}

/// Needs `source .cache/mujoco/env.sh` (FIXPO_MJCF_DIR, LD_LIBRARY_PATH).
#[cfg(feature = "mujoco")]
#[test]
fn mujoco_tasks_train_with_options() {
    let list = ok(&["envs"]);
    for name in [
        "hopper",
        "walker2d",
        "halfcheetah",
        "swimmer",
        "inverted-pendulum",
        "inverted-double-pendulum",
        "reacher",
        "ant",
    ] {
        assert!(
            list.lines().any(|l| l.starts_with(name)),
            "{name} not in {list}"
        );
    }
    assert!(
        list.lines()
            .any(|l| l.starts_with("reacher") && l.split_whitespace().nth(4) == Some("50"))
    );
    let t = tmp();
    let out = path(t.path(), "hopper");
    let o = out.to_str().unwrap();
    ok(&[
        "train",
        "--env",
        "hopper",
        "--steps",
        "1024",
        "--quiet",
        "--no-plot",
        "--out",
        o,
        "--set",
        "num_envs=8",
        "--set",
        "steps_per_env=128",
        "--set",
        "minibatch=256",
        "--set",
        "env.max_episode_steps=20",
        "--set",
        "env.healthy_reward=2",
    ]);
    let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        cfg.contains("[env_options]") && cfg.contains("max_episode_steps = 20"),
        "{cfg}"
    );
    assert!(cfg.contains("c_beta = 3"), "{cfg}");
    // Episodes are cut at 20 steps: 8 envs × 128 steps end at least 8 × 6.
    let m = metrics(&out);
    assert!(m[0]["episodes"].as_u64().unwrap() >= 48, "{:?}", m[0]);
    // `eval` of the run uses the run's task options; the same policy file
    // without its config.toml is evaluated on the default task.
    let with: serde_json::Value =
        serde_json::from_str(&ok(&["eval", o, "--episodes", "3"])).unwrap();
    let opts = with["env_options"].as_array().unwrap();
    assert!(
        opts.iter()
            .any(|p| p[0] == "max_episode_steps" && p[1] == 20.0)
            && opts.iter().any(|p| p[0] == "healthy_reward" && p[1] == 2.0),
        "{with}"
    );
    let bare = path(t.path(), "bare.fxp");
    std::fs::copy(out.join("policy.fxp"), &bare).unwrap();
    let without: serde_json::Value = serde_json::from_str(&ok(&[
        "eval",
        bare.to_str().unwrap(),
        "--env",
        "hopper",
        "--episodes",
        "3",
    ]))
    .unwrap();
    assert!(without.get("env_options").is_none(), "{without}");
    assert_ne!(
        with["deterministic"]["returns"], without["deterministic"]["returns"],
        "options must change the evaluated task"
    );
    fails(
        &[
            "train",
            "--env",
            "hopper",
            "--set",
            "env.nope=1",
            "--out",
            o,
            "--force",
        ],
        "forward_reward_weight",
    );
    fails(
        &[
            "train", "--env", "pendulum", "--set", "env.g=9", "--out", o, "--force",
        ],
        "env.g",
    );
}
