//! Train FixPO on your own environment: a struct that implements
//! `fixpo_core::Env`, the public `fixpo_host::Learner`, and a policy file
//! that `fixpo eval`, `fixpo inspect` and the firmware load.
//!
//! ```sh
//! cargo run --release --example custom_env -p fixpo-host -- runs/servo
//! fixpo inspect runs/servo/policy.fxp
//! fixpo eval runs/servo/policy.fxp --env pendulum   # any task of the same shape
//! ```
//!
//! The environment is a position servo: a DC motor with a load, driven by
//! a voltage, that must hold its shaft at a target angle. It observes
//! (cos e, sin e, ω) for the angle error e and the speed ω, and acts with
//! one voltage in [−2, 2]: the same shape as the firmware's controller
//! (3 observations, 1 action), so the file runs on the microcontroller.

use fixpo_core::env::{ActionSpace, Env, Step};
use fixpo_host::Learner;
use fixpo_host::config::RunConfig;
use fixpo_host::progress::Progress;
use fixpo_host::train::RunDir;
use rand_core::RngCore;
use std::path::PathBuf;

/// A DC motor with inertia, viscous friction and a torque constant,
/// stepped at 50 Hz.
#[derive(Clone, Debug)]
pub struct Servo {
    angle: f32,
    speed: f32,
    steps: u32,
}

impl Servo {
    /// Time step (s).
    const DT: f32 = 0.02;
    /// Torque per volt over inertia (rad/s² per V).
    const GAIN: f32 = 30.0;
    /// Viscous friction over inertia (1/s).
    const FRICTION: f32 = 2.0;
    /// Episode length.
    const STEPS: u32 = 200;

    /// A servo at rest (reset draws a start).
    pub fn new() -> Self {
        Self {
            angle: 0.0,
            speed: 0.0,
            steps: 0,
        }
    }

    fn obs(&self) -> [f32; 3] {
        [self.angle.cos(), self.angle.sin(), self.speed]
    }
}

impl Default for Servo {
    fn default() -> Self {
        Self::new()
    }
}

impl Env<3, 1> for Servo {
    fn action_space(&self) -> ActionSpace<1> {
        ActionSpace::Continuous {
            low: [-2.0],
            high: [2.0],
        }
    }

    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 3] {
        let uniform = |rng: &mut R| (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32;
        self.angle = (uniform(rng) * 2.0 - 1.0) * std::f32::consts::PI;
        self.speed = uniform(rng) * 2.0 - 1.0;
        self.steps = 0;
        self.obs()
    }

    fn step(&mut self, action: &[f32; 1]) -> Step<3> {
        let volts = action[0].clamp(-2.0, 2.0);
        let accel = Self::GAIN * volts - Self::FRICTION * self.speed;
        self.speed += accel * Self::DT;
        self.angle += self.speed * Self::DT;
        self.angle = (self.angle + std::f32::consts::PI).rem_euclid(std::f32::consts::TAU)
            - std::f32::consts::PI;
        self.steps += 1;
        Step {
            obs: self.obs(),
            reward: -(self.angle * self.angle
                + 0.01 * self.speed * self.speed
                + 0.01 * volts * volts),
            terminated: false,
            truncated: self.steps >= Self::STEPS,
        }
    }
}

/// Trains the servo for `steps` environment steps into `dir` (the same
/// files as `fixpo train`: policy.fxp, metrics.jsonl, config.toml, a
/// curve) and returns the last evaluation's mean return.
pub fn train_servo(dir: PathBuf, steps: u64, quiet: bool) -> fixpo_host::Result<Option<f32>> {
    // Start from the Pendulum preset: same shape, similar time scale.
    let mut cfg = RunConfig::preset("pendulum")?;
    cfg.env = "servo".into();
    cfg.total_steps = steps;
    let mut learner = Learner::<_, 3, 32, 1>::new(Servo::new, cfg)?;
    RunDir::prepare(&dir, false, true)?;
    let mut progress = Progress::new(quiet);
    let summary = learner.run(&mut RunDir::new(dir, false, true, &mut progress))?;
    progress.finish();
    Ok(summary.last_eval)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("runs/servo"), PathBuf::from);
    let last = train_servo(dir.clone(), 60_000, false)?;
    println!(
        "servo: last evaluation {}; try `fixpo inspect {}`",
        last.map_or_else(|| "-".into(), |r| format!("{r:.1}")),
        dir.join("policy.fxp").display()
    );
    Ok(())
}
