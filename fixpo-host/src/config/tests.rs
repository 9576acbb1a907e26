//! Configuration parsing and checking.
use super::*;

#[test]
fn presets_are_valid_and_roundtrip() {
    for t in tasks::TASKS {
        let c = RunConfig::preset(t.info.name).unwrap();
        c.validate().unwrap();
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
    }
    let mut c = RunConfig::preset("pendulum").unwrap();
    c.target_return = Some(-200.0);
    assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
}

#[test]
fn task_options_are_checked_and_roundtrip() {
    let e = RunConfig::resolve(Some("pendulum"), None, &["env.g=9".into()]).unwrap_err();
    assert!(e.to_string().contains("env.g"), "{e}");
    #[cfg(feature = "mujoco")]
    {
        for info in crate::mujoco::TASKS {
            let c = RunConfig::preset(info.name).unwrap();
            c.validate().unwrap();
            assert_eq!((c.hidden, c.batch_size(), c.update.c_beta), (64, 8192, 3.0));
            assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
        }
        let c = RunConfig::resolve(
            Some("hopper"),
            None,
            &[
                "env.forward_reward_weight=2".into(),
                "env.max_episode_steps=500".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.env_options.get("forward_reward_weight"), Some(&2.0));
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
        let e = RunConfig::resolve(Some("hopper"), None, &["env.nope=1".into()]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("nope") && msg.contains("forward_reward_weight"),
            "{msg}"
        );
    }
    #[cfg(not(feature = "mujoco"))]
    {
        let e = RunConfig::resolve(Some("hopper"), None, &[]).unwrap_err();
        assert!(matches!(e, HostError::NeedsFeature { .. }), "{e}");
    }
}

#[test]
fn overrides_apply_in_order() {
    let file = "lr = 0.002\nepochs = 4\n";
    let sets = [
        "epochs=5".to_owned(),
        "algo=ppo-clip".to_owned(),
        "target_return=-150".to_owned(),
    ];
    let c = RunConfig::resolve(Some("pendulum"), Some(file), &sets).unwrap();
    assert_eq!(
        (c.update.lr, c.update.epochs, c.update.algo),
        (0.002, 5, Algo::PpoClip)
    );
    assert_eq!(c.target_return, Some(-150.0));
    let from_file = RunConfig::resolve(None, Some("env = \"cartpole\""), &[]).unwrap();
    assert_eq!(from_file.env, "cartpole");
}

#[test]
fn bad_input_gives_one_line_errors() {
    let e = RunConfig::resolve(Some("pendulum"), None, &["lrr=1".into()]).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, HostError::UnknownKey { .. }), "{msg}");
    assert!(msg.contains("lrr") && msg.contains("eps_kl"), "{msg}");
    for (set, key) in [
        ("lr=abc", "lr"),
        ("eps_kl=-1", "eps_kl"),
        ("hidden=48", "hidden"),
        ("algo=trpo", "algo"),
        ("epochs=1.5", "epochs"),
        ("envs_per_worker=3", "envs_per_worker"),
    ] {
        let e = RunConfig::resolve(Some("pendulum"), None, &[set.into()]).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, HostError::BadConfig { .. }), "{set}: {msg}");
        assert!(msg.contains(key), "{set}: {msg}");
        assert!(!msg.contains('\n'), "{set}: {msg}");
    }
    let e = RunConfig::resolve(Some("nope"), None, &[]).unwrap_err();
    assert!(matches!(e, HostError::UnknownTask { .. }));
    let e = RunConfig::resolve(Some("pendulum"), Some("lr = [1"), &[]).unwrap_err();
    assert!(!e.to_string().contains('\n'), "{e}");
    // Enum values name the key and list the valid names, which come
    // from the enums.
    for (set, key, valid) in [
        ("fixup_schedule=later", "fixup_schedule", "every-epoch, end"),
        (
            "reward_norm=z",
            "reward_norm",
            "off, reward-scale, value-targets",
        ),
        (
            "algo=trpo",
            "algo",
            "fixpo, fixpo-nofixup, ppo-clip, kl-penalty",
        ),
    ] {
        let e = RunConfig::resolve(Some("pendulum"), None, &[set.into()]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(key) && msg.contains(valid), "{set}: {msg}");
    }
    // A nested table's keys, and unknown ones.
    let e = RunConfig::resolve(Some("pendulum"), None, &["adam.beta3=1".into()]).unwrap_err();
    assert!(matches!(e, HostError::UnknownKey { .. }), "{e}");
    let e = RunConfig::resolve(Some("pendulum"), Some("nope = 1"), &[]).unwrap_err();
    assert!(matches!(e, HostError::UnknownKey { .. }) && e.to_string().contains("nope"));
    let e = RunConfig::from_toml("env = \"pendulum\"\nnope = 1").unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn core_settings_are_nested_and_need_no_host_edit() {
    // Every field of the core's configurations is a key, by the name
    // the core gives it.
    let keys = RunConfig::keys();
    let core = toml::Table::try_from(Config::REFERENCE).unwrap();
    let collect = toml::Table::try_from(CollectConfig::REFERENCE).unwrap();
    for (k, v) in core.iter().chain(collect.iter()) {
        match v {
            toml::Value::Table(t) => {
                for s in t.keys() {
                    assert!(keys.contains(&format!("{k}.{s}")), "{k}.{s}");
                }
            }
            _ => assert!(keys.contains(k), "{k}"),
        }
    }
    let c = RunConfig::resolve(
        Some("pendulum"),
        Some("[adam]\neps = 1e-7\n"),
        &[
            "adam.beta2=0.99".into(),
            "fixup_schedule=end".into(),
            "reward_norm=value-targets".into(),
        ],
    )
    .unwrap();
    assert_eq!((c.update.adam.eps, c.update.adam.beta2), (1e-7, 0.99));
    assert_eq!(c.update.fixup_schedule, FixupSchedule::End);
    assert_eq!(c.collect.reward_norm, RewardNorm::ValueTargets);
    assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
    // A file written before `adam` was a key still reads.
    let mut t = c.table();
    t.remove("adam");
    let old = RunConfig::from_toml(&toml::to_string(&t).unwrap()).unwrap();
    assert_eq!(old.update.adam, Config::REFERENCE.adam);
}
