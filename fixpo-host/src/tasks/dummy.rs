//! A task that exists only in the tests: proof that adding a task takes
//! this file and one registry line.

use super::{Builtin, EnvState, Task, check_options};
use crate::error::{HostError, Result};
use fixpo_core::env::{ActionSpace, Env, Step};
use fixpo_core::envs::{ActionKind, EnvInfo};
use rand_core::RngCore;

/// A point on a line, pushed towards 0 by a force in [−1, 1].
#[derive(Clone, Debug, Default)]
pub struct Dummy {
    x: f32,
    steps: u32,
}

impl Builtin for Dummy {
    const INFO: EnvInfo = EnvInfo {
        name: "dummy",
        obs_dim: 2,
        act_dim: 1,
        action: ActionKind::Continuous {
            low: -1.0,
            high: 1.0,
        },
        max_episode_steps: 20,
        description: "test-only: push a point to the origin",
    };
    const GYM_ID: Option<&'static str> = Some("Dummy-v0");

    fn option_names() -> &'static [&'static str] {
        &[]
    }

    fn build(options: &[(String, f64)]) -> Result<Self> {
        check_options(Self::INFO.name, options)?;
        Ok(Self::default())
    }
}

impl Env<2, 1> for Dummy {
    fn action_space(&self) -> ActionSpace<1> {
        ActionSpace::Continuous {
            low: [-1.0],
            high: [1.0],
        }
    }

    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 2] {
        self.x = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0;
        self.steps = 0;
        [self.x, 0.0]
    }

    fn step(&mut self, action: &[f32; 1]) -> Step<2> {
        self.x += 0.1 * action[0];
        self.steps += 1;
        Step {
            obs: [self.x, self.steps as f32 / 20.0],
            reward: -self.x.abs(),
            terminated: false,
            truncated: self.steps >= Self::INFO.max_episode_steps,
        }
    }
}

impl Task<2, 1> for Dummy {
    fn snapshot(&self) -> EnvState {
        EnvState {
            state: vec![self.x],
            elapsed_steps: self.steps,
        }
    }

    fn restore(&mut self, s: &EnvState) -> Result<()> {
        match s.state.as_slice() {
            [x] => {
                self.x = *x;
                self.steps = s.elapsed_steps;
                Ok(())
            }
            _ => Err(HostError::bad(
                "checkpoint",
                "the dummy's state is one number",
            )),
        }
    }
}
