//! Single-step conformance of the classic control tasks with Gymnasium 1.4.0.
//!
//! For each task, 500 random (state, action) pairs from a fixed seed are
//! stepped once here and once by Gymnasium (`scripts/gym_classic_reference.py`
//! in the venv from `scripts/setup-venv.sh`). Every observation entry, the
//! reward and the next state must agree within
//!
//! ```text
//! ATOL + RTOL·|gymnasium| + COND·sensitivity
//! ```
//!
//! where `sensitivity` is how far Gymnasium's own f64 step moves that output
//! when one state component moves by one f32 ulp (summed over components;
//! the script measures it). For almost every state this term is far below
//! 1e-5; it matters only for ill-conditioned steps (an Acrobot spinning near
//! its speed limits, where one RK4 step of 0.2 s amplifies an input rounding
//! of 1e-7 to 1e-5 and more), which no f32 implementation can match to 1e-5.
//! `terminated` must agree except where Gymnasium's next state lies within
//! tolerance of a termination boundary (f32 against f64 can fall on either
//! side there). Angles in the state are compared modulo 2π.
//!
//! The venv's python is `$FIXPO_VENV/bin/python`, or, without `FIXPO_VENV`,
//! the first of `<repo>/.cache/venv` and `${FIXPO_CACHE:-<repo>/.cache/mujoco}/venv`
//! that exists. Without it the tests fail, unless `FIXPO_SKIP_PYTHON=1`.
//! Run with `--nocapture` to see the measured errors.

use std::f64::consts::{PI, TAU};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fixpo_core::Env;
use fixpo_core::envs::{Acrobot, CartPole, CartPoleContinuous, MountainCarContinuous, Pendulum};
use fixpo_core::rng::{Pcg32, uniform_range};

/// Cases per task.
const CASES: usize = 500;
/// Relative tolerance against Gymnasium (which computes in f64).
const RTOL: f64 = 1e-5;
/// Absolute tolerance against Gymnasium.
const ATOL: f64 = 1e-5;
/// Allowance, in units of the step's one-ulp sensitivity, for f32 rounding
/// amplified by an ill-conditioned step.
const COND: f64 = 4.0;
/// The Gymnasium release the tasks reproduce.
const GYMNASIUM_VERSION: &str = "1.4.0";

fn tol(reference: f64) -> f64 {
    ATOL + RTOL * reference.abs()
}

struct Case {
    state: Vec<f32>,
    action: Vec<f32>,
}

/// One step's outcome, ours (widened) or Gymnasium's.
#[derive(Debug)]
struct Outcome {
    /// Observation, reward and next state, in that order.
    out: Vec<f64>,
    terminated: bool,
}

/// Gymnasium's outcome and, per output, its one-ulp sensitivity.
struct Reference {
    outcome: Outcome,
    sensitivity: Vec<f64>,
}

struct Task {
    name: &'static str,
    obs_dim: usize,
    state_dim: usize,
    /// State indices holding angles (compared modulo 2π).
    angles: &'static [usize],
    generate: fn(&mut Pcg32, usize) -> Case,
    run: fn(&Case) -> Outcome,
    /// Whether Gymnasium's next state is within tolerance of a termination
    /// boundary, so `terminated` (and a reward that depends on it) may differ.
    near_boundary: fn(&[f64]) -> bool,
}

impl Task {
    fn label(&self, j: usize) -> String {
        match j {
            j if j < self.obs_dim => format!("obs[{j}]"),
            j if j == self.obs_dim => "reward".into(),
            j => format!("state[{}]", j - self.obs_dim - 1),
        }
    }

    fn is_angle(&self, j: usize) -> bool {
        j > self.obs_dim && self.angles.contains(&(j - self.obs_dim - 1))
    }

    fn next_state<'a>(&self, o: &'a Outcome) -> &'a [f64] {
        &o.out[self.obs_dim + 1..]
    }
}

fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

fn outcome<const O: usize>(step: fixpo_core::Step<O>, state: &[f32]) -> Outcome {
    let mut out = widen(&step.obs);
    out.push(step.reward as f64);
    out.extend(widen(state));
    Outcome {
        out,
        terminated: step.terminated,
    }
}

fn r(rng: &mut Pcg32, low: f32, high: f32) -> f32 {
    uniform_range(rng, low, high)
}

/// Scores for a discrete task; every tenth case is an all-equal tie.
fn scores(rng: &mut Pcg32, i: usize, n: usize) -> Vec<f32> {
    if i % 10 == 0 {
        vec![0.0; n]
    } else {
        (0..n).map(|_| r(rng, -1.0, 1.0)).collect()
    }
}

fn never(_: &[f64]) -> bool {
    false
}

fn cartpole_near_boundary(s: &[f64]) -> bool {
    let theta_max = 12.0 * 2.0 * PI / 360.0;
    (s[0].abs() - 2.4).abs() < tol(2.4) || (s[2].abs() - theta_max).abs() < tol(theta_max)
}

const TASKS: &[Task] = &[
    Task {
        name: "pendulum",
        obs_dim: 3,
        state_dim: 2,
        angles: &[0],
        // Angles beyond ±π exercise angle_normalize, speeds beyond ±8 and
        // torques beyond ±2 the clipping.
        generate: |rng, _| Case {
            state: vec![r(rng, -9.5, 9.5), r(rng, -9.0, 9.0)],
            action: vec![r(rng, -3.0, 3.0)],
        },
        run: |c| {
            let mut env = Pendulum::new();
            env.set_state([c.state[0], c.state[1]]);
            let step = env.step(&[c.action[0]]);
            outcome(step, &env.state())
        },
        near_boundary: never,
    },
    Task {
        name: "cartpole",
        obs_dim: 4,
        state_dim: 4,
        angles: &[],
        generate: |rng, i| Case {
            state: vec![
                r(rng, -2.6, 2.6),
                r(rng, -3.0, 3.0),
                r(rng, -0.25, 0.25),
                r(rng, -3.0, 3.0),
            ],
            action: scores(rng, i, 2),
        },
        run: |c| {
            let mut env = CartPole::new();
            env.set_state([c.state[0], c.state[1], c.state[2], c.state[3]]);
            let step = env.step(&[c.action[0], c.action[1]]);
            outcome(step, &env.state())
        },
        near_boundary: cartpole_near_boundary,
    },
    Task {
        name: "cartpole-continuous",
        obs_dim: 4,
        state_dim: 4,
        angles: &[],
        generate: |rng, _| Case {
            state: vec![
                r(rng, -2.6, 2.6),
                r(rng, -3.0, 3.0),
                r(rng, -0.25, 0.25),
                r(rng, -3.0, 3.0),
            ],
            action: vec![r(rng, -1.5, 1.5)],
        },
        run: |c| {
            let mut env = CartPoleContinuous::new();
            env.set_state([c.state[0], c.state[1], c.state[2], c.state[3]]);
            let step = env.step(&[c.action[0]]);
            outcome(step, &env.state())
        },
        near_boundary: cartpole_near_boundary,
    },
    Task {
        name: "mountaincar-continuous",
        obs_dim: 2,
        state_dim: 2,
        angles: &[],
        generate: |rng, _| Case {
            state: vec![r(rng, -1.2, 0.6), r(rng, -0.07, 0.07)],
            action: vec![r(rng, -1.5, 1.5)],
        },
        run: |c| {
            let mut env = MountainCarContinuous::new();
            env.set_state([c.state[0], c.state[1]]);
            let step = env.step(&[c.action[0]]);
            outcome(step, &env.state())
        },
        near_boundary: |s| {
            (s[0] >= 0.45 - tol(0.45) && s[1].abs() < ATOL)
                || ((s[0] - 0.45).abs() < tol(0.45) && s[1] >= -ATOL)
        },
    },
    Task {
        name: "acrobot",
        obs_dim: 6,
        state_dim: 4,
        angles: &[0, 1],
        generate: |rng, i| Case {
            state: vec![
                r(rng, -3.2, 3.2),
                r(rng, -3.2, 3.2),
                r(rng, -13.0, 13.0),
                r(rng, -29.0, 29.0),
            ],
            action: scores(rng, i, 3),
        },
        run: |c| {
            let mut env = Acrobot::new();
            env.set_state([c.state[0], c.state[1], c.state[2], c.state[3]]);
            let step = env.step(&[c.action[0], c.action[1], c.action[2]]);
            outcome(step, &env.state())
        },
        near_boundary: |s| {
            let height = -s[0].cos() - (s[0] + s[1]).cos();
            (height - 1.0).abs() < tol(1.0)
        },
    },
];

/// The venv's python, or `None` when the user asked to skip.
fn python() -> Option<PathBuf> {
    if std::env::var("FIXPO_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!("classic_conformance: skipped (FIXPO_SKIP_PYTHON=1)");
        return None;
    }
    let repo = repo_root();
    let venvs: Vec<PathBuf> = match std::env::var_os("FIXPO_VENV") {
        Some(v) => vec![PathBuf::from(v)],
        None => {
            let cache = std::env::var_os("FIXPO_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo.join(".cache/mujoco"));
            vec![repo.join(".cache/venv"), cache.join("venv")]
        }
    };
    let candidates: Vec<PathBuf> = venvs
        .iter()
        .flat_map(|v| [v.join("bin/python"), v.join("Scripts/python.exe")])
        .collect();
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => Some(p.clone()),
        None => panic!(
            "classic_conformance: no Gymnasium venv (looked for {}). \
             Run scripts/setup-venv.sh to create it, set FIXPO_VENV to an existing venv \
             with gymnasium=={GYMNASIUM_VERSION}, or set FIXPO_SKIP_PYTHON=1 to skip.",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fixpo-core sits inside the workspace")
        .to_path_buf()
}

/// `[a,b,...]` with every f32 written as its exact f64 value.
fn json_array(v: &[f32]) -> String {
    let items: Vec<String> = v.iter().map(|&x| format!("{:?}", x as f64)).collect();
    format!("[{}]", items.join(","))
}

fn reference(python: &Path, task: &Task, cases: &[Case]) -> Vec<Reference> {
    let body: Vec<String> = cases
        .iter()
        .map(|c| {
            format!(
                "{{\"state\":{},\"action\":{}}}",
                json_array(&c.state),
                json_array(&c.action)
            )
        })
        .collect();
    let request = format!(
        "{{\"task\":\"{}\",\"cases\":[{}]}}",
        task.name,
        body.join(",")
    );

    let script = repo_root().join("scripts/gym_classic_reference.py");
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(request.as_bytes())
        .expect("write request");
    let out = child.wait_with_output().expect("wait for python");
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");

    let mut lines = text.lines();
    let header = lines.next().expect("header line");
    let version = header.split_whitespace().nth(2).unwrap_or("?");
    assert_eq!(
        version, GYMNASIUM_VERSION,
        "the venv has gymnasium {version}; run scripts/setup-venv.sh ({header})"
    );
    let n = task.obs_dim + 1 + task.state_dim;
    let refs: Vec<Reference> = lines
        .map(|line| {
            let v: Vec<f64> = line
                .split_whitespace()
                .map(|f| {
                    f.parse()
                        .unwrap_or_else(|_| panic!("bad number {f:?} in {line:?}"))
                })
                .collect();
            assert_eq!(v.len(), 2 * n + 1, "{line}");
            // obs.. reward terminated state.. then the sensitivities.
            let mut out = v[..=task.obs_dim].to_vec();
            out.extend_from_slice(&v[task.obs_dim + 2..=n]);
            Reference {
                outcome: Outcome {
                    out,
                    terminated: v[task.obs_dim + 1] != 0.0,
                },
                sensitivity: v[n + 1..].to_vec(),
            }
        })
        .collect();
    assert_eq!(refs.len(), cases.len());
    refs
}

/// Error statistics of one task.
#[derive(Default)]
struct Stats {
    /// Largest |ours − gymnasium| over observation entries, rewards, states.
    max_obs: f64,
    max_reward: f64,
    max_state: f64,
    /// Largest error / (ATOL + RTOL·|ref|), the plain tolerance.
    plain_ratio: f64,
    /// Largest error / full tolerance (the pass criterion).
    ratio: f64,
    /// Outputs beyond the plain tolerance (passed by the conditioning term).
    ill_conditioned: usize,
    terminal: usize,
    at_boundary: usize,
}

fn check(task: &Task) {
    let Some(python) = python() else { return };
    let mut rng = Pcg32::seed_from_u64(0xC1A5_51C0);
    let cases: Vec<Case> = (0..CASES).map(|i| (task.generate)(&mut rng, i)).collect();
    let refs = reference(&python, task, &cases);

    let mut st = Stats::default();
    let mut failures = Vec::new();
    for (i, (case, r)) in cases.iter().zip(&refs).enumerate() {
        let got = (task.run)(case);
        let want = &r.outcome;
        let before = failures.len();
        let near = (task.near_boundary)(task.next_state(want));
        st.at_boundary += near as usize;
        st.terminal += want.terminated as usize;
        let flipped = got.terminated != want.terminated;
        if flipped && !near {
            failures.push(format!(
                "case {i}: terminated {} vs {}",
                got.terminated, want.terminated
            ));
        }
        for j in 0..want.out.len() {
            let is_reward = j == task.obs_dim;
            if is_reward && flipped && near {
                continue; // the reward follows `terminated`
            }
            let mut d = got.out[j] - want.out[j];
            if task.is_angle(j) {
                d = (d + PI).rem_euclid(TAU) - PI;
            }
            let d = d.abs();
            let plain = tol(want.out[j]);
            let full = plain + COND * r.sensitivity[j];
            let slot = match j {
                j if j < task.obs_dim => &mut st.max_obs,
                j if j == task.obs_dim => &mut st.max_reward,
                _ => &mut st.max_state,
            };
            *slot = slot.max(d);
            st.plain_ratio = st.plain_ratio.max(d / plain);
            st.ratio = st.ratio.max(d / full);
            st.ill_conditioned += (d > plain) as usize;
            if d.is_nan() || d > full {
                failures.push(format!(
                    "case {i}: {} {} vs {} (|Δ| {d:.2e}, tolerance {full:.2e})",
                    task.label(j),
                    got.out[j],
                    want.out[j]
                ));
            }
        }
        if failures.len() > before {
            failures.push(format!(
                "    (case {i}: state {:?}, action {:?})",
                case.state, case.action
            ));
        }
        if failures.len() > 20 {
            break;
        }
    }
    eprintln!(
        "{:<23} {CASES} cases, {} terminal, {} at a boundary | max |Δobs| {:.2e} \
         |Δreward| {:.2e} |Δstate| {:.2e} | worst err/(ATOL+RTOL·|ref|) {:.3} \
         ({} outputs beyond it) | worst err/tol {:.3}",
        task.name,
        st.terminal,
        st.at_boundary,
        st.max_obs,
        st.max_reward,
        st.max_state,
        st.plain_ratio,
        st.ill_conditioned,
        st.ratio,
    );
    assert!(
        failures.is_empty(),
        "{}: mismatches with Gymnasium (tolerance {ATOL:e} + {RTOL:e}·|ref| + {COND}·sensitivity):\n{}",
        task.name,
        failures.join("\n")
    );
}

fn task(name: &str) -> &'static Task {
    TASKS.iter().find(|t| t.name == name).expect("known task")
}

#[test]
fn pendulum_matches_gymnasium() {
    check(task("pendulum"));
}

#[test]
fn cartpole_matches_gymnasium() {
    check(task("cartpole"));
}

#[test]
fn cartpole_continuous_matches_gymnasium() {
    check(task("cartpole-continuous"));
}

#[test]
fn mountaincar_continuous_matches_gymnasium() {
    check(task("mountaincar-continuous"));
}

#[test]
fn acrobot_matches_gymnasium() {
    check(task("acrobot"));
}

/// The tasks here are the ones the CLI lists.
#[test]
fn covers_every_classic_task() {
    let mut listed: Vec<&str> = fixpo_core::envs::CLASSIC.iter().map(|i| i.name).collect();
    let mut tested: Vec<&str> = TASKS.iter().map(|t| t.name).collect();
    listed.sort_unstable();
    tested.sort_unstable();
    assert_eq!(listed, tested);
    for t in TASKS {
        let info = fixpo_core::envs::find(t.name).expect("listed");
        assert_eq!(info.obs_dim, t.obs_dim, "{}", t.name);
    }
}
