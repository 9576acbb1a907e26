//! Unit tests of the MuJoCo tasks that need the MJCF files but not Python.

use super::sim::load_model;
use super::*;
use crate::tasks::EnvState;
use fixpo_core::env::ActionSpace;
use fixpo_core::rng::{self, Pcg32};
use std::path::Path;

fn load<const O: usize, const A: usize, T: MujocoTask<O, A>>() -> T {
    T::load().unwrap_or_else(|e| panic!("{e}"))
}

fn random_action<const A: usize>(rng: &mut Pcg32) -> [f32; A] {
    core::array::from_fn(|_| rng::uniform_range(rng, -1.0, 1.0))
}

/// Sizes, reset, the time limit, clones and snapshots: what every task shares.
fn common<const O: usize, const A: usize, T: MujocoTask<O, A> + Task<O, A>>() {
    let mut env: T = load();
    let name = T::INFO.name;
    assert_eq!((T::INFO.obs_dim, T::INFO.act_dim), (O, A), "{name}");
    let ActionSpace::Continuous { low, high } = env.action_space() else {
        panic!("{name}: discrete")
    };
    let ActionKind::Continuous { low: l, high: h } = T::INFO.action else {
        panic!("{name}")
    };
    assert!(
        low.iter().all(|&x| x == l) && high.iter().all(|&x| x == h),
        "{name}: {low:?} {high:?}"
    );

    // Reset: finite, seeded, and the f32 observation is the f64 one cast.
    let mut rng = Pcg32::seed_from_u64(11);
    let obs = env.reset(&mut rng);
    assert!(obs.iter().all(|x| x.is_finite()), "{name}");
    assert_eq!(obs, env.obs_f64().map(|x| x as f32), "{name}");
    assert_eq!(env.sim().elapsed_steps(), 0);
    let mut again: T = load();
    assert_eq!(
        again.reset(&mut Pcg32::seed_from_u64(11)),
        obs,
        "{name}: reset is seeded"
    );
    assert_ne!(again.reset(&mut rng), obs, "{name}: reset is random");

    // Time limit: no termination possible, so truncated exactly at the limit.
    let limit = T::INFO.max_episode_steps;
    assert_eq!(env.option("max_episode_steps"), Some(f64::from(limit)));
    if env.option("terminate_when_unhealthy").is_some() {
        env.set_option("terminate_when_unhealthy", 0.0).unwrap();
    }
    let can_terminate = matches!(name, "inverted-pendulum" | "inverted-double-pendulum");
    if can_terminate {
        env.set_option("max_episode_steps", 3.0).unwrap();
    }
    let limit = env.option("max_episode_steps").unwrap() as u32;
    env.reset(&mut rng);
    for t in 1..=limit {
        let s = env.step(&random_action(&mut rng));
        assert!(!s.terminated, "{name} terminated at {t}");
        assert_eq!(s.truncated, t == limit, "{name} step {t}");
        assert!(
            s.obs.iter().all(|x| x.is_finite()) && s.reward.is_finite(),
            "{name}"
        );
    }

    // Clones are independent copies on the same model.
    let mut env: T = load();
    env.reset(&mut rng);
    let a = random_action(&mut rng);
    let mut copy = env.clone();
    let (s1, s2) = (env.step(&a), copy.step(&a));
    assert_eq!(s1, s2, "{name}: clone steps identically");
    copy.step(&a);
    assert_ne!(
        env.sim().qpos(),
        copy.sim().qpos(),
        "{name}: clone is independent"
    );

    // Snapshot and restore continue the episode exactly.
    let mut env: T = load();
    env.reset(&mut rng);
    for _ in 0..7 {
        env.step(&random_action(&mut rng));
    }
    let saved = env.snapshot();
    assert_eq!(saved.elapsed_steps, 7);
    let mut other: T = load();
    other.reset(&mut Pcg32::seed_from_u64(99));
    other.restore(&saved).unwrap();
    assert_eq!(other.snapshot(), saved, "{name}");
    for _ in 0..40 {
        let a = random_action(&mut rng);
        let (x, y) = (
            env.step_f64(&a.map(f64::from)),
            other.step_f64(&a.map(f64::from)),
        );
        assert_eq!(x, y, "{name}: restored task diverges");
        if x.terminated || x.truncated {
            break;
        }
    }
    let bad = EnvState {
        state: vec![0.0; 4],
        elapsed_steps: 0,
    };
    assert!(other.restore(&bad).is_err());

    // Options: every name readable and settable to its value; errors name the task.
    for key in T::option_names() {
        let v = env.option(key).unwrap();
        env.set_option(key, v).unwrap();
    }
    let e = env
        .set_option("no_such_option", 1.0)
        .unwrap_err()
        .to_string();
    assert!(e.contains(name) && e.contains("max_episode_steps"), "{e}");
    assert!(env.set_option("max_episode_steps", 0.5).is_err());
    assert!(env.set_option("frame_skip", f64::NAN).is_err());
    let dt = env.sim().dt();
    env.set_option("frame_skip", 2.0 * env.option("frame_skip").unwrap())
        .unwrap();
    assert_eq!(env.sim().dt(), 2.0 * dt);
}

/// Starts `env` at its initial state with `(qpos, qvel)` edited by `f`.
fn start_at<const O: usize, const A: usize, T: MujocoTask<O, A>>(
    env: &mut T,
    f: impl FnOnce(&mut [f64], &mut [f64]),
) {
    let mut q = env.sim().init_qpos().to_vec();
    let mut v = vec![0.0; env.sim().qvel().len()];
    f(&mut q, &mut v);
    env.set_state(&q, &v).unwrap();
}

#[test]
fn hopper() {
    common::<11, 3, Hopper>();
    let mut env: Hopper = load();
    start_at(&mut env, |_, _| {});
    let s = env.step_f64(&[0.0; 3]);
    assert!(!s.terminated && s.reward > 0.5, "{s:?}");
    start_at(&mut env, |q, _| q[1] = 0.5); // torso too low
    let s = env.step_f64(&[0.0; 3]);
    assert!(
        s.terminated && s.reward.abs() < 0.5,
        "healthy reward is 0 on the terminating step: {s:?}"
    );
    start_at(&mut env, |_, v| v[2] = 150.0); // spinning far beyond the healthy state range
    assert!(env.step_f64(&[0.0; 3]).terminated);
    assert!(Hopper::option_names().contains(&"healthy_angle_max"));
    assert!(
        env.set_option("healthy_angle_min", 1.0).is_err(),
        "min above max"
    );
}

#[test]
fn walker2d() {
    common::<17, 6, Walker2d>();
    let mut env: Walker2d = load();
    start_at(&mut env, |_, _| {});
    assert!(!env.step_f64(&[0.0; 6]).terminated);
    start_at(&mut env, |q, _| q[2] = 1.5); // torso tilted beyond 1 rad
    let s = env.step_f64(&[0.0; 6]);
    assert!(s.terminated && s.reward.abs() < 0.5, "{s:?}");
    env.set_option("terminate_when_unhealthy", 0.0).unwrap();
    start_at(&mut env, |q, _| q[1] = 0.3);
    assert!(!env.step_f64(&[0.0; 6]).terminated);
}

#[test]
fn halfcheetah() {
    common::<17, 6, HalfCheetah>();
    let mut env: HalfCheetah = load();
    start_at(&mut env, |q, _| q[2] = 3.0); // upside down: still not terminal
    let s = env.step_f64(&[1.0; 6]);
    assert!(!s.terminated);
    // ctrl cost 0.1 · 6 with no motion from rest would be −0.6; the reward includes it.
    assert!(s.reward < 0.0 || s.obs[8] > 0.0, "{s:?}");
}

#[test]
fn swimmer() {
    common::<8, 2, Swimmer>();
    let mut env: Swimmer = load();
    start_at(&mut env, |_, _| {});
    let s = env.step_f64(&[0.0; 2]);
    assert_eq!(s.reward, 0.0, "at rest, no action: no reward");
}

#[test]
fn inverted_pendulum() {
    common::<4, 1, InvertedPendulum>();
    let mut env: InvertedPendulum = load();
    start_at(&mut env, |_, _| {});
    let s = env.step_f64(&[0.0]);
    assert_eq!((s.reward, s.terminated), (1.0, false));
    start_at(&mut env, |q, _| q[1] = 0.5);
    let s = env.step_f64(&[0.0]);
    assert_eq!((s.reward, s.terminated), (0.0, true));
}

#[test]
fn inverted_double_pendulum() {
    common::<9, 1, InvertedDoublePendulum>();
    let mut env: InvertedDoublePendulum = load();
    start_at(&mut env, |_, _| {});
    let s = env.step_f64(&[0.0]);
    assert!(!s.terminated && s.reward > 9.0, "{s:?}");
    start_at(&mut env, |q, _| q[1] = 1.5); // lower pole nearly horizontal: tip below y = 1
    let s = env.step_f64(&[0.0]);
    assert!(s.terminated && s.reward < 0.0, "{s:?}");
}

#[test]
fn reacher() {
    common::<10, 2, Reacher>();
    let mut env: Reacher = load();
    let mut rng = Pcg32::seed_from_u64(4);
    for _ in 0..200 {
        env.reset(&mut rng);
        let (q, v) = (env.sim().qpos(), env.sim().qvel());
        assert!(q[2].hypot(q[3]) < 0.2 && v[2] == 0.0 && v[3] == 0.0);
        assert!(q[0].abs() <= 0.1 && v[0].abs() <= 0.005);
    }
    let s = env.step_f64(&[0.0; 2]);
    assert!(s.reward < 0.0 && s.reward > -0.5, "{s:?}");
}

#[test]
fn ant() {
    common::<105, 8, Ant>();
    let mut env: Ant = load();
    start_at(&mut env, |_, _| {});
    let s = env.step_f64(&[0.0; 8]);
    assert!(!s.terminated, "{s:?}");
    start_at(&mut env, |q, _| q[2] = 1.5); // torso above healthy_z_max
    let s = env.step_f64(&[0.0; 8]);
    assert!(s.terminated && s.reward < 0.5, "{s:?}");
    assert!(env.set_option("main_body", 14.0).is_err());
}

#[test]
fn missing_model_names_the_setup_script() {
    let e = load_model(Path::new("/nonexistent/hopper.xml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("scripts/setup-mujoco.sh"), "{e}");
}

#[test]
fn host_visitor_sees_every_task() {
    use crate::tasks::{TaskSpec, TaskVisitor};
    struct V;
    impl TaskVisitor for V {
        type Out = (usize, usize, &'static str, u32);
        fn visit<const O: usize, const A: usize, E: Task<O, A>>(
            self,
            spec: TaskSpec<E>,
        ) -> Self::Out {
            let mut env = spec.env.clone();
            env.reset(&mut Pcg32::seed_from_u64(1));
            let s = env.step(&[0.0; A]);
            assert!(s.obs.iter().all(|x| x.is_finite()));
            assert_eq!(spec.kind, PolicyKind::Gaussian);
            (O, A, spec.info.name, env.snapshot().elapsed_steps)
        }
    }
    for info in TASKS {
        let (o, a, name, n) = visit_task(info.name, V).unwrap();
        assert_eq!((o, a, name, n), (info.obs_dim, info.act_dim, info.name, 1));
    }
    assert!(visit_task("cartpole", V).is_err());
}
