//! Generalised advantage estimation, GAE(λ), with terminations and
//! truncations kept apart: a terminated episode bootstraps nothing, a
//! truncated one bootstraps from the value of its last observation.

/// One step of a trajectory, as GAE needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GaeStep {
    /// Reward received.
    pub reward: f32,
    /// V(s) of the state the step started from.
    pub value: f32,
    /// V(s') of the state the step reached (for a truncated episode, the
    /// value of its final observation; ignored when `terminated`).
    pub next_value: f32,
    /// The step reached a terminal state.
    pub terminated: bool,
    /// The episode ended at this step (terminated or truncated); the
    /// recursion does not carry advantages across it.
    pub done: bool,
}

/// Why advantages could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum GaeError {
    /// The output slices are not as long as the trajectory.
    LengthMismatch,
    /// A reward or value is NaN or infinite.
    NonFinite,
}

impl core::fmt::Display for GaeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::LengthMismatch => {
                f.write_str("advantage and return buffers differ in length from the trajectory")
            }
            Self::NonFinite => f.write_str("a reward or value is not finite"),
        }
    }
}

impl core::error::Error for GaeError {}

/// Computes advantages and returns (`advantage + value`) for one
/// environment's consecutive steps, oldest first. The last step's
/// `next_value` bootstraps an unfinished episode.
///
/// # Errors
/// [`GaeError::LengthMismatch`] if `adv` or `ret` differ in length from
/// `steps`; [`GaeError::NonFinite`] if any input is NaN or infinite (outputs
/// untouched).
pub fn gae(
    steps: &[GaeStep],
    gamma: f32,
    lambda: f32,
    adv: &mut [f32],
    ret: &mut [f32],
) -> Result<(), GaeError> {
    if adv.len() != steps.len() || ret.len() != steps.len() {
        return Err(GaeError::LengthMismatch);
    }
    gae_with(steps, gamma, lambda, |i, a, r| {
        adv[i] = a;
        ret[i] = r;
    })
}

/// Like [`gae`], handing each step's `(index, advantage, return)` to `write`
/// (newest first) instead of filling slices.
///
/// # Errors
/// [`GaeError::NonFinite`] if any input is NaN or infinite (`write` is then
/// never called).
pub fn gae_with(
    steps: &[GaeStep],
    gamma: f32,
    lambda: f32,
    mut write: impl FnMut(usize, f32, f32),
) -> Result<(), GaeError> {
    if steps.iter().any(|s| {
        !(s.reward.is_finite() && s.value.is_finite() && (s.terminated || s.next_value.is_finite()))
    }) {
        return Err(GaeError::NonFinite);
    }
    let mut next_adv = 0.0f32;
    for i in (0..steps.len()).rev() {
        let s = &steps[i];
        let bootstrap = if s.terminated {
            0.0
        } else {
            gamma * s.next_value
        };
        let delta = s.reward + bootstrap - s.value;
        let carry = if s.done {
            0.0
        } else {
            gamma * lambda * next_adv
        };
        next_adv = delta + carry;
        write(i, next_adv, next_adv + s.value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct definition: Â_t = Σ_k (γλ)^k δ_{t+k} within the episode.
    fn reference(steps: &[GaeStep], gamma: f64, lambda: f64) -> [f64; 16] {
        let mut out = [0.0; 16];
        for t in 0..steps.len() {
            let mut acc = 0.0;
            let mut w = 1.0;
            for s in &steps[t..] {
                let boot = if s.terminated {
                    0.0
                } else {
                    gamma * s.next_value as f64
                };
                acc += w * (s.reward as f64 + boot - s.value as f64);
                if s.done {
                    break;
                }
                w *= gamma * lambda;
            }
            out[t] = acc;
        }
        out
    }

    #[test]
    fn matches_direct_sum_with_termination_and_truncation() {
        let mut steps = [GaeStep::default(); 16];
        for (i, s) in steps.iter_mut().enumerate() {
            s.reward = (i as f32 * 0.7).sin();
            s.value = (i as f32 * 0.3).cos();
            s.next_value = ((i + 1) as f32 * 0.3).cos();
        }
        steps[4].terminated = true;
        steps[4].done = true;
        steps[10].done = true; // truncated: bootstraps from next_value
        steps[10].next_value = 5.0;
        let (mut adv, mut ret) = ([0.0f32; 16], [0.0f32; 16]);
        gae(&steps, 0.99, 0.95, &mut adv, &mut ret).unwrap();
        let want = reference(&steps, 0.99, 0.95);
        for i in 0..16 {
            assert!(
                (adv[i] as f64 - want[i]).abs() < 1e-5,
                "{i}: {} vs {}",
                adv[i],
                want[i]
            );
            assert!((ret[i] - adv[i] - steps[i].value).abs() < 1e-6);
        }
        // The truncated step's advantage uses the bootstrap value.
        assert!((adv[10] - (steps[10].reward + 0.99 * 5.0 - steps[10].value)).abs() < 1e-6);
        // The terminated step's does not.
        assert!((adv[4] - (steps[4].reward - steps[4].value)).abs() < 1e-6);
    }

    #[test]
    fn lambda_one_gives_discounted_return_minus_value() {
        let steps: [GaeStep; 3] = core::array::from_fn(|i| GaeStep {
            reward: 1.0,
            value: 0.5,
            next_value: 0.5,
            terminated: i == 2,
            done: i == 2,
        });
        let (mut adv, mut ret) = ([0.0; 3], [0.0; 3]);
        gae(&steps, 0.9, 1.0, &mut adv, &mut ret).unwrap();
        assert!((ret[0] - (1.0 + 0.9 + 0.81)).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_input_without_writing() {
        let mut steps = [GaeStep::default(); 2];
        let (mut adv, mut ret) = ([7.0; 2], [7.0; 2]);
        assert_eq!(
            gae(&steps, 0.9, 0.9, &mut adv[..1], &mut ret),
            Err(GaeError::LengthMismatch)
        );
        steps[1].reward = f32::NAN;
        assert_eq!(
            gae(&steps, 0.9, 0.9, &mut adv, &mut ret),
            Err(GaeError::NonFinite)
        );
        assert_eq!(adv, [7.0; 2]);
    }
}
