//! The registry's tests.
use super::*;

struct Roundtrip;
impl TaskVisitor for Roundtrip {
    type Out = ();
    fn visit<const O: usize, const A: usize, E: Task<O, A>>(self, spec: TaskSpec<E>) {
        assert_eq!((spec.info.obs_dim, spec.info.act_dim), (O, A));
        let mut rng = Pcg32::seed_from_u64(5);
        let mut a = spec.env.clone();
        a.reset(&mut rng);
        let action: [f32; A] = core::array::from_fn(|i| if i == 0 { 0.7 } else { 0.1 });
        // As collection does: a finished episode is reset before the
        // next step, so a snapshot never sees a task past its end.
        for _ in 0..37 {
            let s = a.step(&action);
            if s.terminated || s.truncated {
                a.reset(&mut rng);
            }
        }
        let saved = a.snapshot();
        let mut b = spec.env.clone();
        b.restore(&saved).unwrap();
        assert_eq!(b.snapshot(), saved);
        for _ in 0..600 {
            let (sa, sb) = (a.step(&action), b.step(&action));
            assert_eq!(sa, sb, "{}", spec.info.name);
            if sa.terminated || sa.truncated {
                break;
            }
        }
        let bad = EnvState {
            state: vec![0.0; 9],
            elapsed_steps: 0,
        };
        assert!(b.restore(&bad).is_err());
    }
}

#[test]
fn every_task_restores_exactly() {
    for t in TASKS {
        visit_task(t.info.name, Roundtrip).unwrap();
    }
}

struct Dims2;
impl HiddenVisitor for Dims2 {
    type Out = usize;
    fn visit<const H: usize>(self) -> usize {
        H
    }
}

/// What dispatch hands a visitor.
struct Dims;
impl TaskVisitor for Dims {
    type Out = (usize, usize, PolicyKind, &'static str);
    fn visit<const O: usize, const A: usize, E: Task<O, A>>(self, spec: TaskSpec<E>) -> Self::Out {
        (O, A, spec.kind, spec.info.name)
    }
}

#[test]
fn every_registry_entry_goes_through_every_lookup() {
    let listing = all_tasks();
    assert_eq!(listing.len(), TASKS.len());
    assert!(TASKS.iter().any(|t| t.info.name == "dummy"));
    for (i, t) in TASKS.iter().enumerate() {
        let name = t.info.name;
        assert!(std::ptr::eq(listing[i], t.info), "{name}: listing order");
        assert!(task_names().split(", ").any(|n| n == name), "{name}");
        assert!(
            TASKS.iter().filter(|u| u.is(name)).count() == 1,
            "{name} is ambiguous"
        );
        // Name and Gymnasium id lead to the same row.
        assert!(std::ptr::eq(entry(name).unwrap(), t), "{name}");
        assert_eq!(task_info(name).unwrap(), t.info);
        if let Some(id) = t.gym_id {
            assert!(std::ptr::eq(entry(id).unwrap(), t), "{id}");
            assert!(same_task(name, id));
        }
        assert_eq!(
            is_mujoco_name(name),
            MUJOCO_NAMES.iter().any(|m| m.0 == name)
        );
        // Dispatch: the const dimensions are the listing's.
        let (o, a, kind, visited) = visit_task(name, Dims).unwrap();
        assert_eq!(
            (o, a, kind, visited),
            (t.info.obs_dim, t.info.act_dim, t.kind(), name)
        );
        // Options: the registry's list is what the checks accept.
        assert_eq!(option_names(name), (t.options)());
        for k in (t.options)() {
            check_options(name, &[((*k).to_owned(), 0.0)]).unwrap();
        }
        let e = visit_task_with(name, &[("no_such_option".into(), 1.0)], Dims).unwrap_err();
        assert!(e.to_string().contains("env.no_such_option"), "{e}");
        // The preset is valid and survives a round trip through TOML.
        let c = RunConfig::preset(name).unwrap();
        assert_eq!(c.env, name);
        c.validate().unwrap();
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
    }
    #[cfg(feature = "mujoco")]
    for (name, id) in MUJOCO_NAMES {
        let t = entry(name).unwrap();
        assert_eq!((t.info.name, t.gym_id), (*name, Some(*id)));
    }
    #[cfg(not(feature = "mujoco"))]
    for (name, id) in MUJOCO_NAMES {
        for n in [name, id] {
            assert!(
                matches!(entry(n), Err(HostError::NeedsFeature { .. })),
                "{n}"
            );
        }
    }
}

#[test]
fn the_dummy_task_trains_and_evaluates_end_to_end() {
    use crate::train::{Silent, TrainOptions, train};
    let dir = tempfile::tempdir().unwrap();
    let cfg = RunConfig::resolve(
        Some("Dummy-v0"),
        None,
        &[
            "total_steps=512".into(),
            "num_envs=2".into(),
            "steps_per_env=128".into(),
            "minibatch=64".into(),
            "fixup_minibatch=256".into(),
            "hidden=32".into(),
            "eval_episodes=2".into(),
        ],
    )
    .unwrap();
    assert_eq!(cfg.env, "dummy");
    let mut opts = TrainOptions::new(cfg, Some(dir.path().to_owned()));
    opts.plot = false;
    let s = train(&opts, &mut Silent).unwrap();
    assert_eq!((s.iters, s.env_steps, s.kl_violations), (2, 512, 0));
    let policy = dir.path().join(crate::io::POLICY_FILE);
    let r = crate::policy::eval_file(&policy, "dummy", &[], 3, 0).unwrap();
    assert_eq!(r.deterministic.returns.len(), 3);
    assert!(
        crate::policy::inspect(&policy)
            .unwrap()
            .fits_tasks
            .contains(&"dummy")
    );
}

#[test]
fn unknown_names_and_sizes_are_refused() {
    let e = visit_hidden(16, Dims2).unwrap_err().to_string();
    assert!(e.contains(&hidden_names()), "{e}");
    let e = visit_task("hoppr", Roundtrip).unwrap_err().to_string();
    assert!(e.contains("hoppr") && e.contains("pendulum"), "{e}");
    #[cfg(feature = "mujoco")]
    assert!(e.contains("hopper"), "{e}");
    #[cfg(not(feature = "mujoco"))]
    {
        let e = visit_task("hopper", Roundtrip).unwrap_err();
        assert!(matches!(e, HostError::NeedsFeature { .. }), "{e}");
        let e = e.to_string();
        assert!(e.contains("--features mujoco") && !e.contains('\n'), "{e}");
    }
    let e = visit_task_with("pendulum", &[("g".into(), 9.0)], Roundtrip)
        .unwrap_err()
        .to_string();
    assert!(e.contains("env.g") && e.contains("no options"), "{e}");
    struct H;
    impl HiddenVisitor for H {
        type Out = usize;
        fn visit<const H: usize>(self) -> usize {
            H
        }
    }
    assert_eq!(visit_hidden(64, H).unwrap(), 64);
    let e = visit_hidden(48, H).unwrap_err().to_string();
    assert!(e.contains("48") && e.contains("32, 64, 128"), "{e}");
}
