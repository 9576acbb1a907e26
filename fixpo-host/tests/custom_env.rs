//! The custom-environment example end to end: a user struct trained
//! through the public `Learner`, its policy file accepted by `fixpo eval`
//! and `fixpo inspect` and decoded as the firmware decodes it.

#[path = "../examples/custom_env.rs"]
mod example;

use std::process::Command;

#[test]
fn a_user_environment_trains_into_a_file_the_cli_and_firmware_accept() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("servo");
    let last = example::train_servo(run.clone(), 4096, true).unwrap();
    assert!(last.is_some_and(f32::is_finite), "{last:?}");
    let policy = run.join("policy.fxp");
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    assert!(
        std::fs::read_to_string(run.join("config.toml"))
            .unwrap()
            .contains("env = \"servo\"")
    );

    let file = policy.to_str().unwrap();
    let report = fixpo(&["eval", file, "--env", "pendulum", "--episodes", "2"]);
    assert_eq!(report["env"], "pendulum");
    let info = fixpo(&["inspect", "--json", file]);
    // Without --env the run's own task is not built in: a one-line error.
    let out = Command::new(env!("CARGO_BIN_EXE_fixpo"))
        .args(["eval", file])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("servo") && err.contains("--env"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        (
            info["obs"].as_u64(),
            info["hid"].as_u64(),
            info["act"].as_u64()
        ),
        (Some(3), Some(32), Some(1))
    );
    assert!(
        info["fits_tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "pendulum")
    );

    // The firmware's decoder (fixpo-core, no_std) reads it.
    let bytes = std::fs::read(&policy).unwrap();
    let actor: fixpo_core::Actor<3, 32, 1> = fixpo_core::file::decode(&bytes).unwrap();
    let a = actor.act(&[1.0, 0.0, 0.0]);
    assert!(a[0].is_finite() && (-2.0..=2.0).contains(&a[0]));
}

/// Runs the `fixpo` binary, checks that it succeeds and parses its JSON.
fn fixpo(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_fixpo"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
