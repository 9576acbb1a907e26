//! The MuJoCo tasks against Gymnasium 1.4's v5 environments, step by step.
//!
//! For each task: episodes start from our seeded reset state (passed to
//! Gymnasium's `set_state`) and both sides get the same random actions. We
//! compare the observation, reward, `terminated` and `truncated` of every
//! step, in `f64` (our [`MujocoTask::step_f64`]; the `f32` [`Env::step`] is
//! checked to be exactly its cast). Per task:
//! - several episodes up to termination or the time limit (both must end on
//!   the same step), and
//! - one 1000-step run that continues past termination (long contact-rich
//!   trajectories: a fallen hopper, an ant on its back).
//!
//! Tolerance: `|ours − gym| ≤ 1e-9 + 1e-9·|gym|` on every number (the two
//! compute the same floating-point operations; the observed maxima are
//! printed, and are 0 on the machine this was written on).
//!
//! Needs `scripts/setup-mujoco.sh` (then `source .cache/mujoco/env.sh`) and
//! `scripts/setup-venv.sh`; fails with that advice when they are missing.
//! Run: `cargo test -p fixpo-host --features mujoco --test mujoco_conformance`.
#![cfg(feature = "mujoco")]

use fixpo_core::env::ActionSpace;
use fixpo_core::rng::{self, Pcg32};
use fixpo_host::mujoco::{
    Ant, HalfCheetah, Hopper, InvertedDoublePendulum, InvertedPendulum, MujocoTask, Reacher,
    Swimmer, Walker2d,
};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const ABS_TOL: f64 = 1e-9;
const REL_TOL: f64 = 1e-9;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const SETUP: &str = "run scripts/setup-mujoco.sh, `source .cache/mujoco/env.sh` and \
                     scripts/setup-venv.sh (or set FIXPO_PYTHON to a python with \
                     gymnasium[mujoco]==1.4.0, mujoco==3.17.0)";

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("FIXPO_PYTHON") {
        return p.into();
    }
    let cache = std::env::var_os("FIXPO_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/mujoco"));
    let py = cache.join("venv/bin/python");
    assert!(
        py.exists(),
        "no Gymnasium venv at {}: {SETUP}",
        py.display()
    );
    py
}

/// Runs scripts/gym_reference.py on `cases` (JSON lines) and returns its
/// output lines grouped per case.
fn gym(cases: &[Value]) -> Vec<Vec<Value>> {
    let mut child = Command::new(python())
        .arg(repo().join("scripts/gym_reference.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run the Gymnasium venv's python ({e}): {SETUP}"));
    let mut input = String::new();
    for c in cases {
        input.push_str(&c.to_string());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gym_reference.py failed ({}); {SETUP}\n{stderr}",
        out.status
    );
    let mut per_case = vec![Vec::new(); cases.len()];
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("bad line from gym_reference.py ({e}): {line}"));
        per_case[v["case"].as_u64().unwrap() as usize].push(v);
    }
    per_case
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Largest absolute and relative error seen, and where.
#[derive(Default, Debug)]
struct Errors {
    obs_abs: f64,
    obs_rel: f64,
    rew_abs: f64,
    rew_rel: f64,
    steps: usize,
    episodes: usize,
}

fn check(ours: f64, gym: f64, what: &str) -> (f64, f64) {
    let abs = (ours - gym).abs();
    let rel = abs / gym.abs().max(f64::MIN_POSITIVE);
    assert!(
        abs <= ABS_TOL + REL_TOL * gym.abs(),
        "{what}: ours {ours:e}, Gymnasium {gym:e} (diff {abs:e})"
    );
    (abs, if gym == 0.0 { 0.0 } else { rel })
}

fn conform<const O: usize, const A: usize, T: MujocoTask<O, A>>(episodes: usize, seed: u64) {
    let template = T::load().unwrap_or_else(|e| panic!("{e}"));
    let name = T::GYM_ID;
    let limit = T::INFO.max_episode_steps as usize;
    let ActionSpace::Continuous { low, high } = template.action_space() else {
        panic!("{name}: discrete")
    };
    let mut rng = Pcg32::seed_from_u64(seed);

    // Cases: `episodes` up to their end, then one long run past termination.
    let mut starts = Vec::new();
    let mut cases = Vec::new();
    for k in 0..=episodes {
        let long = k == episodes;
        let mut env = template.clone();
        env.reset(&mut rng);
        let (qpos, qvel) = (env.sim().qpos().to_vec(), env.sim().qvel().to_vec());
        let n = if long { 1000 } else { limit };
        let actions: Vec<[f32; A]> = (0..n)
            .map(|_| core::array::from_fn(|i| rng::uniform_range(&mut rng, low[i], high[i])))
            .collect();
        cases.push(json!({
            "task": name,
            "seed": 0,
            "qpos": qpos,
            "qvel": qvel,
            "actions": actions.iter().map(|a| a.map(f64::from).to_vec()).collect::<Vec<_>>(),
            "continue_after_done": long,
        }));
        starts.push((qpos, qvel, actions, long));
    }
    let reference = gym(&cases);

    let mut err = Errors::default();
    for (k, ((qpos, qvel, actions, long), lines)) in starts.iter().zip(&reference).enumerate() {
        let reset = &lines[0];
        assert_eq!(reset["event"], "reset");
        if k == 0 {
            // The environment's constants.
            assert_eq!(reset["obs_dim"].as_u64(), Some(O as u64), "{name}");
            assert_eq!(reset["nu"].as_u64(), Some(A as u64), "{name}");
            assert_eq!(
                reset["max_episode_steps"].as_u64(),
                Some(limit as u64),
                "{name}"
            );
            assert_eq!(
                reset["dt"].as_f64(),
                Some(template.sim().dt()),
                "{name}: dt"
            );
            assert_eq!(
                floats(&reset["init_qpos"]),
                template.sim().init_qpos(),
                "{name}"
            );
            let f32s = |v: &Value| floats(v).iter().map(|&x| x as f32).collect::<Vec<_>>();
            assert_eq!(f32s(&reset["action_low"]), low, "{name}: action low");
            assert_eq!(f32s(&reset["action_high"]), high, "{name}: action high");
        }
        let mut env = template.clone();
        let obs0 = env.set_state(qpos, qvel).unwrap();
        let mut env32 = env.clone();
        for (i, (o, g)) in obs0.iter().zip(floats(&reset["obs"])).enumerate() {
            let (a, r) = check(*o, g, &format!("{name} case {k} reset obs[{i}]"));
            err.obs_abs = err.obs_abs.max(a);
            err.obs_rel = err.obs_rel.max(r);
        }
        let steps = &lines[1..];
        for (t, g) in steps.iter().enumerate() {
            let at = format!("{name} case {k} step {t}");
            let a = actions[t];
            let s = env.step_f64(&a.map(f64::from));
            assert_eq!(env32.step(&a), s.to_f32(), "{at}: f32 step is the cast");
            let gobs = floats(&g["obs"]);
            assert_eq!(gobs.len(), O, "{at}");
            for (i, (o, g)) in s.obs.iter().zip(gobs).enumerate() {
                let (a, r) = check(*o, g, &format!("{at} obs[{i}]"));
                err.obs_abs = err.obs_abs.max(a);
                err.obs_rel = err.obs_rel.max(r);
            }
            let (a, r) = check(
                s.reward,
                g["reward"].as_f64().unwrap(),
                &format!("{at} reward"),
            );
            err.rew_abs = err.rew_abs.max(a);
            err.rew_rel = err.rew_rel.max(r);
            assert_eq!(
                s.terminated,
                g["terminated"].as_bool().unwrap(),
                "{at} terminated"
            );
            assert_eq!(
                s.truncated,
                g["truncated"].as_bool().unwrap(),
                "{at} truncated"
            );
            err.steps += 1;
            if !long && (s.terminated || s.truncated) {
                assert_eq!(t + 1, steps.len(), "{at}: Gymnasium's episode goes on");
            }
        }
        let expected = if *long { actions.len() } else { steps.len() };
        assert_eq!(steps.len(), expected, "{name} case {k}");
        if !long {
            let last = steps.last().unwrap();
            assert!(
                last["terminated"].as_bool().unwrap() || last["truncated"].as_bool().unwrap(),
                "{name} case {k}: Gymnasium stopped before the episode ended"
            );
            err.episodes += 1;
        }
    }
    println!(
        "{name}: {} steps ({} episodes, then 1000 steps run on past the episode end): max |Δobs| {:.3e} (rel {:.3e}), max |Δreward| {:.3e} (rel {:.3e})",
        err.steps, err.episodes, err.obs_abs, err.obs_rel, err.rew_abs, err.rew_rel
    );
}

#[test]
fn hopper() {
    conform::<11, 3, Hopper>(8, 1);
}

#[test]
fn walker2d() {
    conform::<17, 6, Walker2d>(8, 2);
}

#[test]
fn halfcheetah() {
    conform::<17, 6, HalfCheetah>(2, 3);
}

#[test]
fn swimmer() {
    conform::<8, 2, Swimmer>(2, 4);
}

#[test]
fn inverted_pendulum() {
    conform::<4, 1, InvertedPendulum>(8, 5);
}

#[test]
fn inverted_double_pendulum() {
    conform::<9, 1, InvertedDoublePendulum>(8, 6);
}

#[test]
fn reacher() {
    conform::<10, 2, Reacher>(20, 7);
}

#[test]
fn ant() {
    conform::<105, 8, Ant>(3, 8);
}
