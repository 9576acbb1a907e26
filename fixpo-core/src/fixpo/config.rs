//! The configuration of one update: the rule ([`Algo`]), when the fixup
//! phase runs ([`FixupSchedule`]), every hyperparameter ([`Config`]), and why
//! an update is refused ([`UpdateError`]).

use crate::optim::AdamConfig;

/// Which policy-optimisation rule the update applies.
///
/// [`Algo::name`] is the name on the command line; with the `serde`
/// feature it is also the serialised name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Algo {
    /// FixPO: primary phase + fixup phase; the trust region is guaranteed.
    Fixpo,
    /// FixPO's primary phase alone (the paper's ablation).
    #[cfg_attr(feature = "serde", serde(rename = "fixpo-nofixup"))]
    FixpoNoFixup,
    /// PPO with the clipped surrogate objective.
    PpoClip,
    /// PPO with an adaptive KL penalty (β doubled/halved around a target).
    KlPenalty,
}

impl Algo {
    /// Every variant, for parsing and listing.
    pub const ALL: [Self; 4] = [
        Self::Fixpo,
        Self::FixpoNoFixup,
        Self::PpoClip,
        Self::KlPenalty,
    ];

    /// The name used on the command line and in files.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Fixpo => "fixpo",
            Self::FixpoNoFixup => "fixpo-nofixup",
            Self::PpoClip => "ppo-clip",
            Self::KlPenalty => "kl-penalty",
        }
    }

    /// Parses [`Algo::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// When the fixup phase runs.
///
/// [`FixupSchedule::name`] is the name on the command line; with the
/// `serde` feature it is also the serialised name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum FixupSchedule {
    /// After every primary epoch (the reference default).
    EveryEpoch,
    /// Once, after the last primary epoch.
    End,
}

impl FixupSchedule {
    /// Every variant, for parsing and listing.
    pub const ALL: [Self; 2] = [Self::EveryEpoch, Self::End];

    /// The name used on the command line and in files.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EveryEpoch => "every-epoch",
            Self::End => "end",
        }
    }

    /// Parses [`FixupSchedule::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// Hyperparameters of one update. [`Config::REFERENCE`] holds the paper's
/// MuJoCo settings.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Config {
    /// The update rule.
    pub algo: Algo,
    /// Primary epochs E over the batch.
    pub epochs: u32,
    /// Primary minibatch size B.
    pub minibatch: usize,
    /// Fixup minibatch size B_fix.
    pub fixup_minibatch: usize,
    /// Adam learning rate for this update (the caller applies any schedule).
    pub lr: f32,
    /// Adam moments and ε.
    pub adam: AdamConfig,
    /// Global gradient-norm clip (≤ 0 disables).
    pub max_grad_norm: f32,
    /// Trust-region radius ε_KL on D_KL(π_old ‖ π_new) at every state.
    pub eps_kl: f32,
    /// C_β: the primary phase aims at max KL ≈ ε_KL / C_β.
    pub c_beta: f32,
    /// Adam learning rate γ_β of the β controller.
    pub beta_lr: f32,
    /// Upper clamp β_max on β.
    pub beta_max: f32,
    /// Value-loss coefficient c_vf.
    pub vf_coef: f32,
    /// Value clipping range around V_old (≤ 0 disables).
    pub vf_clip: f32,
    /// Entropy bonus coefficient c_ent.
    pub ent_coef: f32,
    /// Normalise advantages per minibatch.
    pub norm_adv: bool,
    /// When the fixup phase runs.
    pub fixup_schedule: FixupSchedule,
    /// Cap on fixup passes over the batch per fixup phase.
    pub max_fixup_passes: u32,
    /// Cap on fixup gradient steps per update.
    pub max_fixup_steps: u32,
    /// Cap on halvings of t when backtracking (then t = 0).
    pub max_backtracks: u32,
    /// PPO-clip ratio range ε_clip.
    pub clip_ratio: f32,
    /// Target mean KL of the adaptive-KL-penalty rule.
    pub kl_target: f32,
}

impl Config {
    /// The reference implementation's MuJoCo settings (lr is the initial
    /// value; callers decay it linearly).
    pub const REFERENCE: Self = Self {
        algo: Algo::Fixpo,
        epochs: 10,
        minibatch: 512,
        fixup_minibatch: 1024,
        lr: 3e-4,
        adam: AdamConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-5,
        },
        max_grad_norm: 0.5,
        eps_kl: 0.5,
        c_beta: 2.0,
        beta_lr: 0.01,
        beta_max: 1e4,
        vf_coef: 0.1,
        vf_clip: 0.2,
        ent_coef: 0.0,
        norm_adv: false,
        fixup_schedule: FixupSchedule::EveryEpoch,
        // Phases that need more passes rarely converge at all (Adam's second
        // moments from the primary phase make fixup steps small); failing
        // fast to the forward-only backtracking is cheaper.
        max_fixup_passes: 16,
        max_fixup_steps: 2048,
        max_backtracks: 24,
        clip_ratio: 0.2,
        kl_target: 0.01,
    };

    /// Checks every field.
    ///
    /// # Errors
    /// [`UpdateError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), UpdateError> {
        let pos = |x: f32| x.is_finite() && x > 0.0;
        let nonneg = |x: f32| x.is_finite() && x >= 0.0;
        let unit = |x: f32| (0.0..1.0).contains(&x);
        // Every field's condition, in declaration order; the first that
        // fails is reported.
        let checks = [
            (self.epochs > 0, "epochs"),
            (self.minibatch > 0, "minibatch"),
            (self.fixup_minibatch > 0, "fixup_minibatch"),
            (nonneg(self.lr), "lr"),
            (
                unit(self.adam.beta1) && unit(self.adam.beta2) && pos(self.adam.eps),
                "adam",
            ),
            (self.max_grad_norm.is_finite(), "max_grad_norm"),
            (pos(self.eps_kl), "eps_kl"),
            (pos(self.c_beta), "c_beta"),
            (nonneg(self.beta_lr), "beta_lr"),
            (pos(self.beta_max), "beta_max"),
            (nonneg(self.vf_coef), "vf_coef"),
            (self.vf_clip.is_finite(), "vf_clip"),
            (nonneg(self.ent_coef), "ent_coef"),
            (pos(self.clip_ratio), "clip_ratio"),
            (pos(self.kl_target), "kl_target"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some(&(_, field)) => Err(UpdateError::InvalidConfig { field }),
            None => Ok(()),
        }
    }

    pub(super) fn fixup_enabled(&self) -> bool {
        self.algo == Algo::Fixpo
    }
}

/// Why an update was refused. In every case the policy, the value function
/// and β are exactly as they were before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UpdateError {
    /// The batch holds no transitions.
    EmptyBatch,
    /// A configuration field is out of range.
    InvalidConfig {
        /// The field's name.
        field: &'static str,
    },
    /// An observation, action, advantage, return or value in the batch is
    /// NaN or infinite (index of the first such transition).
    NonFiniteInput {
        /// Index of the offending transition.
        index: usize,
    },
    /// The policy produced a non-finite output on the batch.
    NonFiniteOutput,
    /// A gradient became NaN or infinite during the update.
    NonFiniteGradient,
    /// The parameters left the finite range after a step.
    Diverged,
}

impl core::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::EmptyBatch => f.write_str("the batch is empty"),
            Self::InvalidConfig { field } => {
                write!(f, "configuration field `{field}` is out of range")
            }
            Self::NonFiniteInput { index } => {
                write!(f, "transition {index} holds a NaN or infinite number")
            }
            Self::NonFiniteOutput => f.write_str("the policy's output is not finite on this batch"),
            Self::NonFiniteGradient => {
                f.write_str("a gradient became NaN or infinite; parameters restored")
            }
            Self::Diverged => f.write_str("the parameters diverged; parameters restored"),
        }
    }
}

impl core::error::Error for UpdateError {}
